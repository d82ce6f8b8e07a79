// Clip layout of Video-Infinity clip parallelism (../shared/spec/parallel.md section 2): which contiguous clip of
// latent frames each rank owns, the global frame set G every rank attends to, the halo partners in the spec's parity
// order, and the options of dual-scope attention. Pure bookkeeping (no GPU), shared by the float64 reference, the
// one-device GPU version and the N-rank version so that all three see the same windows.

import { evenSplit } from '../distributed/collectives.js';

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

/** Clip parallelism in a ParallelLayout: `clips` clips of latent frames, one per rank (or all on a one-rank world). */
export interface ClipParallelSpec extends Partial<DualScopeOptions> {
  clips: number;
}

/** Throws unless a world of `worldSize` ranks can run `spec` (one clip per rank, or every clip on one rank). */
export function checkClipWorld(spec: ClipParallelSpec, worldSize: number): void {
  if (!Number.isInteger(spec.clips) || spec.clips < 1) throw new Error(`clip parallelism: the clip count must be a positive integer, got ${spec.clips}`);
  if (worldSize !== spec.clips && worldSize !== 1) {
    throw new Error(`clip parallelism puts one clip on each GPU: ${spec.clips} clips need ${spec.clips} ranks (or 1 rank computing all of them), but the world has ${worldSize}`);
  }
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
          `comes from one neighbour). With ${frames} latent frames use at most ${Math.max(1, most)} ranks, a smaller window (--dual-scope window=<p>), or a longer video ` +
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

/**
 * Parses dual-scope options written as `key=value` pairs separated by commas (the CLI's --dual-scope), e.g.
 * "window=4,top-k=8,switch=850,bias=10,rope=window,ends=mask". Unknown keys and bad values throw, naming the fix.
 */
export function parseDualScope(text: string): Partial<DualScopeOptions> {
  const out: Partial<DualScopeOptions> = {};
  const keys = 'window=<p>, top-k=<n>, switch=<t>, bias=<b>, rope=global|window, ends=zeros|mask';
  for (const part of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^([a-z-]+)=(.+)$/.exec(part);
    if (!m) throw new Error(`dual-scope option "${part}": expected key=value (keys: ${keys})`);
    const [, key, value] = m as unknown as [string, string, string];
    const num = (min: number, int: boolean) => {
      const v = Number(value);
      if (!Number.isFinite(v) || v < min || (int && !Number.isInteger(v))) throw new Error(`dual-scope option ${key}=${value}: expected ${int ? 'an integer' : 'a number'} >= ${min}`);
      return v;
    };
    if (key === 'window') out.window = num(0, true);
    else if (key === 'top-k') out.topK = num(1, true);
    else if (key === 'switch') out.switchT = num(0, false);
    else if (key === 'bias') out.bias = num(-Infinity, false);
    else if (key === 'rope') {
      if (value !== 'global' && value !== 'window') throw new Error(`dual-scope option rope=${value}: expected rope=global or rope=window`);
      out.rope = value;
    } else if (key === 'ends') {
      if (value !== 'zeros' && value !== 'mask') throw new Error(`dual-scope option ends=${value}: expected ends=zeros or ends=mask`);
      out.ends = value;
    } else throw new Error(`dual-scope option "${key}" is unknown (keys: ${keys})`);
  }
  return out;
}

/** Writes options back in parseDualScope's syntax (for the command lines of child ranks). */
export function formatDualScope(o: Partial<DualScopeOptions>): string {
  const pairs: [string, unknown][] = [['window', o.window], ['top-k', o.topK], ['switch', o.switchT], ['bias', o.bias], ['rope', o.rope], ['ends', o.ends]];
  return pairs.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${String(v)}`).join(',');
}
