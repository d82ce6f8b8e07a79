// DualParal planning layer (../shared/spec/parallel.md sections 3 and 3a): pure functions, no GPU. Says which
// transformer layers each rank runs, which block is at which denoising step in which iteration (the FIFO block
// queue), which global latent frames form each block's attention window (with window-local temporal RoPE
// positions), and which frames of the coordinated noise pool each block starts from; checkWindowFits says whether a
// window fits one GPU buffer. The execution that follows it: dualparal-run.ts (the queue over a layer pipeline).
//
// Conventions (all 0-based): iteration j in [0, T + n - 1), block k in [0, n), step s in [0, T). Block k enters
// the queue at iteration k and is at step j - k in iteration j. Frames are global latent-frame indices of a video
// of n*B + C latent frames: block 0 = [0, B + C), block k >= 1 = [C + k*B, C + (k+1)*B).

import { philoxNormalRange } from '../pipeline/noise.js';
import { philoxBitsRef, unitFromBits } from '../ops/random.ref.js';

// ---------------------------------------------------------------------------------------------------------------
// 1. Layer split

export interface RankLayers {
  rank: number;
  /** Transformer blocks [start, end) this rank runs. */
  start: number;
  end: number;
  /** Rank 0: patch + time + text embedding. */
  embeds: boolean;
  /** Last rank: final layer (norm + unpatchify projection) and the CFG combination. */
  finalLayerAndCfg: boolean;
}

