// Writes a complete tiny Vchitect-2.0 diffusers folder (configs, seeded random weights in the real key
// layout, CLIP/T5 tokenizer files) for tests and demos; sizes live in the configs, never hard-coded elsewhere.
// Presets: 'shapes' is the model trained on the synthetic shape clips (engine/data/synth.ts): short text
// sequences (16 CLIP + 16 T5 tokens) whose tokenizers know every synth caption word.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AutoencoderKLConfig, ClipTextConfig, FlowMatchSchedulerConfig, T5EncoderConfig, VchitectTransformerConfig,
} from './configs.js';
import { clipKeys, t5Keys, transformerDim, transformerKeys, vaeKeys, type KeySpec } from './keys.js';
import { writeSafetensors, numel, type WriteTensor } from './safetensors.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import { SeededRandom, hashString } from './tiny-random.js';
import { makeClipTokenizerFiles, makeT5TokenizerFiles, TINY_CORPUS } from './tiny-tokenizers.js';
import { allCombinations, caption } from '../data/synth.js';
import { CLIP_DEFAULT_LENGTH, T5_DEFAULT_LENGTH, type TextLengths } from '../text/text-lengths.js';

export interface TinyCheckpointOptions {
  /** Base seed (default 1234); each tensor gets its own stream from seed and name. */
  seed?: number;
  /** Storage dtype of every float weight (default F32). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Write the transformer as this many shards plus an index.json (default 1 = single file). */
  transformerShards?: number;
  /** Transformer size overrides (e.g. num_layers, num_attention_heads, attention_head_dim, pos_embed_max_size). */
  transformer?: Partial<Pick<VchitectTransformerConfig, 'num_layers' | 'num_attention_heads' | 'attention_head_dim' | 'pos_embed_max_size' | 'sample_size'>>;
  /** VAE size overrides. */
  vae?: Partial<Pick<AutoencoderKLConfig, 'block_out_channels' | 'layers_per_block' | 'norm_num_groups'>>;
  /**
   * Text sequence lengths (default 77 CLIP + 256 T5, as real checkpoints). CLIP: both text encoders'
   * max_position_embeddings and both CLIP tokenizer configs' model_max_length; T5: tokenizer_3's model_max_length
   * (at most 256, the cap the loader applies).
   */
  textTokens?: { clip: number; t5: number };
  /** Extra lines the tiny BPE merges and T5 word pieces are learned from (after the built-in TINY_CORPUS). */
  extraCorpus?: readonly string[];
  /** Start from a preset (TINY_PRESETS); the other options override its fields. */
  preset?: TinyPreset;
}

export type TinyPreset = 'shapes';

/** Every synthetic caption (engine/data/synth.ts), so the corpus follows the synth vocabulary and template. */
export function synthCaptions(): string[] {
  return allCombinations().map(caption);
}

/**
 * The model trained on the synthetic shape clips: 16 CLIP + 16 T5 = 32 text tokens (every synth caption fits
 * without truncation: the corpus is the synth captions), the default tiny VAE (64x64 pixels -> 8x8 latents,
 * 16 channels), transformer D = 64 (4 heads x 16), 6 layers, patch 2, sample_size and pos_embed_max_size 16
 * (up to 256x256 pixels).
 */
export const SHAPES_PRESET: Readonly<TinyCheckpointOptions> = Object.freeze({
  textTokens: { clip: 16, t5: 16 },
  extraCorpus: synthCaptions(),
  transformer: { num_layers: 6, num_attention_heads: 4, attention_head_dim: 16, sample_size: 16, pos_embed_max_size: 16 },
});

export const TINY_PRESETS: Readonly<Record<TinyPreset, Readonly<TinyCheckpointOptions>>> = Object.freeze({ shapes: SHAPES_PRESET });

/** Options with the preset (if any) applied underneath: explicit fields win, transformer/vae merge per field. */
export function resolveTinyOptions(opts: TinyCheckpointOptions): TinyCheckpointOptions {
  if (opts.preset === undefined) return opts;
  const p = TINY_PRESETS[opts.preset];
  if (!p) throw new Error(`make-tiny: unknown preset ${JSON.stringify(opts.preset)} (known: ${Object.keys(TINY_PRESETS).join(', ')})`);
  return {
    ...p, ...opts,
    transformer: { ...p.transformer, ...opts.transformer },
    vae: { ...p.vae, ...opts.vae },
  };
}

