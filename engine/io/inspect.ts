// CLI glue for `inspect`: a structured summary of a checkpoint (configs, parameter counts, dtypes,
// bytes, validation result), its text rendering, and a rough memory estimate for a generation.
import type { FileStore } from './file-store.js';
import { openCheckpoint, validateCheckpoint, CheckpointValidationError, type Checkpoint, type SubModel } from './checkpoint.js';
import type { FlowMatchSchedulerConfig } from './configs.js';
import { ShardedWeights, type WeightStore } from './sharded.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import { numel } from './safetensors-reader.js';
import { transformerDim } from './keys.js';
import { DEFAULT_TEXT_LENGTHS, textTokenCount } from '../text/text-lengths.js';

export interface SubModelSummary {
  name: string;
  /** Class from model_index.json, e.g. "CLIPTextModelWithProjection". */
  className?: string;
  /** Weights file or index (relative path). */
  weightsFile: string;
  shards: number;
  config: object;
  tensors: number;
  parameters: number;
  bytes: number;
  /** Parameter count per stored dtype. */
  dtypes: Partial<Record<DType, number>>;
}

export interface CheckpointInspection {
  root: string;
  pipelineClass?: string;
  diffusersVersion?: string;
  subModels: SubModelSummary[];
  scheduler: FlowMatchSchedulerConfig;
  tokenizers: string[];
  /** Text tokens per prompt (per frame in the transformer): CLIP + T5 lengths from the tokenizer configs. */
  textTokens: { clip: number; t5: number; total: number };
  totalParameters: number;
  totalBytes: number;
  validation: { ok: boolean; problems: string[] };
}

function summarizeWeights(w: WeightStore): Pick<SubModelSummary, 'tensors' | 'parameters' | 'bytes' | 'dtypes' | 'shards'> {
  let parameters = 0;
  let bytes = 0;
  const dtypes: Partial<Record<DType, number>> = {};
  const keys = w.keys();
  for (const k of keys) {
    const info = w.info(k);
    const n = numel(info.shape);
    parameters += n;
    bytes += n * DTYPE_SIZE[info.dtype];
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + n;
  }
  return { tensors: keys.length, parameters, bytes, dtypes, shards: w instanceof ShardedWeights ? w.shardFiles.length : 1 };
}

function subModels(ckpt: Checkpoint): SubModel<object>[] {
  const all: (SubModel<object> | undefined)[] = [ckpt.transformer, ckpt.textEncoder, ckpt.textEncoder2, ckpt.textEncoder3, ckpt.vae];
  return all.filter((s): s is SubModel<object> => s !== undefined);
}

/** Summarize a checkpoint (opens it when given a path or store; closes only what it opened). */
export async function inspectCheckpoint(src: string | FileStore | Checkpoint): Promise<CheckpointInspection> {
  const ckpt = typeof src === 'object' && 'transformer' in src ? src : await openCheckpoint(src);
  try {
    let problems: string[] = [];
    try {
      validateCheckpoint(ckpt);
    } catch (e) {
      problems = e instanceof CheckpointValidationError ? e.problems : [(e as Error).message];
    }
    const subs = subModels(ckpt).map((s): SubModelSummary => ({
      name: s.name,
      className: ckpt.modelIndex.components[s.name]?.[1],
      weightsFile: s.weights.name,
      config: s.config,
      ...summarizeWeights(s.weights),
    }));
    return {
      root: ckpt.root,
      pipelineClass: ckpt.modelIndex._class_name,
      diffusersVersion: ckpt.modelIndex._diffusers_version,
      subModels: subs,
      scheduler: ckpt.scheduler,
      tokenizers: Object.values(ckpt.tokenizerDirs).filter((t): t is string => !!t),
      textTokens: { ...(ckpt.textLengths ?? DEFAULT_TEXT_LENGTHS), total: textTokenCount(ckpt.textLengths) },
      totalParameters: subs.reduce((a, s) => a + s.parameters, 0),
      totalBytes: subs.reduce((a, s) => a + s.bytes, 0),
      validation: { ok: problems.length === 0, problems },
    };
  } finally {
    if (ckpt !== src) await ckpt.close();
  }
}

