// Static filter (../shared/spec/data.md section 4): per consecutive frame pair d_t = mean |g_t - g_{t-1}| over the
// OpenCV gray image (default, 'mad'), or |mean g_t - mean g_{t-1}| ('mean', the other reading of the paper, which
// calls a slow pan static). A pair is static when d_t < 0.9; a clip is kept when its static fraction is < 0.30.
import type { FrameSeries } from './shots.js';

export type StaticMode = 'mad' | 'mean';

export interface StaticOptions {
  /** Per-pair threshold (default 0.9 gray levels). */
  threshold?: number;
  mode?: StaticMode;
}

/** d_t for every frame of the series (0 for frame 0, which has no predecessor). */
export function grayDifferences(s: FrameSeries, mode: StaticMode = 'mad'): Float64Array {
  const d = new Float64Array(s.frames);
  for (let t = 1; t < s.frames; t++) d[t] = mode === 'mad' ? s.dgray[t]! / s.pixels : Math.abs(s.sumGray[t]! - s.sumGray[t - 1]!) / s.pixels;
  return d;
}

/** Fraction of the pairs (t-1, t), start < t < end, that are static; 1 for a clip of one frame (no motion seen). */
export function staticRatio(s: FrameSeries, start: number, end: number, o: StaticOptions = {}): number {
  if (!(start >= 0 && end <= s.frames && end > start)) throw new Error(`staticRatio: bad range [${start}, ${end}) of ${s.frames} frames`);
  const thr = o.threshold ?? 0.9;
  const mode = o.mode ?? 'mad';
  const pairs = end - start - 1;
  if (pairs < 1) return 1;
  let n = 0;
  for (let t = start + 1; t < end; t++) {
    const d = mode === 'mad' ? s.dgray[t]! / s.pixels : Math.abs(s.sumGray[t]! - s.sumGray[t - 1]!) / s.pixels;
    if (d < thr) n++;
  }
  return n / pairs;
}