/** Contiguous ranges of `numLayers` transformer blocks over `ranks` ranks, remainder to the first ranks. */
export function splitLayers(numLayers: number, ranks: number): RankLayers[] {
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`dualparal: the number of ranks must be an integer >= 1, got ${ranks}`);
  if (!Number.isInteger(numLayers) || numLayers < ranks) {
    throw new Error(`dualparal: ${numLayers} transformer blocks cannot be split over ${ranks} ranks (each rank needs at least one block); use at most ${Math.max(0, Math.floor(numLayers))} ranks`);
  }
  const base = Math.floor(numLayers / ranks), extra = numLayers % ranks;
  const out: RankLayers[] = [];
  let start = 0;
  for (let r = 0; r < ranks; r++) {
    const end = start + base + (r < extra ? 1 : 0);
    out.push({ rank: r, start, end, embeds: r === 0, finalLayerAndCfg: r === ranks - 1 });
    start = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Block layout and queue schedule

export interface BlockLayout {
  /** Latent frames added per block (B). */
  blockFrames: number;
  /** Context frames (C); the first block has B + C frames. */
  contextFrames: number;
  /** Number of blocks n. */
  blocks: number;
  /** n*B + C. */
  latentFrames: number;
}

function checkBC(B: number, C: number): void {
  if (!Number.isInteger(B) || B < 1) throw new Error(`dualparal: block frames B must be an integer >= 1, got ${B}`);
  if (!Number.isInteger(C) || C < 0 || C > B) {
    throw new Error(`dualparal: context frames C must be an integer in [0, B] = [0, ${B}] (the context is taken from one neighbouring block of B frames), got ${C}`);
  }
}

/** The block layout of a video of `latentFrames` latent frames; only n*B + C (n >= 1) fits. */
export function blockLayout(latentFrames: number, B: number, C: number): BlockLayout {
  checkBC(B, C);
  if (!Number.isInteger(latentFrames) || latentFrames < B + C || (latentFrames - C) % B !== 0) {
    const n = Math.max(1, Math.floor((latentFrames - C) / B));
    const fits = [n - 1, n, n + 1].filter((m) => m >= 1).map((m) => m * B + C);
    throw new Error(`dualparal: ${latentFrames} latent frames do not fit blocks of B = ${B} with C = ${C} context frames: the video needs n*B + C latent frames for n >= 1 blocks (e.g. ${fits.join(', ')})`);
  }
  return { blockFrames: B, contextFrames: C, blocks: (latentFrames - C) / B, latentFrames };
}

/** Global latent frames [start, end) of block k. */
export function blockFrames(layout: BlockLayout, k: number): { start: number; end: number } {
  const { blockFrames: B, contextFrames: C, blocks: n } = layout;
  if (!Number.isInteger(k) || k < 0 || k >= n) throw new Error(`dualparal: block ${k} out of range [0, ${n})`);
  return k === 0 ? { start: 0, end: B + C } : { start: C + k * B, end: C + (k + 1) * B };
}

/**
 * Iterations of the queue: the spec's T + n - 1 (Parallax). The reference (DualParal @2aca91d) loops T + n times,
 * the last iteration only finishing the head; Parallax does not run that empty iteration.
 */
export function iterationCount(steps: number, blocks: number): number {
  return steps + blocks - 1;
}
/** The reference implementation's loop count, for documentation and comparison only. */
export const referenceIterationCount = (steps: number, blocks: number): number => steps + blocks;

/** One denoising step of one block inside an iteration. */
export interface BlockStep {
  block: number;
  /** 0-based step = iteration - block. */
  step: number;
  /** Previous context (last C frames of block - 1), at the same number of updates as this block (= step): */
  prevContext: { block: number; updates: number } | null;
  /** Next context (first C frames of block + 1), K/V cached earlier in this same sweep, at its step this iteration. */
  nextContext: { block: number; step: number } | null;
}

export interface QueuePlan {
  steps: number;
  layout: BlockLayout;
  /** iterations[j] = the block steps of iteration j in run order (tail to head). */
  iterations: BlockStep[][];
}

/** The FIFO block-queue schedule for T = `steps` denoising steps over `layout`. */
export function planQueue(layout: BlockLayout, steps: number): QueuePlan {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`dualparal: steps must be an integer >= 1, got ${steps}`);
  const n = layout.blocks, C = layout.contextFrames;
  const iterations: BlockStep[][] = [];
  for (let j = 0; j < iterationCount(steps, n); j++) {
    const run: BlockStep[] = [];
    // Tail (newest block, min(j, n-1)) to head (oldest block still below T steps).
    for (let k = Math.min(j, n - 1); k >= 0 && j - k < steps; k--) {
      const step = j - k;
      run.push({
        block: k,
        step,
        prevContext: C > 0 && k > 0 ? { block: k - 1, updates: step } : null,
        nextContext: C > 0 && k + 1 < n && k + 1 <= j ? { block: k + 1, step: step - 1 } : null,
      });
    }
    iterations.push(run);
  }
  return { steps, layout, iterations };
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Attention windows

export interface BlockWindow {
  block: number;
  /** Global latent frames of the queries: [last C frames of block - 1 | frames of block]. */
  queryFrames: number[];
  /** Global latent frames of keys/values: [queryFrames | first C frames of block + 1 (cached)]. */
  keyFrames: number[];
  /** Window-local temporal RoPE positions of keyFrames (0 .. keyFrames.length - 1); queries use the first ones. */
  keyPositions: number[];
  /** Indices into queryFrames of the block's own frames (whose velocity goes back to rank 0). */
  ownFrames: { start: number; end: number };
}

const range = (a: number, b: number): number[] => Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);

/** The attention window of block b; `withNext` = false for the queue's tail (no next context in this sweep). */
export function blockWindow(layout: BlockLayout, b: number, withNext: boolean): BlockWindow {
  const C = layout.contextFrames;
  const own = blockFrames(layout, b);
  const prev = b > 0 ? range(own.start - C, own.start) : [];
  const queryFrames = [...prev, ...range(own.start, own.end)];
  const next = withNext && b + 1 < layout.blocks ? range(own.end, own.end + C) : [];
  const keyFrames = [...queryFrames, ...next];
  return {
    block: b,
    queryFrames,
    keyFrames,
    keyPositions: range(0, keyFrames.length),
    ownFrames: { start: prev.length, end: queryFrames.length },
  };
}

