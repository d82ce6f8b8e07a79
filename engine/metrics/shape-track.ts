// Shape-track continuity at layout borders (issue 12, section 3: "the shape's track must be continuous across
// borders"): per decoded frame, the centroid of the moving shape, found against the background by the detector that
// `parallax eval-prompts` reads attributes with (engine/data/attributes.ts readFrame: background = the border's
// median colour, a soft mask of what differs from it); then the centroid's step (Euclidean, pixels) between
// consecutive frames, across the clip/block borders against inside them. Verdict rule (TRACK_RULE): continuous when
// every border step is readable and at most max(minPx, factor x the median inside step), defaults 2 px and 3.
// Pure float64 host code over RGB frames.

import { readFrame } from '../data/attributes.js';

export interface TrackOptions {
  /** Floor of the allowed border step, pixels (the detector's jitter on a still or slow shape). Default 2. */
  minPx?: number;
  /** Allowed border step as a multiple of the median inside step. Default 3. */
  factor?: number;
}

export const TRACK_DEFAULTS = { minPx: 2, factor: 3 } as const;

/** The rule, as reports print it. */
export const TRACK_RULE = 'continuous when every border step is readable and <= max(minPx, factor x median inside step)';

/** Median and maximum of a set of steps (null when the set is empty). */
export interface StepStats {
  median: number;
  max: number;
  count: number;
}

export interface ShapeTrack {
  /** Border positions: frame b is the first frame after a border, so the step across it is frame b-1 -> b. */
  borders: number[];
  /** Per frame the shape's centroid in pixels (x right, y down), null when no shape stands out from the background. */
  centroids: ({ x: number; y: number } | null)[];
  /** Centroid step between frames f and f+1, f = 0 .. F-2; null when either frame has no readable shape. */
  steps: (number | null)[];
  /** Readable steps across the borders / inside them. */
  across: StepStats | null;
  inside: StepStats | null;
  /** Frames without a readable shape. */
  missing: number[];
  /** The largest border step the rule allows: max(minPx, factor x inside median); null without readable inside steps. */
  limit: number | null;
  minPx: number;
  factor: number;
  continuous: boolean;
  /** Why the verdict is what it is (the first failing border, or the figures of a pass). */
  reason: string;
}

function stats(xs: number[]): StepStats | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, max: s[s.length - 1]!, count: s.length };
}

const px = (x: number) => `${x.toFixed(2)} px`;

/** The track continuity of RGB frames (width x height x 3 bytes each) at `borders` (each in [1, F-1], no duplicates). */
export function shapeTrack(frames: readonly Uint8Array[], width: number, height: number, borders: readonly number[], o: TrackOptions = {}): ShapeTrack {
  const minPx = o.minPx ?? TRACK_DEFAULTS.minPx;
  const factor = o.factor ?? TRACK_DEFAULTS.factor;
  if (!(minPx >= 0) || !(factor > 0)) throw new Error(`shape track: minPx must be >= 0 and factor > 0, got ${minPx} and ${factor}`);
  const F = frames.length;
  if (F < 2) throw new Error(`shape track: needs at least 2 frames, got ${F}`);
  frames.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new Error(`shape track: frame ${i} has ${f.length} bytes, not ${width}x${height}x3 (RGB frames of the given size)`);
  });
  const seen = new Set<number>();
  for (const b of borders) {
    if (!Number.isInteger(b) || b < 1 || b > F - 1) throw new Error(`shape track: border ${b} is outside [1, ${F - 1}] for a video of ${F} frames (a border is the first frame after it)`);
    if (seen.has(b)) throw new Error(`shape track: border ${b} is listed twice`);
    seen.add(b);
  }
  const centroids = frames.map((f) => {
    const r = readFrame(f, width, height);
    return r.colour === null ? null : { x: r.cx, y: r.cy };
  });
  const steps = centroids.slice(1).map((c, f) => {
    const p = centroids[f];
    return c && p ? Math.hypot(c.x - p.x, c.y - p.y) : null;
  });
  const across = stats(steps.filter((s, f): s is number => s !== null && seen.has(f + 1)));
  const inside = stats(steps.filter((s, f): s is number => s !== null && !seen.has(f + 1)));
  const missing = centroids.flatMap((c, f) => (c ? [] : [f]));
  const limit = inside ? Math.max(minPx, factor * inside.median) : null;
  const sorted = [...seen].sort((a, b) => a - b);
  let continuous = true;
  let reason: string;
  const unread = sorted.find((b) => steps[b - 1] === null);
  const over = limit === null ? undefined : sorted.find((b) => steps[b - 1]! > limit);
  if (!sorted.length) reason = 'no borders: nothing to judge';
  else if (unread !== undefined) {
    continuous = false;
    reason = `no shape found in frame ${centroids[unread - 1] ? unread : unread - 1} at the border before frame ${unread}`;
  } else if (limit === null) {
    continuous = false;
    reason = 'no readable step inside the borders to compare the border steps with';
  } else if (over !== undefined) {
    continuous = false;
    reason = `the centroid jumps ${px(steps[over - 1]!)} across the border before frame ${over}, over the limit ${px(limit)} = max(${minPx}, ${factor} x inside median ${px(inside!.median)})`;
  } else reason = `largest border step ${px(across!.max)} <= limit ${px(limit)} = max(${minPx}, ${factor} x inside median ${px(inside!.median)})`;
  return { borders: sorted, centroids, steps, across, inside, missing, limit, minPx, factor, continuous, reason };
}
