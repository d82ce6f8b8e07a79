// Memory estimate of a Vchitect training step per rank, for the layout actually used, checked before training starts.
// The items of a rank's share of the batch run one after another (train-step.ts), so activations are those of one
// item; the batch adds only its inputs.
//   persistent: the f32 weights, Adam m and v, the EMA and the gradients (each copy as the device pool holds it:
//               every tensor rounded up to its size class). ZeRO (over the data-parallel ranks,
//               zero-layout.ts: one unit per block + the non-block unit, each owned by one rank): stage 0 holds every
//               copy whole (weights, m, v, EMA, the accumulated gradients and one item's: 6 or 5 copies); from stage 1
//               m, v and EMA are the rank's own units only; from stage 2 the gradients are its own units' sums plus
//               those still waiting to be reduced (with one item per rank: the block being reduced and the non-block
//               unit's, moved into the empty accumulator; with more, the earlier items' whole sum and one block's); at
//               stage 3 the weights too are its own units, plus the gathered
//               non-block unit and one gathered block. The rank with the most is counted.
//   activations: per block about ACT_PER_ROW x D floats per token row this rank holds (visual + text rows of every
//               frame: the saved linear inputs, attention outputs and log-sum-exps, the feed-forward's 4D
//               pre-activations), plus a transient of TRANSIENT_ROWS x D per row while a block runs backward; a block
//               checkpointed by --recompute (every block at ZeRO 3 on several ranks) keeps only its input (D per row;
//               none on the device when offloaded), and the one that reruns in the backward holds its activations again
//               next to their gradients (counted twice: measured peaks of small-D models need it). With --sp P a rank holds ceil(n / P) of every frame's n
//               visual rows and of the text rows (tokenShard pads uneven splits, so every rank holds that many); the
//               replicated ends (patch embedding, the final layer on the gathered rows) add ENDS_PER_ROW x D per
//               visual row of the whole item, and when the heads do not split over P (the K/V all-gather of
//               sp-attn.ts) a kept block also saves the gathered keys and values, KV_PER_ROW x D per row of the item;
//   inputs: per item its latents and text conditioning.
//   optimizer transient: the flat group buffers of the update and of the gradient sums (flat-update.ts: FLAT_BUFFERS
//               of groupCap elements, or of the largest tensor when that is larger); they live after an item's
//               activations are freed, so the total counts the larger of the two.
// The largest single tensor (the feed-forward's [rows, 4D]; with SP also the whole item's [rows, D]) must also fit
// one storage binding. The budget is --memory-limit, or on a CPU adapter (lavapipe, SwiftShader) 70% of the host's
// memory; a GPU's total memory is not visible to WebGPU, so only the binding limit is checked there unless a limit is
// given. The estimate is an upper bound of the measured per-rank peak within a stated factor
// (test/engine/train/memory-measured.test.ts).

import { totalmem } from 'node:os';
import { sizeClass } from '../gpu/pool.js';
import { FLAT_BUFFERS, groupCap } from './flat-update.js';

export const ACT_PER_ROW = 40;
export const TRANSIENT_ROWS = 24;
export const ENDS_PER_ROW = 8;
export const KV_PER_ROW = 4;

/** ZeRO over the data-parallel ranks: the stage and the sharding units (zeroLayout's: blocks 0..L-1, then the non-block unit). */
export interface ZeroGeometry {
  stage: 0 | 1 | 2 | 3;
  ranks: number;
  units: readonly { numel: number; owner: number }[];
}

export interface StepGeometry {
  params: number;
  layers: number;
  dim: number;
  ema: boolean;
  /** Latent frames, latent height and width, channels, patch. */
  frames: number;
  height: number;
  width: number;
  channels: number;
  patch: number;
  /** Text tokens T, joint width J, pooled width P. */
  tokens: number;
  joint: number;
  pooled: number;
  /** Items of this rank's share of the batch (run one after another). */
  batch: number;
  /** Blocks checkpointed by --recompute (they keep only their input; one reruns at a time) and of those offloaded. */
  checkpointed?: number;
  offloaded?: number;
  /** Sequence-parallel group size (default 1) and the attention heads (H % sp != 0: the K/V all-gather). */
  sp?: number;
  heads?: number;
  /** ZeRO layout (default: stage 0, every copy whole). */
  zero?: ZeroGeometry;
  /**
   * Bytes of one f32 copy of the parameters in the device pool (paramPoolBytes: each tensor rounded up to its size
   * class, which matters for small models with many small tensors); default 4 x params. Every copy of the state
   * counts with the same rounding.
   */
  paramBytes?: number;
  /** Elements of the largest parameter tensor (a flat optimizer group of its own when above GROUP_ELEMENTS). */
  largestParam?: number;
}

