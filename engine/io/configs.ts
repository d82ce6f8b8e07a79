// Typed config.json interfaces of the Vchitect-2.0 diffusers sub-models and strict parsers
// (missing/ill-typed fields name the file and field; diffusers/transformers defaults where they exist).

export interface VchitectTransformerConfig {
  sample_size: number;
  patch_size: number;
  in_channels: number;
  out_channels: number;
  num_layers: number;
  attention_head_dim: number;
  num_attention_heads: number;
  joint_attention_dim: number;
  caption_projection_dim: number;
  pooled_projection_dim: number;
  pos_embed_max_size: number;
}

export interface ClipTextConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  vocab_size: number;
  projection_dim: number;
  hidden_act: string;
  layer_norm_eps: number;
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
}

/** Hugging Face CLIPVisionConfig (CLIPVisionModelWithProjection; a CLIPModel config's vision_config). */
export interface ClipVisionConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_channels: number;
  image_size: number;
  patch_size: number;
  projection_dim: number;
  hidden_act: string;
  layer_norm_eps: number;
}

/**
 * ViCLIP's video encoder (OpenGVLab InternVideo `viclip_vision.py`: VisionTransformer with a temporal kernel of 1).
 * The .pth carries no config: every field is read off the weight shapes except the head count (ViT-L/14 and B/16
 * both have heads of 64 channels); an optional config.json beside the weights overrides any field.
 */
export interface ViclipVisionConfig {
  /** width (class_embedding). */
  hidden_size: number;
  /** count of transformer.resblocks.{i}. */
  num_hidden_layers: number;
  /** not in the weights: config.json, else hidden_size / 64. */
  num_attention_heads: number;
  /** sqrt(positional_embedding rows - 1) * patch_size. */
  image_size: number;
  /** conv1 kernel. */
  patch_size: number;
  /** temporal_positional_embedding rows: frames per clip (8). */
  num_frames: number;
  /** proj columns (768 for ViT-L/14). */
  projection_dim: number;
}

/** The fields a ViCLIP config.json may set (all optional; unknown fields are ignored). */
export function parseViclipConfig(json: unknown, file = 'config.json'): Partial<ViclipVisionConfig> {
  const o = asObject(json, file);
  const out: Partial<ViclipVisionConfig> = {};
  for (const k of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'image_size', 'patch_size', 'num_frames', 'projection_dim'] as const) {
    if (o[k] === undefined || o[k] === null) continue;
    const v = int(o, k, file);
    if (v < 1) throw new Error(`${file}: field "${k}" must be a positive integer, got ${v}`);
    out[k] = v;
  }
  return out;
}

export interface T5EncoderConfig {
  d_model: number;
  d_kv: number;
  d_ff: number;
  num_layers: number;
  num_heads: number;
  relative_attention_num_buckets: number;
  relative_attention_max_distance: number;
  layer_norm_epsilon: number;
  /** e.g. "gated-gelu" (T5 v1.1 / T5-XXL) or "relu". */
  feed_forward_proj: string;
  vocab_size: number;
  /** Derived: feed_forward_proj starts with "gated-". */
  is_gated: boolean;
  /** Derived activation name: "gelu" (tanh approximation, transformers' gelu_new) or "relu". */
  dense_act_fn: string;
}

export interface AutoencoderKLConfig {
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  scaling_factor: number;
  /** null when the VAE has no shift (SD1/SDXL); SD3 uses 0.0609. */
  shift_factor: number | null;
  sample_size: number;
  use_quant_conv: boolean;
  use_post_quant_conv: boolean;
  mid_block_add_attention: boolean;
  act_fn: string;
}

export interface FlowMatchSchedulerConfig {
  num_train_timesteps: number;
  shift: number;
}

export interface ModelIndex {
  _class_name?: string;
  _diffusers_version?: string;
  /** component name -> [library, class] (null entries for absent components). */
  components: Record<string, [string, string] | null>;
}

type Json = Record<string, unknown>;

function asObject(json: unknown, file: string): Json {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${file}: expected a JSON object`);
  return json as Json;
}

function num(o: Json, key: string, file: string, def?: number): number {
  const v = o[key];
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    throw new Error(`${file}: missing numeric field "${key}"`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${file}: field "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function int(o: Json, key: string, file: string, def?: number): number {
  const v = num(o, key, file, def);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${file}: field "${key}" must be a non-negative integer, got ${v}`);
  return v;
}