/** The window of a scheduled block step (next context only when block + 1 ran earlier in the same sweep). */
export function windowOf(layout: BlockLayout, s: BlockStep): BlockWindow {
  return blockWindow(layout, s.block, s.nextContext !== null);
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Coordinated noise

/** Philox counter offset of the permutation stream, far from any noise tensor's elements (which start at 0). */
const PERM_OFFSET = 2n ** 62n;

/**
 * Pool frame indices each block's initial noise is made of (noise frame i of block k = pool frame result[k][i]).
 * Block 0 takes the whole pool of B + C frames in order; block k >= 1 takes a seeded permutation (Fisher-Yates on
 * Philox uniforms of `seed`, counter PERM_OFFSET + k*(B+C) + i) of the B pool frames that are not among block
 * k-1's last C noise frames.
 */
export function noisePoolIndices(layout: BlockLayout, seed: number): number[][] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`dualparal: seed must be an integer in [0, 2^53), got ${seed}`);
  const { blockFrames: B, contextFrames: C, blocks: n } = layout;
  const P = B + C;
  const out: number[][] = [range(0, P)];
  for (let k = 1; k < n; k++) {
    const prev = out[k - 1]!;
    const excluded = new Set(prev.slice(prev.length - C));
    const perm = range(0, P).filter((f) => !excluded.has(f));
    const bits = philoxBitsRef(perm.length, seed, PERM_OFFSET + BigInt(k) * BigInt(P));
    for (let i = perm.length - 1; i > 0; i--) {
      const r = Math.min(i, Math.floor(unitFromBits(bits[4 * i]!) * (i + 1)));
      [perm[i], perm[r]] = [perm[r]!, perm[i]!];
    }
    out.push(perm);
  }
  return out;
}

/** The pool: B + C frames of `frameElems` standard-normal values, frame-major, = Philox noise elements [0, (B+C)*frameElems). */
export function noisePool(layout: BlockLayout, frameElems: number, seed: number): Float32Array {
  if (!Number.isInteger(frameElems) || frameElems < 1) throw new Error(`dualparal: frameElems must be an integer >= 1, got ${frameElems}`);
  return philoxNormalRange(seed, 0, (layout.blockFrames + layout.contextFrames) * frameElems);
}

/** Block k's initial noise, frame-major ([frames, frameElems]), gathered from the pool by `indices`. */
export function blockNoise(pool: Float32Array, frameElems: number, indices: readonly number[]): Float32Array {
  const out = new Float32Array(indices.length * frameElems);
  indices.forEach((f, i) => {
    if ((f + 1) * frameElems > pool.length) throw new Error(`dualparal: pool frame ${f} out of range`);
    out.set(pool.subarray(f * frameElems, (f + 1) * frameElems), i * frameElems);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Does a window fit one GPU buffer?

/**
 * The largest single activation of a block window forward: the MLP's hidden rows [B + C, L, 4D] (window frames x
 * visual tokens x 4D). DualParal's memory per GPU is one window (plus weights/N), whatever the video's length, so
 * this, not the length, is what can fail to fit. Throws before any work when it exceeds `maxBufferBytes`, naming the
 * largest --block-frames that fits.
 */
export function checkWindowFits(o: { B: number; C: number; tokens: number; modelDim: number; bytesPerValue: number; maxBufferBytes: number }): void {
  checkBC(o.B, o.C);
  const perFrame = o.tokens * 4 * o.modelDim * o.bytesPerValue;
  const need = (o.B + o.C) * perFrame;
  if (need <= o.maxBufferBytes) return;
  const maxFrames = Math.floor(o.maxBufferBytes / perFrame);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const fix = maxFrames >= 2 ? `use --block-frames ${Math.ceil(maxFrames / 2)} --context-frames ${Math.floor(maxFrames / 2)} or fewer (B + C <= ${maxFrames})` : 'use a smaller width and height';
  throw new Error(`dualparal: a window of B + C = ${o.B + o.C} latent frames needs a ${mib(need)} buffer (the MLP's hidden activations, ${o.tokens} tokens x ${4 * o.modelDim} values per frame), above this GPU's ${mib(o.maxBufferBytes)} per buffer; ${fix}. The video's length does not matter: DualParal holds one window per GPU`);
}
