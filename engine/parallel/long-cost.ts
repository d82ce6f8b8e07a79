// Analytical cost of the long-video strategies for the Vchitect-2.0 transformer (docs/long-video.md, bench/long.ts):
// bytes each rank sends per transformer forward as implemented (Ulysses SP, clip parallelism with dual-scope
// attention) or as the spec describes (DualParal's layer pipeline, ../shared/spec/parallel.md section 3), and the
// FLOPs of a forward with each strategy's temporal attention. Pure arithmetic; the bench checks the SP and clip counts
// against the bytes the ranks really send.

import type { ClipLayout } from './clip-layout.js';
import type { BlockLayout } from './dualparal-plan.js';
import { globalFramesOf } from './clip-layout.js';
import { spAttentionExchange, tokenShard } from './ulysses.js';

/** Transformer sizes that set the cost: D = heads x head dim, L visual tokens per frame, T text tokens. */
export interface CostDims {
  D: number;
  heads: number;
  layers: number;
  L: number;
  T: number;
  /** Values per visual token of the velocity (patch^2 x out channels = 64 for Vchitect). */
  velocity: number;
}

/**
 * Bytes one SP rank sends in one transformer forward of F frames (one CFG branch), before the velocity all-gather.
 * Ulysses (H % P == 0): per layer (P-1)/P of the packed q, k, v, q_cross (visual rows), cq, ck, cv (text rows) out and
 * of the spatial and cross outputs back (text rows skipped in the last block). H % P != 0: the all-gather of K/V
 * (k, v visual and ck, cv text rows to each of the P-1 others). docs/parallelism.md derives both.
 */
export function spForwardBytes(d: CostDims, F: number, P: number, bytes: number): number {
  if (P === 1) return 0;
  const nL = tokenShard(d.L, P, 0).per;
  const nT = tokenShard(d.T, P, 0).per;
  if (spAttentionExchange(d.heads, P) === 'kv-allgather') return bytes * (P - 1) * F * d.layers * 2 * (nL + nT) * d.D;
  let rows = 0;
  for (let i = 0; i < d.layers; i++) rows += 4 * nL + 3 * nT + 2 * nL + (i === d.layers - 1 ? 0 : 2 * nT);
  return (bytes * (P - 1) * F * rows * d.D) / P;
}

/** Bytes one SP rank sends in the all-gather of the velocity rows (once per step). */
export function spVelocityGatherBytes(d: CostDims, F: number, P: number, bytes: number): number {
  return bytes * (P - 1) * F * tokenShard(d.L, P, 0).per * d.velocity;
}

/**
 * Bytes rank r of a clip-parallel group sends in one transformer forward (before the velocity all-gather): per layer,
 * K and V (S = L + T rows of D) of its frames of G to the N-1 others and of p halo frames to each neighbour, and on
 * rank 0 frame 0's text K/V (2 x T x D) to the N-1 others.
 */
export function clipForwardBytes(d: CostDims, layout: ClipLayout, rank: number, bytes: number): number {
  const N = layout.lengths.length;
  if (N === 1) return 0;
  const frame = (d.L + d.T) * 2 * d.D * bytes;
  const neighbours = rank === 0 || rank === N - 1 ? 1 : 2;
  const perLayer = (globalFramesOf(layout, rank).length * (N - 1) + layout.opts.window * neighbours) * frame + (rank === 0 ? 2 * d.T * d.D * bytes * (N - 1) : 0);
  return d.layers * perLayer;
}

/** Bytes rank r sends in the all-gather of the clip velocities (its F_r frames to the N-1 others, once per step). */
export function clipVelocityGatherBytes(d: CostDims, layout: ClipLayout, rank: number, bytes: number): number {
  return layout.lengths[rank]! * d.L * d.velocity * bytes * (layout.lengths.length - 1);
}

/**
 * DualParal (spec section 3), bytes rank r of N sends while every frame of the video advances one step (each of
 * the n blocks one step): every rank but the last passes each block's window hidden states (B + C frames of S rows of
 * D; CFG as a batch of `cfgBatch`) to the next rank; the last rank returns each block's own frames' velocity to rank 0
 * (B frames, block 0 B + C: every frame of the video once).
 */
export function dualParalStepBytes(d: CostDims, blocks: BlockLayout, ranks: number, rank: number, bytes: number, cfgBatch: 1 | 2): number {
  const { blockFrames: B, contextFrames: C, blocks: n } = blocks;
  if (ranks === 1) return 0;
  if (rank < ranks - 1) return n * (B + C) * (d.L + d.T) * d.D * bytes * cfgBatch;
  return (n * B + C) * d.L * d.velocity * bytes; // each block's own frames (block 0: B + C), i.e. every frame once
}

/** Temporal attention of a forward: full over the F frames (SP), dual-scope (clip), or per block window (DualParal). */
export type TemporalScope = { kind: 'full' } | { kind: 'clip'; layout: ClipLayout } | { kind: 'blocks'; layout: BlockLayout };

/**
 * FLOPs of one transformer forward over the whole video (one CFG branch), as implemented: linears
 * 2 D^2 (17 L + S + 13 T) per frame and block; spatial attention 4 S^2 D and cross attention 4 S T D per frame; temporal
 * attention 4 S D x (query frames x key frames) per block: F x F (full), per clip F_r x (F_r + 2p + |G|) (the masked
 * window is computed densely), per DualParal block (B + C) x (B + 2C) (block 0: B + C queries, B + 2C keys; the last
 * block, which has no next context, is counted with it too: an upper bound by C of n frames).
 */
export function forwardFlops(d: CostDims, F: number, scope: TemporalScope): { linear: number; attention: number; temporal: number } {
  const S = d.L + d.T;
  let frames = F;
  let qk = F * F;
  if (scope.kind === 'clip') {
    const { lengths, opts, global } = scope.layout;
    qk = lengths.reduce((a, n) => a + n * (n + 2 * opts.window + global.length), 0);
  } else if (scope.kind === 'blocks') {
    const { blockFrames: B, contextFrames: C, blocks: n } = scope.layout;
    frames = n * (B + C); // each block runs its C previous-context frames too (block 0: its own first C)
    qk = n * (B + C) * (B + 2 * C);
  }
  const linear = 2 * d.D * d.D * (17 * d.L + S + 13 * d.T) * frames * d.layers;
  const attention = (4 * S * S * d.D + 4 * S * d.T * d.D) * frames * d.layers;
  const temporal = 4 * S * d.D * qk * d.layers;
  return { linear, attention, temporal };
}
