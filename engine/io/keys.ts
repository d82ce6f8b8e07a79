// Expected tensor names and shapes of every sub-model: the single source of truth for the real key
// names used by make-tiny, the checkpoint validator and the model loaders.
import type { AutoencoderKLConfig, ClipTextConfig, ClipVisionConfig, EfficientNetConfig, T5EncoderConfig, VchitectTransformerConfig, ViclipVisionConfig } from './configs.js';

export interface KeySpec {
  key: string;
  shape: number[];
  /** Present in some exports only (e.g. tied embeddings, non-persistent buffers). */
  optional?: boolean;
  /** Integer buffers (e.g. CLIP position_ids); everything else is a float weight. */
  integer?: boolean;
}

function linear(out: KeySpec[], name: string, outF: number, inF: number, bias = true): void {
  out.push({ key: `${name}.weight`, shape: [outF, inF] });
  if (bias) out.push({ key: `${name}.bias`, shape: [outF] });
}

function norm(out: KeySpec[], name: string, ch: number, bias = true): void {
  out.push({ key: `${name}.weight`, shape: [ch] });
  if (bias) out.push({ key: `${name}.bias`, shape: [ch] });
}

function conv(out: KeySpec[], name: string, outC: number, inC: number, k: number): void {
  out.push({ key: `${name}.weight`, shape: [outC, inC, k, k] });
  out.push({ key: `${name}.bias`, shape: [outC] });
}

/** Transformer attention projections present in every block (to_add_out only when not last). */
export const VCHITECT_ATTN_PROJ = [
  'to_q', 'to_k', 'to_v', 'to_q_cross', 'to_q_temp', 'to_k_temp', 'to_v_temp',
  'add_q_proj', 'add_k_proj', 'add_v_proj', 'to_out.0', 'to_out_temporal', 'to_add_out_temporal', 'to_out_context',
] as const;

/** Model width D = heads * head_dim. */
export function transformerDim(cfg: VchitectTransformerConfig): number {
  return cfg.num_attention_heads * cfg.attention_head_dim;
}

/** Vchitect-2.0 transformer keys (spec section 2 "Weight names"). */
export function transformerKeys(cfg: VchitectTransformerConfig): KeySpec[] {
  const D = transformerDim(cfg);
  const p = cfg.patch_size;
  const M = cfg.pos_embed_max_size;
  const k: KeySpec[] = [];
  k.push({ key: 'pos_embed.proj.weight', shape: [D, cfg.in_channels, p, p] });
  k.push({ key: 'pos_embed.proj.bias', shape: [D] });
  k.push({ key: 'pos_embed.pos_embed', shape: [1, M * M, D] });
  linear(k, 'time_text_embed.timestep_embedder.linear_1', D, 256);
  linear(k, 'time_text_embed.timestep_embedder.linear_2', D, D);
  linear(k, 'time_text_embed.text_embedder.linear_1', D, cfg.pooled_projection_dim);
  linear(k, 'time_text_embed.text_embedder.linear_2', D, D);
  linear(k, 'context_embedder', D, cfg.joint_attention_dim);
  for (let i = 0; i < cfg.num_layers; i++) {
    const last = i === cfg.num_layers - 1;
    const b = `transformer_blocks.${i}`;
    linear(k, `${b}.norm1.linear`, 6 * D, D);
    linear(k, `${b}.norm1_context.linear`, (last ? 2 : 6) * D, D);
    for (const proj of VCHITECT_ATTN_PROJ) linear(k, `${b}.attn.${proj}`, D, D);
    if (!last) linear(k, `${b}.attn.to_add_out`, D, D);
    linear(k, `${b}.ff.net.0.proj`, 4 * D, D);
    linear(k, `${b}.ff.net.2`, D, 4 * D);
    if (!last) {
      linear(k, `${b}.ff_context.net.0.proj`, 4 * D, D);
      linear(k, `${b}.ff_context.net.2`, D, 4 * D);
    }
  }
  linear(k, 'norm_out.linear', 2 * D, D);
  linear(k, 'proj_out', p * p * cfg.out_channels, D);
  return k;
}

