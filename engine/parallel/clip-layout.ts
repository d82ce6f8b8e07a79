// Clip layout of Video-Infinity clip parallelism (../shared/spec/parallel.md section 2): which contiguous clip of
// latent frames each rank owns, the global frame set G every rank attends to, the halo partners in the spec's parity
// order, and the options of dual-scope attention. Pure bookkeeping (no GPU), shared by the float64 reference, the
// one-device GPU version and the N-rank version so that all three see the same windows.

import { evenSplit } from '../dist/collectives.js';

export interface DualScopeOptions {
  /** Local window half-width p: a query at frame a sees frames a-p .. a+p (spec default 8). */
  window: number;
  /** |G|: the global frame set keeps the first topK contributed frames (spec default 16). */
  topK: number;
  /** Logit bias switch: +bias on global keys while t >= switchT, on local keys while t < switchT (default 800). */
  switchT: number;
  /** The additive logit bias (default 10). */
  bias: number;
  /**
   * Temporal RoPE positions. 'global' (default): each query/key rotates by its frame's index in the whole video.
   * 'window': by its index in this clip's key sequence [halo before | clip | halo after | G] (queries p + f).
   */
  rope: 'global' | 'window';
  /** Halo frames beyond the video ends: 'zeros' (the reference: zero keys/values, unmasked) or 'mask' (hidden). */
  ends: 'zeros' | 'mask';
}

export const DUAL_SCOPE_DEFAULTS: DualScopeOptions = { window: 8, topK: 16, switchT: 800, bias: 10, rope: 'global', ends: 'zeros' };

export interface ClipLayout {
  /** Latent frames of the whole video. */
  frames: number;
  /** Frames of each clip (rank order). */
  lengths: number[];
  /** First global frame of each clip. */
  starts: number[];
  /** Global frame indices of the global set G, in rank order (at most topK). */
  global: number[];
  opts: DualScopeOptions;
}

/** Frames rank r contributes to G (local indices 0, stride, 2*stride, ...), before the cut to topK. */
export function contributedFrames(length: number, ranks: number, topK: number): number[] {
  const share = Math.floor(topK / ranks);
  // share = 0 (more ranks than topK): only the clip's frame 0.
  const stride = share === 0 ? length : Math.max(Math.floor(length / share), 1);
  const out: number[] = [];
  for (let f = 0; f < length; f += stride) out.push(f);
  return out;
}

/**
 * The layout of `frames` latent frames over clips of the given lengths (default: as even as possible over `ranks`,
 * remainder to the first clips). Throws, saying what would fit, when a clip is shorter than the halo p (N > 1).
 */
export function clipLayout(frames: number, ranks: number, opts: Partial<DualScopeOptions> = {}, lengths?: readonly number[]): ClipLayout {
  const o = { ...DUAL_SCOPE_DEFAULTS, ...opts };
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`clip parallelism: the rank count must be a positive integer, got ${ranks}`);
  if (!Number.isInteger(o.window) || o.window < 0) throw new Error(`dual-scope attention: the window half-width p must be an integer >= 0, got ${o.window}`);
  if (!Number.isInteger(o.topK) || o.topK < 1) throw new Error(`dual-scope attention: topK must be an integer >= 1, got ${o.topK}`);
  const lens = lengths ? [...lengths] : evenSplit(frames, ranks);
  if (lens.length !== ranks) throw new Error(`clip parallelism: ${lens.length} clip lengths for ${ranks} ranks`);
  if (lens.reduce((a, b) => a + b, 0) !== frames) throw new Error(`clip parallelism: clip lengths [${lens.join(', ')}] do not add up to ${frames} frames`);
  const minClip = ranks > 1 ? Math.max(1, o.window) : 1;
  lens.forEach((n, r) => {
    if (!Number.isInteger(n) || n < minClip) {
      const most = Math.floor(frames / minClip);
      throw new Error(
        `clip parallelism: clip ${r} has ${n} latent frames, but each clip needs at least ${minClip} (the halo width p = ${o.window} ` +
          `comes from one neighbour). With ${frames} latent frames use at most ${Math.max(1, most)} ranks, a smaller --window, or a longer video ` +
          `(at least ${minClip * ranks} latent frames for ${ranks} ranks).`,
      );
    }
  });
  const starts: number[] = [];
  let s = 0;
  for (const n of lens) {
    starts.push(s);
    s += n;
  }
  const global = lens.flatMap((n, r) => contributedFrames(n, ranks, o.topK).map((f) => starts[r]! + f)).slice(0, o.topK);
  return { frames, lengths: lens, starts, global, opts: o };
}

/** Global frames of G that clip r contributes (global indices), in order. */
export function globalFramesOf(layout: ClipLayout, r: number): number[] {
  const lo = layout.starts[r]!;
  const hi = lo + layout.lengths[r]!;
  return layout.global.filter((g) => g >= lo && g < hi);
}

/**
 * Halo partners of rank r in the two parity rounds of the spec: round 0 pairs (0,1),(2,3),..; round 1 pairs
 * (1,2),(3,4),... Each round a rank talks to at most one neighbour. null: no partner that round.
 */
export function haloPartners(rank: number, ranks: number): [number | null, number | null] {
  const partner = (round: 0 | 1): number | null => {
    const p = (rank + round) % 2 === 0 ? rank + 1 : rank - 1;
    return p >= 0 && p < ranks ? p : null;
  };
  return [partner(0), partner(1)];
}

/** Whether the logit bias goes to the global keys (t >= switchT) or to the local ones. */
export const biasOnGlobal = (timestep: number, o: DualScopeOptions): boolean => timestep >= o.switchT;