function checkTextTokens(t: { clip: number; t5: number }): void {
  if (!Number.isInteger(t.clip) || t.clip < 2) throw new Error(`make-tiny: textTokens.clip ${t.clip} must be an integer >= 2 (BOS and EOS)`);
  if (!Number.isInteger(t.t5) || t.t5 < 1 || t.t5 > T5_DEFAULT_LENGTH) {
    throw new Error(`make-tiny: textTokens.t5 ${t.t5} must be an integer in 1..${T5_DEFAULT_LENGTH} (the loader caps T5 at ${T5_DEFAULT_LENGTH} tokens)`);
  }
}

export interface TinyCheckpoint {
  dir: string;
  transformer: VchitectTransformerConfig;
  textEncoder: ClipTextConfig;
  textEncoder2: ClipTextConfig;
  textEncoder3: T5EncoderConfig;
  vae: AutoencoderKLConfig;
  scheduler: FlowMatchSchedulerConfig;
  /** Text tokens per prompt the tokenizers produce (what the loader reads: 77 + 256 by default). */
  textLengths: TextLengths;
}

/** Stored 2D sin-cos table [1, M*M, D] (spec section 2, step 2), computed in float64. */
export function sincosPosEmbed(D: number, M: number, sampleSize: number, patch: number): Float32Array {
  const base = sampleSize / patch;
  const q = D / 4;
  const out = new Float32Array(M * M * D);
  for (let r = 0; r < M; r++) {
    for (let c = 0; c < M; c++) {
      const o = (r * M + c) * D;
      const posC = c / (M / base);
      const posR = r / (M / base);
      for (let j = 0; j < q; j++) {
        const w = Math.pow(10000, -j / q);
        out[o + j] = Math.sin(posC * w);
        out[o + q + j] = Math.cos(posC * w);
        out[o + 2 * q + j] = Math.sin(posR * w);
        out[o + 3 * q + j] = Math.cos(posR * w);
      }
    }
  }
  return out;
}

/** Initial values keeping activations O(1): fan-in scaled matrices, norms near 1, small biases. */
function initTensor(sub: string, spec: KeySpec, seed: number, extra: Map<string, Float32Array>): Float32Array | BigInt64Array {
  const n = numel(spec.shape);
  if (spec.integer) return BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  const fixed = extra.get(spec.key);
  if (fixed) return fixed;
  const rng = new SeededRandom((seed ^ hashString(`${sub}/${spec.key}`)) >>> 0);
  const k = spec.key;
  if (k.endsWith('.bias')) return rng.normals(n, 0.02);
  if (spec.shape.length === 1) return rng.normals(n, 0.1, 1); // LayerNorm / GroupNorm / RMSNorm weights
  if (/(token_embedding|position_embedding|shared|embed_tokens)\.weight$/.test(k)) return rng.normals(n, 0.5);
  if (k.endsWith('relative_attention_bias.weight')) return rng.normals(n, 0.5);
  const fanIn = spec.shape.slice(1).reduce((a, b) => a * b, 1);
  const gain = /norm1(_context)?\.linear|norm_out\.linear/.test(k) ? 0.5 : 1;
  return rng.normals(n, gain / Math.sqrt(fanIn));
}

/** Seeded tensors of a key list in the real layout (optional keys left out, as most exports do). */
export function tensorsFor(sub: string, specs: KeySpec[], dtype: DType, seed: number, extra = new Map<string, Float32Array>()): [string, WriteTensor][] {
  return specs
    .filter((s) => !s.optional || s.integer || s.key === 'shared.weight') // T5: store the tied embedding once, as HF does
    .map((s) => [s.key, { dtype: s.integer ? 'I64' : dtype, shape: s.shape, data: initTensor(sub, s, seed, extra) }]);
}

async function writeJson(path: string, obj: unknown): Promise<void> {
  await writeFile(path, `${JSON.stringify(obj, null, 2)}\n`);
}