/** The device pool's bytes of one f32 copy of tensors with these element counts (each rounded up to its size class). */
export function paramPoolBytes(numels: Iterable<number>): number {
  let b = 0;
  for (const n of numels) b += sizeClass(4 * n);
  return b;
}

export interface MemoryEstimate {
  /** Weights, optimizer state, gradients (and at ZeRO 3 the gathered units) of the rank holding the most. */
  persistent: number;
  activations: number;
  inputs: number;
  /** The optimizer's flat group buffers (flat-update.ts). */
  optimizerTransient: number;
  total: number;
  /** Bytes of the largest single tensor. */
  largestTensor: number;
}

/** Elements of weights, optimizer state and gradients on the ZeRO rank holding the most (all copies whole without ZeRO). */
function stateElements(g: StepGeometry): number {
  const P = g.params;
  const opt = g.ema ? 3 : 2;
  const z = g.zero;
  if (!z || z.stage === 0) return P * (opt + 3);
  const L = g.layers;
  if (z.units.length !== L + 1) throw new Error(`memory estimate: a ZeRO layout of ${z.units.length} units for ${L} blocks (expected ${L + 1})`);
  const nonBlock = z.units[L]!.numel;
  const maxBlock = Math.max(...z.units.slice(0, L).map((u) => u.numel));
  let most = 0;
  for (let r = 0; r < z.ranks; r++) {
    const owned = z.units.reduce((a, u) => a + (u.owner === r ? u.numel : 0), 0);
    const weights = z.stage === 3 ? owned + (z.units[L]!.owner === r ? 0 : nonBlock) + maxBlock : P;
    const grads = z.stage === 1 ? 2 * P : g.batch > 1 ? P + maxBlock + owned : owned + nonBlock + maxBlock;
    most = Math.max(most, weights + opt * owned + grads);
  }
  return most;
}

export function estimateTrainMemory(g: StepGeometry): MemoryEstimate {
  const sp = g.sp ?? 1;
  if (!Number.isInteger(sp) || sp < 1) throw new Error(`memory estimate: sp must be an integer >= 1, got ${sp}`);
  const persistent = Math.ceil(stateElements(g) * (g.paramBytes ?? 4 * g.params) / g.params);
  const visual = (g.height / g.patch) * (g.width / g.patch);
  const allRows = g.frames * (visual + g.tokens);
  const rows = g.frames * (Math.ceil(visual / sp) + Math.ceil(g.tokens / sp));
  const ck = g.checkpointed ?? 0;
  const keptBlocks = g.layers - ck + (ck ? 2 : 0);
  const kept = ACT_PER_ROW * keptBlocks + (ck - (g.offloaded ?? 0));
  const kv = sp > 1 && g.heads !== undefined && g.heads % sp !== 0 ? KV_PER_ROW * allRows * keptBlocks : 0;
  const ends = sp > 1 ? ENDS_PER_ROW * g.frames * visual : 0;
  const activations = 4 * g.dim * (rows * (kept + TRANSIENT_ROWS) + ends + kv);
  const inputs = 4 * g.batch * (g.frames * g.channels * g.height * g.width * 3 + g.tokens * g.joint + g.pooled);
  const largestTensor = 4 * g.dim * Math.max(4 * rows, sp > 1 ? allRows : 0);
  const flat = FLAT_BUFFERS * sizeClass(4 * Math.min(g.params, Math.max(groupCap(g.params), g.largestParam ?? 0)));
  return { persistent, activations, inputs, optimizerTransient: flat, total: persistent + inputs + Math.max(activations, flat), largestTensor };
}

export interface DeviceLimits {
  maxBinding: number;
  /** Total bytes training may use (undefined: unknown, only the binding limit is checked). */
  budget?: number;
}

/** The budget for an adapter: the given limit, else 70% of host memory on a CPU adapter, else unknown. */
export function memoryBudget(adapter: { isFallbackAdapter: boolean; description: string; device?: string }, limitBytes?: number): number | undefined {
  if (limitBytes !== undefined) return limitBytes;
  const cpu = adapter.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|cpu/i.test(`${adapter.description} ${adapter.device ?? ''}`);
  return cpu ? 0.7 * totalmem() : undefined;
}

const fits = (g: StepGeometry, l: DeviceLimits) => {
  const e = estimateTrainMemory(g);
  return e.largestTensor <= l.maxBinding && (l.budget === undefined || e.total <= l.budget);
};