function str(o: Json, key: string, file: string, def?: string): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (def !== undefined) return def;
    throw new Error(`${file}: missing string field "${key}"`);
  }
  if (typeof v !== 'string') throw new Error(`${file}: field "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function bool(o: Json, key: string, file: string, def: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new Error(`${file}: field "${key}" must be true/false, got ${JSON.stringify(v)}`);
  return v;
}

export function parseTransformerConfig(json: unknown, file = 'transformer/config.json'): VchitectTransformerConfig {
  const o = asObject(json, file);
  const c: VchitectTransformerConfig = {
    sample_size: int(o, 'sample_size', file, 128),
    patch_size: int(o, 'patch_size', file, 2),
    in_channels: int(o, 'in_channels', file, 16),
    out_channels: int(o, 'out_channels', file, int(o, 'in_channels', file, 16)),
    num_layers: int(o, 'num_layers', file, 18),
    attention_head_dim: int(o, 'attention_head_dim', file, 64),
    num_attention_heads: int(o, 'num_attention_heads', file, 18),
    joint_attention_dim: int(o, 'joint_attention_dim', file, 4096),
    caption_projection_dim: int(o, 'caption_projection_dim', file, 1152),
    pooled_projection_dim: int(o, 'pooled_projection_dim', file, 2048),
    pos_embed_max_size: int(o, 'pos_embed_max_size', file, 96),
  };
  if (c.num_layers < 1) throw new Error(`${file}: num_layers must be >= 1`);
  return c;
}

export function parseClipConfig(json: unknown, file = 'text_encoder/config.json'): ClipTextConfig {
  const o = asObject(json, file);
  const c: ClipTextConfig = {
    hidden_size: int(o, 'hidden_size', file),
    intermediate_size: int(o, 'intermediate_size', file),
    num_hidden_layers: int(o, 'num_hidden_layers', file),
    num_attention_heads: int(o, 'num_attention_heads', file),
    max_position_embeddings: int(o, 'max_position_embeddings', file, 77),
    vocab_size: int(o, 'vocab_size', file, 49408),
    projection_dim: int(o, 'projection_dim', file),
    hidden_act: str(o, 'hidden_act', file, 'quick_gelu'),
    layer_norm_eps: num(o, 'layer_norm_eps', file, 1e-5),
    bos_token_id: int(o, 'bos_token_id', file, 49406),
    eos_token_id: int(o, 'eos_token_id', file, 49407),
    pad_token_id: int(o, 'pad_token_id', file, 1),
  };
  if (c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(`${file}: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}`);
  }
  return c;
}

/**
 * A CLIPVisionModelWithProjection config.json, or a CLIPModel one (its vision_config; projection_dim from the top
 * level when the vision part lacks it). Defaults are transformers' CLIPVisionConfig defaults (ViT-B/32).
 */
export function parseClipVisionConfig(json: unknown, file = 'config.json'): ClipVisionConfig {
  const top = asObject(json, file);
  const o = top.vision_config === undefined ? top : { projection_dim: top.projection_dim, ...asObject(top.vision_config, `${file} (vision_config)`) };
  const c: ClipVisionConfig = {
    hidden_size: int(o, 'hidden_size', file, 768),
    intermediate_size: int(o, 'intermediate_size', file, 3072),
    num_hidden_layers: int(o, 'num_hidden_layers', file, 12),
    num_attention_heads: int(o, 'num_attention_heads', file, 12),
    num_channels: int(o, 'num_channels', file, 3),
    image_size: int(o, 'image_size', file, 224),
    patch_size: int(o, 'patch_size', file, 32),
    projection_dim: int(o, 'projection_dim', file, 512),
    hidden_act: str(o, 'hidden_act', file, 'quick_gelu'),
    layer_norm_eps: num(o, 'layer_norm_eps', file, 1e-5),
  };
  if (c.num_attention_heads < 1 || c.hidden_size % c.num_attention_heads !== 0) {
    throw new Error(`${file}: hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${c.num_attention_heads}`);
  }
  if (c.patch_size < 1 || c.image_size % c.patch_size !== 0) throw new Error(`${file}: image_size ${c.image_size} is not a multiple of patch_size ${c.patch_size}`);
  if (c.num_channels !== 3) throw new Error(`${file}: num_channels ${c.num_channels} is not supported (RGB images: 3)`);
  return c;
}

export function parseT5Config(json: unknown, file = 'text_encoder_3/config.json'): T5EncoderConfig {
  const o = asObject(json, file);
  const ffp = str(o, 'feed_forward_proj', file, 'relu');
  const parts = ffp.split('-');
  const isGated = parts[0] === 'gated';
  if ((isGated && parts.length !== 2) || (!isGated && parts.length !== 1)) {
    throw new Error(`${file}: feed_forward_proj "${ffp}" must be "<act>" or "gated-<act>"`);
  }
  const act = parts[parts.length - 1];
  return {
    d_model: int(o, 'd_model', file),
    d_kv: int(o, 'd_kv', file),
    d_ff: int(o, 'd_ff', file),
    num_layers: int(o, 'num_layers', file),
    num_heads: int(o, 'num_heads', file),
    relative_attention_num_buckets: int(o, 'relative_attention_num_buckets', file, 32),
    relative_attention_max_distance: int(o, 'relative_attention_max_distance', file, 128),
    layer_norm_epsilon: num(o, 'layer_norm_epsilon', file, 1e-6),
    feed_forward_proj: ffp,
    vocab_size: int(o, 'vocab_size', file, 32128),
    is_gated: isGated,
    dense_act_fn: act === 'gelu' ? 'gelu' : act, // transformers maps gated-gelu to gelu_new (tanh)
  };
}

export function parseVaeConfig(json: unknown, file = 'vae/config.json'): AutoencoderKLConfig {
  const o = asObject(json, file);
  const boc = o.block_out_channels ?? [64];
  if (!Array.isArray(boc) || boc.length === 0 || !boc.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`${file}: block_out_channels must be a non-empty array of positive integers, got ${JSON.stringify(boc)}`);
  }
  const shift = o.shift_factor;
  if (shift !== undefined && shift !== null && typeof shift !== 'number') {
    throw new Error(`${file}: shift_factor must be a number or null, got ${JSON.stringify(shift)}`);
  }
  const c: AutoencoderKLConfig = {
    in_channels: int(o, 'in_channels', file, 3),
    out_channels: int(o, 'out_channels', file, 3),
    latent_channels: int(o, 'latent_channels', file, 4),
    block_out_channels: boc as number[],
    layers_per_block: int(o, 'layers_per_block', file, 1),
    norm_num_groups: int(o, 'norm_num_groups', file, 32),
    scaling_factor: num(o, 'scaling_factor', file, 0.18215),
    shift_factor: typeof shift === 'number' ? shift : null,
    sample_size: int(o, 'sample_size', file, 32),
    use_quant_conv: bool(o, 'use_quant_conv', file, true),
    use_post_quant_conv: bool(o, 'use_post_quant_conv', file, true),
    mid_block_add_attention: bool(o, 'mid_block_add_attention', file, true),
    act_fn: str(o, 'act_fn', file, 'silu'),
  };
  for (const ch of c.block_out_channels) {
    if (ch % c.norm_num_groups !== 0) throw new Error(`${file}: block_out_channels entry ${ch} is not divisible by norm_num_groups ${c.norm_num_groups}`);
  }
  for (const k of ['down_block_types', 'up_block_types'] as const) {
    const v = o[k];
    if (Array.isArray(v) && v.length !== c.block_out_channels.length) {
      throw new Error(`${file}: ${k} has ${v.length} entries but block_out_channels has ${c.block_out_channels.length}`);
    }
  }
  return c;
}

export function parseSchedulerConfig(json: unknown, file = 'scheduler/scheduler_config.json'): FlowMatchSchedulerConfig {
  const o = asObject(json, file);
  const cls = o._class_name;
  if (cls !== undefined && cls !== 'FlowMatchEulerDiscreteScheduler') {
    throw new Error(`${file}: _class_name is ${JSON.stringify(cls)}, expected FlowMatchEulerDiscreteScheduler`);
  }
  return { num_train_timesteps: int(o, 'num_train_timesteps', file, 1000), shift: num(o, 'shift', file, 1.0) };
}

export function parseModelIndex(json: unknown, file = 'model_index.json'): ModelIndex {
  const o = asObject(json, file);
  const components: ModelIndex['components'] = {};
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('_')) continue;
    if (v === null || (Array.isArray(v) && v.every((x) => x === null))) components[k] = null;
    else if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string')) components[k] = v as [string, string];
  }
  return {
    _class_name: typeof o._class_name === 'string' ? o._class_name : undefined,
    _diffusers_version: typeof o._diffusers_version === 'string' ? o._diffusers_version : undefined,
    components,
  };
}

/** One EfficientNet block (timm): 'ds' = DepthwiseSeparableConv (stage 0), 'ir' = InvertedResidual (mid = expanded width). */
export interface EfficientNetBlockConfig {
  type: 'ds' | 'ir';
  in: number;
  /** Expanded width ('ir'); equals `in` for 'ds'. */
  mid: number;
  out: number;
  kernel: number;
  stride: number;
  /** Squeeze-excitation width (conv_reduce's outputs). */
  se: number;
}

/**
 * A timm EfficientNet (efficientnet_b3a for LAION's watermark detector), read from the weight shapes (timm keeps no
 * config in the state dict): stem width, blocks per stage, head width and the classifier's linear layers in order.
 */
export interface EfficientNetConfig {
  stem: number;
  stages: EfficientNetBlockConfig[][];
  head: number;
  /** Linear layers (key prefix, in, out), ReLU between consecutive ones (LAION: classifier.0, .3, .5). */
  classifier: { key: string; in: number; out: number }[];
  /** BatchNorm eps (torch's default 1e-5: timm's non-TF EfficientNets). */
  bnEps: number;
}