async function writeSharded(dir: string, base: string, tensors: [string, WriteTensor][], shards: number): Promise<void> {
  const total = tensors.reduce((a, [, t]) => a + numel(t.shape) * DTYPE_SIZE[t.dtype], 0);
  const groups: [string, WriteTensor][][] = Array.from({ length: shards }, () => []);
  let acc = 0;
  for (const entry of tensors) {
    const bytes = numel(entry[1].shape) * DTYPE_SIZE[entry[1].dtype];
    groups[Math.min(shards - 1, Math.floor((acc * shards) / total))].push(entry);
    acc += bytes;
  }
  const weightMap: Record<string, string> = {};
  const pad = (i: number) => String(i).padStart(5, '0');
  for (let i = 0; i < shards; i++) {
    const file = `${base}-${pad(i + 1)}-of-${pad(shards)}.safetensors`;
    for (const [k] of groups[i]) weightMap[k] = file;
    await writeSafetensors(join(dir, file), groups[i], { format: 'pt' });
  }
  await writeJson(join(dir, `${base}.safetensors.index.json`), { metadata: { total_size: total }, weight_map: weightMap });
}

/** Write a complete tiny diffusers checkpoint into `dir` (created if needed). */
export async function makeTinyCheckpoint(dir: string, options: TinyCheckpointOptions = {}): Promise<TinyCheckpoint> {
  const opts = resolveTinyOptions(options);
  const seed = opts.seed ?? 1234;
  const dtype: DType = opts.dtype ?? 'F32';
  if (opts.textTokens) checkTextTokens(opts.textTokens);
  const clipLen = opts.textTokens?.clip;
  const corpus = opts.extraCorpus?.length ? [...TINY_CORPUS, ...opts.extraCorpus] : undefined;
  // the synth corpus has many more distinct pairs than TINY_CORPUS: enough merges for every corpus word to be whole
  const numMerges = corpus ? 400 : undefined;
  const clipLTok = makeClipTokenizerFiles({ padToken: '<|endoftext|>', corpus, maxLength: clipLen, numMerges });
  const clipGTok = makeClipTokenizerFiles({ padToken: '!', corpus, maxLength: clipLen, numMerges });
  const t5Tok = makeT5TokenizerFiles({ corpus, maxLength: opts.textTokens?.t5 });

  const clip = (hidden: number, heads: number, act: string): ClipTextConfig => ({
    hidden_size: hidden, intermediate_size: 2 * hidden, num_hidden_layers: 2, num_attention_heads: heads,
    max_position_embeddings: clipLen ?? 77, vocab_size: clipLTok.vocabSize, projection_dim: hidden, hidden_act: act,
    layer_norm_eps: 1e-5, bos_token_id: clipLTok.bosId, eos_token_id: clipLTok.eosId, pad_token_id: 1,
  });
  const textEncoder = clip(32, 2, 'quick_gelu');
  const textEncoder2 = clip(48, 3, 'gelu');
  const textEncoder3: T5EncoderConfig = {
    d_model: 96, d_kv: 16, d_ff: 128, num_layers: 2, num_heads: 4, relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6, feed_forward_proj: 'gated-gelu',
    vocab_size: Math.ceil(t5Tok.vocabSize / 8) * 8, is_gated: true, dense_act_fn: 'gelu',
  };
  const vae: AutoencoderKLConfig = {
    in_channels: 3, out_channels: 3, latent_channels: 16, block_out_channels: [16, 16, 32, 32], layers_per_block: 1,
    norm_num_groups: 8, scaling_factor: 1.5305, shift_factor: 0.0609, sample_size: 64, use_quant_conv: false,
    use_post_quant_conv: false, mid_block_add_attention: true, act_fn: 'silu', ...opts.vae,
  };
  const heads = opts.transformer?.num_attention_heads ?? 4;
  const headDim = opts.transformer?.attention_head_dim ?? 16;
  const transformer: VchitectTransformerConfig = {
    sample_size: opts.transformer?.sample_size ?? 16,
    patch_size: 2,
    in_channels: vae.latent_channels,
    out_channels: vae.latent_channels,
    num_layers: opts.transformer?.num_layers ?? 3,
    attention_head_dim: headDim,
    num_attention_heads: heads,
    joint_attention_dim: Math.max(textEncoder.hidden_size + textEncoder2.hidden_size, textEncoder3.d_model),
    caption_projection_dim: heads * headDim,
    pooled_projection_dim: textEncoder.projection_dim + textEncoder2.projection_dim,
    pos_embed_max_size: opts.transformer?.pos_embed_max_size ?? 16,
  };
  const scheduler: FlowMatchSchedulerConfig = { num_train_timesteps: 1000, shift: 3.0 };

  const sub = async (name: string) => {
    await mkdir(join(dir, name), { recursive: true });
    return join(dir, name);
  };
  await mkdir(dir, { recursive: true });
  await writeJson(join(dir, 'model_index.json'), {
    _class_name: 'VchitectXLPipeline',
    _diffusers_version: '0.30.3',
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_3: ['transformers', 'T5EncoderModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    tokenizer_3: ['transformers', 'T5TokenizerFast'],
    transformer: ['models.VchitectXL', 'VchitectXLTransformerModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  });

  // transformer
  const tDir = await sub('transformer');
  await writeJson(join(tDir, 'config.json'), { _class_name: 'VchitectXLTransformerModel', _diffusers_version: '0.30.3', ...transformer });
  const D = transformerDim(transformer);
  const posTable = sincosPosEmbed(D, transformer.pos_embed_max_size, transformer.sample_size, transformer.patch_size);
  const tTensors = tensorsFor('transformer', transformerKeys(transformer), dtype, seed, new Map([['pos_embed.pos_embed', posTable]]));
  const shards = opts.transformerShards ?? 1;
  if (shards > 1) await writeSharded(tDir, 'diffusion_pytorch_model', tTensors, shards);
  else await writeSafetensors(join(tDir, 'diffusion_pytorch_model.safetensors'), tTensors, { format: 'pt' });

  // CLIP-L, CLIP-bigG
  for (const [name, cfg] of [['text_encoder', textEncoder], ['text_encoder_2', textEncoder2]] as const) {
    const d = await sub(name);
    await writeJson(join(d, 'config.json'), {
      architectures: ['CLIPTextModelWithProjection'], model_type: 'clip_text_model', torch_dtype: 'float32',
      attention_dropout: 0.0, dropout: 0.0, initializer_factor: 1.0, initializer_range: 0.02, ...cfg,
    });
    await writeSafetensors(join(d, 'model.safetensors'), tensorsFor(name, clipKeys(cfg), dtype, seed), { format: 'pt' });
  }
  // T5
  {
    const d = await sub('text_encoder_3');
    const { is_gated: _g, dense_act_fn, ...t5cfg } = textEncoder3;
    await writeJson(join(d, 'config.json'), {
      architectures: ['T5EncoderModel'], model_type: 't5', is_encoder_decoder: true, torch_dtype: 'float32',
      dropout_rate: 0.1, initializer_factor: 1.0, num_decoder_layers: textEncoder3.num_layers, tie_word_embeddings: false,
      pad_token_id: t5Tok.padId, eos_token_id: t5Tok.eosId, decoder_start_token_id: 0, dense_act_fn: `${dense_act_fn}_new`, ...t5cfg,
    });
    await writeSafetensors(join(d, 'model.safetensors'), tensorsFor('text_encoder_3', t5Keys(textEncoder3), dtype, seed), { format: 'pt' });
  }
  // VAE
  {
    const d = await sub('vae');
    await writeJson(join(d, 'config.json'), {
      _class_name: 'AutoencoderKL', _diffusers_version: '0.30.3', force_upcast: true,
      down_block_types: vae.block_out_channels.map(() => 'DownEncoderBlock2D'),
      up_block_types: vae.block_out_channels.map(() => 'UpDecoderBlock2D'),
      ...vae,
    });
    await writeSafetensors(join(d, 'diffusion_pytorch_model.safetensors'), tensorsFor('vae', vaeKeys(vae), dtype, seed), { format: 'pt' });
  }
  // scheduler
  await writeJson(join(await sub('scheduler'), 'scheduler_config.json'), {
    _class_name: 'FlowMatchEulerDiscreteScheduler', _diffusers_version: '0.30.3', ...scheduler,
  });
  // tokenizers
  for (const [name, files] of [['tokenizer', clipLTok], ['tokenizer_2', clipGTok]] as const) {
    const d = await sub(name);
    for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'] as const) await writeFile(join(d, f), files[f]);
  }
  {
    const d = await sub('tokenizer_3');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const) await writeFile(join(d, f), t5Tok[f]);
  }
  const textLengths = { clip: clipLen ?? CLIP_DEFAULT_LENGTH, t5: opts.textTokens?.t5 ?? T5_DEFAULT_LENGTH };
  return { dir, transformer, textEncoder, textEncoder2, textEncoder3, vae, scheduler, textLengths };
}