const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(2)} MiB`);

/** Largest SP group size suggested when a larger --sp would fit. */
export const MAX_SUGGESTED_SP = 16;

/**
 * Other layouts of the same step that would fit, cheapest change first: --recompute 0 (every block checkpointed),
 * with --offload 1, --zero 3 (several data-parallel ranks), a larger --sp (the smallest that fits).
 */
function layoutFixes(g: StepGeometry, l: DeviceLimits): string[] {
  const out: string[] = [];
  const L = g.layers, z = g.zero;
  const zero3 = z?.stage === 3 && z.ranks > 1;
  if (!zero3 && (g.checkpointed ?? 0) < L) {
    if (fits({ ...g, checkpointed: L, offloaded: 0 }, l)) out.push('--recompute 0 (every block reruns its forward in the backward; same results)');
    else if (fits({ ...g, checkpointed: L, offloaded: L }, l)) out.push('--recompute 0 --offload 1 (every block reruns its forward; the kept inputs wait in host memory)');
  } else if ((g.offloaded ?? 0) < (g.checkpointed ?? 0) && fits({ ...g, offloaded: g.checkpointed }, l)) {
    out.push('--offload 1 (the checkpointed blocks\' inputs wait in host memory)');
  }
  if (z && z.ranks > 1 && z.stage < 3 && fits({ ...g, zero: { ...z, stage: 3 }, checkpointed: L, offloaded: Math.min(g.offloaded ?? 0, L) }, l)) {
    out.push(`--zero 3 (weights, optimizer state and gradients sharded over the data-parallel ranks, every block recomputed${g.checkpointed ? '; drop --recompute' : ''})`);
  }
  const sp = g.sp ?? 1;
  const visual = (g.height / g.patch) * (g.width / g.patch);
  for (let p = sp + 1; p <= Math.min(MAX_SUGGESTED_SP, visual); p++) {
    if (fits({ ...g, sp: p }, l)) {
      const dp = z?.ranks ?? 1;
      out.push(`--sp ${p} (${p * dp} ranks in --devices${dp > 1 ? ` for ${dp} data-parallel ranks` : ''}: each holds 1/${p} of every item's tokens)`);
      break;
    }
  }
  return out;
}

/** Throws when the step would not fit on a rank, saying the largest --frames and --batch and the layouts that would. */
export function checkTrainFits(g: StepGeometry, l: DeviceLimits): MemoryEstimate {
  const e = estimateTrainMemory(g);
  if (fits(g, l)) return e;
  let frames = 0;
  for (let f = g.frames - 1; f >= 1; f--) if (fits({ ...g, frames: f }, l)) { frames = f; break; }
  let batch = 0;
  for (let lo = 1, hi = g.batch - 1; lo <= hi;) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits({ ...g, batch: mid }, l)) { batch = mid; lo = mid + 1; } else hi = mid - 1;
  }
  const sp = g.sp ?? 1, z = g.zero;
  const layout = [sp > 1 ? `--sp ${sp}` : '', z && z.ranks > 1 ? `ZeRO ${z.stage} over ${z.ranks} data-parallel ranks` : '', g.checkpointed ? `${g.checkpointed} of ${g.layers} blocks recomputed${g.offloaded ? `, ${g.offloaded} offloaded` : ''}` : ''].filter(Boolean);
  const why = e.largestTensor > l.maxBinding
    ? `its largest tensor (${gib(e.largestTensor)}) exceeds this device's storage binding limit (${gib(l.maxBinding)})`
    : `it needs about ${gib(e.total)} per rank (weights + optimizer + gradients ${gib(e.persistent)}, activations ${gib(e.activations)}, batch inputs ${gib(e.inputs)}, optimizer buffers ${gib(e.optimizerTransient)}) but the budget is ${gib(l.budget!)} (--memory-limit)`;
  const sizes = [frames ? `--frames ${frames} (at --batch ${g.batch})` : '', batch ? `--batch ${batch} (at --frames ${g.frames})` : ''].filter(Boolean);
  const layouts = layoutFixes(g, l);
  const what = `a training step of ${g.batch} x ${g.frames} frames of ${g.width}x${g.height} latents${layout.length ? ` (${layout.join(', ')})` : ''}`;
  const fix = [
    sizes.length ? `Largest that fits: ${sizes.join(' or ')}.` : '',
    layouts.length ? `At this size it fits with ${layouts.join(' or ')}.` : '',
  ].filter(Boolean).join(' ');
  throw new Error(`${what} does not fit: ${why}. ${fix || 'Nothing smaller fits either, nor another layout: use a smaller model or a larger --memory-limit.'}`);
}
