// Temporal consistency at layout borders (issue 12, section 3): the mean frame-to-frame change across the borders
// of a parallel layout (clip borders of clip parallelism, block borders of DualParal) against the mean change
// inside them. A ratio near 1 means the borders are invisible in the motion; a seam (a jump where two clips or
// blocks meet) raises it. Pure float64 host code over decoded frames (RGB bytes) or latent frames (f32).

/** One video as its frames, each a flat array of the same length (RGB bytes, or C*h*w latent values). */
export type Frames = readonly ArrayLike<number>[];

export interface BorderConsistency {
  /** Border positions: frame b is the first frame after a border, so the change across it is frame b-1 -> b. */
  borders: number[];
  /** Mean absolute change per element between frames f and f+1, for f = 0 .. F-2 (float64). */
  changes: number[];
  /** Mean of the changes across the borders (null without borders). */
  across: number | null;
  /** Mean of the other changes (null when every change is across a border). */
  inside: number | null;
  /** across / inside: ~1 for a seamless video, > 1 for seams. null when either side is missing; Infinity when the
   * inside is perfectly still but a border is not. */
  ratio: number | null;
}

/** Mean absolute per-element difference between consecutive frames, in float64. */
export function frameChanges(frames: Frames): number[] {
  if (frames.length < 2) throw new Error(`border consistency: needs at least 2 frames, got ${frames.length}`);
  const n = frames[0]!.length;
  if (n === 0) throw new Error('border consistency: frames are empty');
  frames.forEach((f, i) => {
    if (f.length !== n) throw new Error(`border consistency: frame ${i} has ${f.length} values, frame 0 has ${n} (every frame must have the same size)`);
  });
  const out: number[] = [];
  for (let f = 0; f + 1 < frames.length; f++) {
    const a = frames[f]!;
    const b = frames[f + 1]!;
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(b[i]! - a[i]!);
    out.push(s / n);
  }
  return out;
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** The border consistency of a video at the given borders (each in [1, F-1]; duplicates are an error). */
export function borderConsistency(frames: Frames, borders: readonly number[]): BorderConsistency {
  const changes = frameChanges(frames);
  const F = frames.length;
  const seen = new Set<number>();
  for (const b of borders) {
    if (!Number.isInteger(b) || b < 1 || b > F - 1) throw new Error(`border consistency: border ${b} is outside [1, ${F - 1}] for a video of ${F} frames (a border is the first frame after it)`);
    if (seen.has(b)) throw new Error(`border consistency: border ${b} is listed twice`);
    seen.add(b);
  }
  const across = mean(changes.filter((_, f) => seen.has(f + 1)));
  const inside = mean(changes.filter((_, f) => !seen.has(f + 1)));
  let ratio: number | null = null;
  if (across !== null && inside !== null) ratio = inside === 0 ? (across === 0 ? 1 : Infinity) : across / inside;
  return { borders: [...borders].sort((a, b) => a - b), changes, across, inside, ratio };
}

/** Splits a frame-major tensor [.., F, ...] (e.g. latents [1, F, C, h, w]) into F frame views. */
export function framesOf(data: Float32Array, shape: readonly number[], frameAxis = 1): Float32Array[] {
  const F = shape[frameAxis];
  if (F === undefined) throw new Error(`border consistency: shape [${shape.join(', ')}] has no axis ${frameAxis}`);
  if (shape.slice(0, frameAxis).some((d) => d !== 1)) throw new Error(`border consistency: the axes before the frame axis must be 1, got [${shape.join(', ')}]`);
  const size = shape.slice(frameAxis + 1).reduce((a, b) => a * b, 1);
  if (F * size !== data.length) throw new Error(`border consistency: ${data.length} values do not match shape [${shape.join(', ')}]`);
  return Array.from({ length: F }, (_, f) => data.subarray(f * size, (f + 1) * size));
}
