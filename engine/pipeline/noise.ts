// Initial noise for the sampler: the engine's counter-based Philox4x32-10 generator (engine/ops/random.ref.ts, the
// same bits as the GPU kernel shaders/rng.wgsl). Element i of the row-major latents is a function of (seed, i)
// only, so any slice can be generated on its own (sharded and parallel layouts give the same noise), and the
// Box-Muller transform runs in float64 on the host, so the same seed gives the same latents on every machine
// whatever its GPU's sin/cos precision:
//   (r0, r1, _, _) = philox4x32_10(counter = (i mod 2^32, floor(i / 2^32), 0, 0), key = seed as two u32 words)
//   u = (2 * (r >> 9) + 1) * 2^-24                       (exact in f32, in (0, 1))
//   noise[i] = fround( sqrt(-2 ln u(r0)) * cos(pi * (2 u(r1) - 1)) )

import { randnRef } from '../ops/random.ref.js';

/** Fills a tensor of `shape` with standard-normal noise for `seed`. */
export type NoiseFn = (shape: readonly number[], seed: number) => Float32Array;

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`noise: seed must be an integer in [0, 2^53), got ${seed}`);
}

/** Elements [start, end) of the flat noise tensor for `seed` (identical to the same slice of the whole tensor). */
export function philoxNormalRange(seed: number, start: number, end: number): Float32Array {
  checkSeed(seed);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new Error(`noise: invalid element range [${start}, ${end})`);
  }
  return Float32Array.from(randnRef(end - start, BigInt(seed), BigInt(start)));
}

/** The default NoiseFn: the whole tensor. */
export const philoxNormalNoise: NoiseFn = (shape, seed) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return philoxNormalRange(seed, 0, n);
};