export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(2)} ${u[i]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

const CONFIG_FIELDS: Record<string, string[]> = {
  transformer: ['num_layers', 'num_attention_heads', 'attention_head_dim', 'patch_size', 'in_channels', 'joint_attention_dim', 'pooled_projection_dim', 'pos_embed_max_size', 'sample_size'],
  text_encoder: ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'projection_dim', 'vocab_size', 'hidden_act'],
  text_encoder_3: ['d_model', 'num_layers', 'num_heads', 'd_kv', 'd_ff', 'feed_forward_proj', 'vocab_size'],
  vae: ['latent_channels', 'block_out_channels', 'layers_per_block', 'norm_num_groups', 'scaling_factor', 'shift_factor'],
};
CONFIG_FIELDS.text_encoder_2 = CONFIG_FIELDS.text_encoder;

/** Human-readable report of an inspection. */
export function formatInspect(i: CheckpointInspection): string {
  const lines: string[] = [];
  lines.push(`checkpoint ${i.root}${i.pipelineClass ? ` (${i.pipelineClass}, diffusers ${i.diffusersVersion ?? '?'})` : ''}`);
  for (const s of i.subModels) {
    const dt = Object.entries(s.dtypes).map(([d, n]) => `${d} ${formatCount(n ?? 0)}`).join(', ');
    lines.push(`  ${s.name.padEnd(15)} ${(s.className ?? '').padEnd(28)} ${formatCount(s.parameters).padStart(9)} params  ${formatBytes(s.bytes).padStart(11)}  ${s.tensors} tensors  [${dt}]${s.shards > 1 ? `  ${s.shards} shards` : ''}`);
    const cfg = s.config as Record<string, unknown>;
    const fields = (CONFIG_FIELDS[s.name] ?? []).map((f) => `${f}=${JSON.stringify(cfg[f])}`);
    if (s.name === 'transformer') fields.unshift(`D=${transformerDim(s.config as never)}`);
    lines.push(`  ${''.padEnd(15)} ${fields.join(' ')}`);
  }
  lines.push(`  scheduler       FlowMatchEulerDiscreteScheduler num_train_timesteps=${i.scheduler.num_train_timesteps} shift=${i.scheduler.shift}`);
  lines.push(`  tokenizers      ${i.tokenizers.join(', ') || '(none)'}`);
  lines.push(`  text tokens     ${i.textTokens.total} per prompt (${i.textTokens.clip} CLIP + ${i.textTokens.t5} T5)`);
  lines.push(`  total           ${formatCount(i.totalParameters)} params, ${formatBytes(i.totalBytes)} on disk`);
  lines.push(i.validation.ok ? '  validation      OK' : `  validation      FAILED:\n    ${i.validation.problems.join('\n    ')}`);
  return lines.join('\n');
}

export interface MemoryEstimateOptions {
  frames: number;
  width: number;
  height: number;
  /** Compute/storage dtype of weights and activations on the GPU (T5 activations stay f32). */
  dtype: 'F32' | 'F16' | 'BF16';
  /** Classifier-free guidance runs cond + uncond in one batch (default true). */
  cfgBatch?: boolean;
  /** Text tokens per frame (default: the checkpoint's CLIP + T5 lengths, 77 + 256 = 333 in real checkpoints). */
  textTokens?: number;
}

export interface MemoryEstimate {
  /** Always true: a rough estimate, not a measurement. */
  estimate: true;
  weights: Record<string, number>;
  /** Largest live activation set per phase. */
  activations: { textEncoders: number; transformer: number; vae: number };
  /** All weights resident + the largest phase's activations. */
  peakAllResident: number;
  /** Text encoders freed before denoising; VAE loaded after: max over phases of weights + activations. */
  peakSequential: number;
  notes: string[];
}

/**
 * Rough GPU memory estimate for one generation: weights at `dtype` plus the main activations of each
 * phase (text encoders, one transformer block at a time, VAE decode of one frame). An estimate only:
 * allocator overhead, kernel scratch and framework buffers are not counted.
 */
