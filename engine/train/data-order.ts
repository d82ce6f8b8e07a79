// Deterministic data order for training: every random choice of the data loop is a Philox draw from (seed, what,
// step, item), so a run that resumes at step s makes exactly the choices an uninterrupted run makes.
//   - clip order: a Fisher-Yates permutation of the N clips per epoch (key seed + tag 1, counters (epoch << 32) + j);
//     item i of step s (1-based, K per step) is position g = (s - 1) K + i of the concatenated epochs;
//   - the first frame of a --frames window (tag 2) and caption dropout (tag 3): one draw per (step, item), counter
//     (step << 20) + item.
// The tags keep these streams apart from the train step's (sigma, eps) draws, which use the key `seed` itself.

import { philoxBitsRef, unitFromBits } from '../ops/random.ref.js';

const TAG_ORDER = 1n;
const TAG_FRAMES = 2n;
const TAG_DROPOUT = 3n;
const TAG_CROP_X = 4n;
const TAG_CROP_Y = 5n;
/** Items per step are addressed by the low 20 bits of the counter. */
export const MAX_BATCH = 1 << 20;

function key(seed: number, tag: bigint): bigint {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be an integer in [0, 2^53), got ${seed}`);
  return BigInt(seed) + (tag << 56n);
}

/** One uniform in (0, 1) for (seed, tag, step, item). */
function itemUniform(seed: number, tag: bigint, step: number, item: number): number {
  if (!(item >= 0 && item < MAX_BATCH)) throw new Error(`data order: item ${item} outside [0, ${MAX_BATCH})`);
  return unitFromBits(philoxBitsRef(1, key(seed, tag), (BigInt(step) << 20n) + BigInt(item))[0]!);
}

/** The permutation of 0..n-1 used in `epoch` (Fisher-Yates with one Philox word per swap). */
export function epochPermutation(seed: number, epoch: number, n: number): Int32Array {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  if (n < 2) return perm;
  const bits = philoxBitsRef(n, key(seed, TAG_ORDER), BigInt(epoch) << 32n);
  for (let j = n - 1; j > 0; j--) {
    const r = Math.floor(unitFromBits(bits[4 * j]!) * (j + 1));
    const t = perm[j]!;
    perm[j] = perm[r]!;
    perm[r] = t;
  }
  return perm;
}

/** Which clip item `item` of optimizer step `step` (1-based) uses, with K items per step over n clips. */
export class DataOrder {
  private cache = new Map<number, Int32Array>();

  constructor(
    readonly seed: number,
    readonly n: number,
    readonly batch: number,
  ) {
    if (!(n >= 1)) throw new Error('data order: no training clips');
    if (!(batch >= 1 && batch < MAX_BATCH)) throw new Error(`--batch must be in [1, ${MAX_BATCH}), got ${batch}`);
  }

  clip(step: number, item: number): { clip: number; epoch: number } {
    if (!(step >= 1 && Number.isSafeInteger(step))) throw new Error(`data order: step must be a positive integer, got ${step}`);
    const g = (step - 1) * this.batch + item;
    const epoch = Math.floor(g / this.n);
    let perm = this.cache.get(epoch);
    if (!perm) {
      perm = epochPermutation(this.seed, epoch, this.n);
      if (this.cache.size > 4) this.cache.clear();
      this.cache.set(epoch, perm);
    }
    return { clip: perm[g - epoch * this.n]!, epoch };
  }

  /** First frame of a window of `frames` frames inside a clip of `total` frames (0 when it takes them all). */
  frameStart(step: number, item: number, total: number, frames: number): number {
    if (frames > total) throw new Error(`data order: a ${frames}-frame window does not fit a ${total}-frame clip`);
    if (frames === total) return 0;
    return Math.min(total - frames, Math.floor(itemUniform(this.seed, TAG_FRAMES, step, item) * (total - frames + 1)));
  }

  /** Top-left corner of a size x size crop of a W x H frame, on a multiple of `align` pixels, drawn from (seed, step, item). */
  cropOrigin(step: number, item: number, W: number, H: number, size: number, align: number): { x: number; y: number } {
    if (size > W || size > H) throw new Error(`data order: a ${size}x${size} crop does not fit a ${W}x${H} frame`);
    const pick = (tag: bigint, total: number) => align * Math.min(Math.floor((total - size) / align), Math.floor(itemUniform(this.seed, tag, step, item) * (Math.floor((total - size) / align) + 1)));
    return { x: pick(TAG_CROP_X, W), y: pick(TAG_CROP_Y, H) };
  }

  /** Whether the item trains on the empty prompt instead of its caption (probability p). */
  dropCaption(step: number, item: number, p: number): boolean {
    if (p <= 0) return false;
    return itemUniform(this.seed, TAG_DROPOUT, step, item) < p;
  }
}