/** Hugging Face CLIPTextModelWithProjection keys. */
export function clipKeys(cfg: ClipTextConfig): KeySpec[] {
  const H = cfg.hidden_size;
  const k: KeySpec[] = [];
  k.push({ key: 'text_model.embeddings.token_embedding.weight', shape: [cfg.vocab_size, H] });
  k.push({ key: 'text_model.embeddings.position_embedding.weight', shape: [cfg.max_position_embeddings, H] });
  k.push({ key: 'text_model.embeddings.position_ids', shape: [1, cfg.max_position_embeddings], optional: true, integer: true });
  clipEncoderKeys(k, 'text_model', cfg.num_hidden_layers, H, cfg.intermediate_size);
  norm(k, 'text_model.final_layer_norm', H);
  linear(k, 'text_projection', cfg.projection_dim, H, false);
  return k;
}

/** The CLIP encoder's layers (text and vision alike): attention projections, two layer norms, the MLP. */
function clipEncoderKeys(k: KeySpec[], model: string, layers: number, H: number, inner: number): void {
  for (let i = 0; i < layers; i++) {
    const l = `${model}.encoder.layers.${i}`;
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(k, `${l}.self_attn.${p}`, H, H);
    norm(k, `${l}.layer_norm1`, H);
    linear(k, `${l}.mlp.fc1`, inner, H);
    linear(k, `${l}.mlp.fc2`, H, inner);
    norm(k, `${l}.layer_norm2`, H);
  }
}

/** Hugging Face CLIPVisionModelWithProjection keys (the patch conv has no bias; "pre_layrnorm" is HF's spelling). */
export function clipVisionKeys(cfg: ClipVisionConfig): KeySpec[] {
  const H = cfg.hidden_size;
  const P = cfg.patch_size;
  const tokens = (cfg.image_size / P) ** 2 + 1;
  const k: KeySpec[] = [];
  k.push({ key: 'vision_model.embeddings.class_embedding', shape: [H] });
  k.push({ key: 'vision_model.embeddings.patch_embedding.weight', shape: [H, cfg.num_channels, P, P] });
  k.push({ key: 'vision_model.embeddings.position_embedding.weight', shape: [tokens, H] });
  k.push({ key: 'vision_model.embeddings.position_ids', shape: [1, tokens], optional: true, integer: true });
  norm(k, 'vision_model.pre_layrnorm', H);
  clipEncoderKeys(k, 'vision_model', cfg.num_hidden_layers, H, cfg.intermediate_size);
  norm(k, 'vision_model.post_layernorm', H);
  linear(k, 'visual_projection', cfg.projection_dim, H, false);
  return k;
}

/** The prefix of ViCLIP's video encoder in its checkpoint (`torch.load(pth)['model']`: vision_encoder.*, text_encoder.*, temp). */
export const VICLIP_VISION_PREFIX = 'vision_encoder.';

/**
 * ViCLIP's video encoder keys as its checkpoint names them (OpenAI-CLIP style: conv1 is a Conv3d with a temporal
 * kernel of 1, nn.MultiheadAttention's packed in_proj, mlp.c_fc/c_proj with 4x width, proj [width, out] applied as x @ proj).
 */
export function viclipVisionKeys(cfg: ViclipVisionConfig): KeySpec[] {
  const W = cfg.hidden_size;
  const P = cfg.patch_size;
  const v = VICLIP_VISION_PREFIX;
  const k: KeySpec[] = [];
  k.push({ key: `${v}conv1.weight`, shape: [W, 3, 1, P, P] });
  k.push({ key: `${v}class_embedding`, shape: [W] });
  k.push({ key: `${v}positional_embedding`, shape: [(cfg.image_size / P) ** 2 + 1, W] });
  k.push({ key: `${v}temporal_positional_embedding`, shape: [1, cfg.num_frames, W] });
  norm(k, `${v}ln_pre`, W);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const b = `${v}transformer.resblocks.${i}`;
    k.push({ key: `${b}.attn.in_proj_weight`, shape: [3 * W, W] });
    k.push({ key: `${b}.attn.in_proj_bias`, shape: [3 * W] });
    linear(k, `${b}.attn.out_proj`, W, W);
    norm(k, `${b}.ln_1`, W);
    linear(k, `${b}.mlp.c_fc`, 4 * W, W);
    linear(k, `${b}.mlp.c_proj`, W, 4 * W);
    norm(k, `${b}.ln_2`, W);
  }
  norm(k, `${v}ln_post`, W);
  k.push({ key: `${v}proj`, shape: [W, cfg.projection_dim] });
  return k;
}