export function estimateMemory(ckpt: Checkpoint, opts: MemoryEstimateOptions): MemoryEstimate {
  const el = DTYPE_SIZE[opts.dtype];
  const weights: Record<string, number> = {};
  for (const s of subModels(ckpt)) weights[s.name] = summarizeWeights(s.weights).parameters * el;

  const t = ckpt.transformer.config;
  const D = transformerDim(t);
  const H = t.num_attention_heads;
  const F = opts.frames;
  const B = opts.cfgBatch === false ? 1 : 2;
  const lengths = ckpt.textLengths ?? DEFAULT_TEXT_LENGTHS;
  const T = opts.textTokens ?? textTokenCount(lengths);
  const hl = Math.floor(opts.height / 8);
  const wl = Math.floor(opts.width / 8);
  const L = Math.floor(hl / t.patch_size) * Math.floor(wl / t.patch_size);
  const S = L + T;
  // residual streams X, C + modulated inputs + 11 projections (8 visual, 3 text) + 3 attention outputs + FF hidden (4D)
  const perFrameTokens = 2 * S + S + (8 * L + 3 * T) + 3 * S + 4 * S;
  const scores = H * S * S; // one frame's spatial attention scores, if materialized
  const transformer = B * (F * perFrameTokens * D + scores) * el + B * F * t.in_channels * hl * wl * 4 * 3; // + f32 latents/velocity/noise

  let text = 0;
  const n = lengths.clip;
  const clipAct = (hidden: number, inter: number, heads: number) => (n * (4 * hidden + inter) + heads * n * n) * el;
  if (ckpt.textEncoder) text = Math.max(text, clipAct(ckpt.textEncoder.config.hidden_size, ckpt.textEncoder.config.intermediate_size, ckpt.textEncoder.config.num_attention_heads));
  if (ckpt.textEncoder2) text = Math.max(text, clipAct(ckpt.textEncoder2.config.hidden_size, ckpt.textEncoder2.config.intermediate_size, ckpt.textEncoder2.config.num_attention_heads));
  if (ckpt.textEncoder3) {
    const c = ckpt.textEncoder3.config;
    const m = lengths.t5;
    text = Math.max(text, (m * (3 * c.d_model + 4 * c.num_heads * c.d_kv + 2 * c.d_ff) + c.num_heads * m * m) * 4);
  }
  text += B * (T * t.joint_attention_dim + t.pooled_projection_dim) * 4;

  const v = ckpt.vae.config;
  const c0 = v.block_out_channels[0];
  const top = v.block_out_channels[v.block_out_channels.length - 1];
  // one frame: ~3 full-resolution feature maps of the widest full-res stage + mid-block attention scores
  const vae = (3 * c0 * opts.height * opts.width + (hl * wl) ** 2 + 3 * top * hl * wl) * el + F * 3 * opts.height * opts.width;

  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  const textW = (weights.text_encoder ?? 0) + (weights.text_encoder_2 ?? 0) + (weights.text_encoder_3 ?? 0);
  const peakSequential = Math.max(textW + text, weights.transformer + transformer, (weights.vae ?? 0) + vae);
  return {
    estimate: true,
    weights,
    activations: { textEncoders: text, transformer, vae },
    peakAllResident: total + Math.max(text, transformer, vae),
    peakSequential,
    notes: [
      'estimate only: allocator overhead, kernel scratch buffers and staging copies are not counted',
      `transformer: ${F} frames x ${S} tokens (L=${L}, T=${T}), D=${D}, batch ${B}${B === 2 ? ' (CFG)' : ''}, one block live at a time`,
      `spatial attention scores counted for one frame (${H} heads x ${S}^2); flash-style kernels need less`,
      'T5 activations counted in f32 (fp16 overflows in T5)',
    ],
  };
}

/** Text rendering of a memory estimate. */
export function formatMemoryEstimate(m: MemoryEstimate): string {
  const lines = ['memory ESTIMATE (not a measurement):'];
  for (const [k, v] of Object.entries(m.weights)) lines.push(`  weights ${k.padEnd(15)} ${formatBytes(v)}`);
  lines.push(`  activations text encoders   ${formatBytes(m.activations.textEncoders)}`);
  lines.push(`  activations transformer     ${formatBytes(m.activations.transformer)}`);
  lines.push(`  activations vae (per frame) ${formatBytes(m.activations.vae)}`);
  lines.push(`  peak, all weights resident  ${formatBytes(m.peakAllResident)}`);
  lines.push(`  peak, phases sequential     ${formatBytes(m.peakSequential)}`);
  for (const n of m.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}