/** LAION's improved-aesthetic-predictor MLP (Linear, Dropout, ... : layers 0, 2, 4, 6, 7) on a dim-d embedding. */
export function aestheticHeadKeys(dim: number): KeySpec[] {
  const k: KeySpec[] = [];
  const sizes = [dim, 1024, 128, 64, 16, 1];
  [0, 2, 4, 6, 7].forEach((id, i) => linear(k, `layers.${id}`, sizes[i + 1]!, sizes[i]!));
  return k;
}

/** Hugging Face T5EncoderModel keys (T5 v1.1: no biases, RMS-style layer norms with weight only). */
export function t5Keys(cfg: T5EncoderConfig): KeySpec[] {
  const d = cfg.d_model;
  const inner = cfg.num_heads * cfg.d_kv;
  const k: KeySpec[] = [];
  // Tied embedding: exports keep shared.weight, encoder.embed_tokens.weight or both (at least one is
  // required, checked by validateT5; read it with t5EmbeddingKey()).
  k.push({ key: 'shared.weight', shape: [cfg.vocab_size, d], optional: true });
  k.push({ key: 'encoder.embed_tokens.weight', shape: [cfg.vocab_size, d], optional: true });
  for (let i = 0; i < cfg.num_layers; i++) {
    const b = `encoder.block.${i}.layer`;
    for (const p of ['q', 'k', 'v']) linear(k, `${b}.0.SelfAttention.${p}`, inner, d, false);
    linear(k, `${b}.0.SelfAttention.o`, d, inner, false);
    if (i === 0) {
      k.push({ key: `${b}.0.SelfAttention.relative_attention_bias.weight`, shape: [cfg.relative_attention_num_buckets, cfg.num_heads] });
    }
    norm(k, `${b}.0.layer_norm`, d, false);
    if (cfg.is_gated) {
      linear(k, `${b}.1.DenseReluDense.wi_0`, cfg.d_ff, d, false);
      linear(k, `${b}.1.DenseReluDense.wi_1`, cfg.d_ff, d, false);
    } else {
      linear(k, `${b}.1.DenseReluDense.wi`, cfg.d_ff, d, false);
    }
    linear(k, `${b}.1.DenseReluDense.wo`, d, cfg.d_ff, false);
    norm(k, `${b}.1.layer_norm`, d, false);
  }
  norm(k, 'encoder.final_layer_norm', d, false);
  return k;
}

function resnet(k: KeySpec[], name: string, inC: number, outC: number): void {
  norm(k, `${name}.norm1`, inC);
  conv(k, `${name}.conv1`, outC, inC, 3);
  norm(k, `${name}.norm2`, outC);
  conv(k, `${name}.conv2`, outC, outC, 3);
  if (inC !== outC) conv(k, `${name}.conv_shortcut`, outC, inC, 1);
}

function midBlock(k: KeySpec[], name: string, ch: number, attention: boolean): void {
  resnet(k, `${name}.resnets.0`, ch, ch);
  if (attention) {
    norm(k, `${name}.attentions.0.group_norm`, ch);
    for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(k, `${name}.attentions.0.${p}`, ch, ch);
  }
  resnet(k, `${name}.resnets.1`, ch, ch);
}

/** Keys of the VAE encoder half (prefix `encoder.`) plus quant_conv when configured. */
export function vaeEncoderKeys(cfg: AutoencoderKLConfig): KeySpec[] {
  const boc = cfg.block_out_channels;
  const top = boc[boc.length - 1];
  const k: KeySpec[] = [];
  conv(k, 'encoder.conv_in', boc[0], cfg.in_channels, 3);
  let prev = boc[0];
  boc.forEach((out, i) => {
    for (let j = 0; j < cfg.layers_per_block; j++) resnet(k, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < boc.length - 1) conv(k, `encoder.down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  midBlock(k, 'encoder.mid_block', top, cfg.mid_block_add_attention);
  norm(k, 'encoder.conv_norm_out', top);
  conv(k, 'encoder.conv_out', 2 * cfg.latent_channels, top, 3);
  if (cfg.use_quant_conv) conv(k, 'quant_conv', 2 * cfg.latent_channels, 2 * cfg.latent_channels, 1);
  return k;
}

/** Keys of the VAE decoder half (prefix `decoder.`) plus post_quant_conv when configured. */
export function vaeDecoderKeys(cfg: AutoencoderKLConfig): KeySpec[] {
  const rev = [...cfg.block_out_channels].reverse();
  const k: KeySpec[] = [];
  if (cfg.use_post_quant_conv) conv(k, 'post_quant_conv', cfg.latent_channels, cfg.latent_channels, 1);
  conv(k, 'decoder.conv_in', rev[0], cfg.latent_channels, 3);
  midBlock(k, 'decoder.mid_block', rev[0], cfg.mid_block_add_attention);
  let prev = rev[0];
  rev.forEach((out, i) => {
    for (let j = 0; j < cfg.layers_per_block + 1; j++) resnet(k, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < rev.length - 1) conv(k, `decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  norm(k, 'decoder.conv_norm_out', rev[rev.length - 1]);
  conv(k, 'decoder.conv_out', cfg.out_channels, rev[rev.length - 1], 3);
  return k;
}

/** Diffusers AutoencoderKL keys (encoder + decoder). */
export function vaeKeys(cfg: AutoencoderKLConfig): KeySpec[] {
  return [...vaeEncoderKeys(cfg), ...vaeDecoderKeys(cfg)];
}

/** The stored name of the (tied) T5 token embedding, or null when neither name is present. */
export function t5EmbeddingKey(weights: { has(key: string): boolean }): 'shared.weight' | 'encoder.embed_tokens.weight' | null {
  if (weights.has('shared.weight')) return 'shared.weight';
  if (weights.has('encoder.embed_tokens.weight')) return 'encoder.embed_tokens.weight';
  return null;
}

/** A timm BatchNorm2d: affine weight and bias, running statistics, and the (optional, int64) batch counter. */
function batchNorm(k: KeySpec[], name: string, ch: number): void {
  for (const p of ['weight', 'bias', 'running_mean', 'running_var']) k.push({ key: `${name}.${p}`, shape: [ch] });
  k.push({ key: `${name}.num_batches_tracked`, shape: [], optional: true, integer: true });
}

/** timm SqueezeExcite on `ch` channels reduced to `rd`: two biased 1x1 convs. */
function squeezeExcite(k: KeySpec[], name: string, ch: number, rd: number): void {
  k.push({ key: `${name}.conv_reduce.weight`, shape: [rd, ch, 1, 1] }, { key: `${name}.conv_reduce.bias`, shape: [rd] });
  k.push({ key: `${name}.conv_expand.weight`, shape: [ch, rd, 1, 1] }, { key: `${name}.conv_expand.bias`, shape: [ch] });
}

/**
 * timm EfficientNet state-dict keys (efficientnet_b3a: conv_stem, bn1, blocks.S.J.*, conv_head, bn2, classifier;
 * convs have no bias, BatchNorms follow them). Stage-0 blocks are DepthwiseSeparableConv (conv_dw, bn1, se, conv_pw,
 * bn2), the rest InvertedResidual (conv_pw, bn1, conv_dw, bn2, se, conv_pwl, bn3).
 */
export function efficientNetKeys(cfg: EfficientNetConfig): KeySpec[] {
  const k: KeySpec[] = [];
  k.push({ key: 'conv_stem.weight', shape: [cfg.stem, 3, 3, 3] });
  batchNorm(k, 'bn1', cfg.stem);
  cfg.stages.forEach((stage, s) => stage.forEach((b, j) => {
    const p = `blocks.${s}.${j}`;
    if (b.type === 'ds') {
      k.push({ key: `${p}.conv_dw.weight`, shape: [b.in, 1, b.kernel, b.kernel] });
      batchNorm(k, `${p}.bn1`, b.in);
      squeezeExcite(k, `${p}.se`, b.in, b.se);
      k.push({ key: `${p}.conv_pw.weight`, shape: [b.out, b.in, 1, 1] });
      batchNorm(k, `${p}.bn2`, b.out);
    } else {
      k.push({ key: `${p}.conv_pw.weight`, shape: [b.mid, b.in, 1, 1] });
      batchNorm(k, `${p}.bn1`, b.mid);
      k.push({ key: `${p}.conv_dw.weight`, shape: [b.mid, 1, b.kernel, b.kernel] });
      batchNorm(k, `${p}.bn2`, b.mid);
      squeezeExcite(k, `${p}.se`, b.mid, b.se);
      k.push({ key: `${p}.conv_pwl.weight`, shape: [b.out, b.mid, 1, 1] });
      batchNorm(k, `${p}.bn3`, b.out);
    }
  }));
  const last = cfg.stages[cfg.stages.length - 1]!;
  k.push({ key: 'conv_head.weight', shape: [cfg.head, last[last.length - 1]!.out, 1, 1] });
  batchNorm(k, 'bn2', cfg.head);
  for (const l of cfg.classifier) linear(k, l.key, l.out, l.in);
  return k;
}
