// Default initial-noise generator: a standard normal from a counter-based hash of (seed, element index), so any
// slice of the tensor can be produced independently (sharded generation). Swappable through `NoiseFn`.
//
// Definition (all arithmetic on unsigned 32-bit words, `*` = Math.imul, fmix32 = MurmurHash3's finalizer):
//   mix(h, w)      = fmix32(((h ^ w) * 0x9E3779B1 + 0x7F4A7C15) mod 2^32)
//   word(seed, c)  = mix(mix(mix(mix(0x243F6A88, seedLo), seedHi), cLo), cHi)
//                    seed = seedHi*2^32 + seedLo (0 <= seed < 2^53), counter c = cHi*2^32 + cLo
//   u(seed, c)     = (word(seed, c) + 0.5) / 2^32                        in (0, 1)
//   noise[i]       = fround( sqrt(-2 ln u(seed, 2i)) * cos(2 pi u(seed, 2i+1)) )   (Box-Muller, cosine branch)
// Every step is integer or float64 math, so it is reproducible on any JS engine and portable to WGSL (u32 ops).

/** Fills a tensor of `shape` with standard-normal noise for `seed`. */
export type NoiseFn = (shape: readonly number[], seed: number) => Float32Array;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function mix(h: number, w: number): number {
  return fmix32((Math.imul((h ^ w) >>> 0, 0x9e3779b1) + 0x7f4a7c15) >>> 0);
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`noise: seed must be an integer in [0, 2^53), got ${seed}`);
}

/** The 32-bit hash word for (seed, counter); exported for tests and GPU ports. */
export function noiseWord(seed: number, counter: number): number {
  const seedLo = seed >>> 0;
  const seedHi = Math.floor(seed / 4294967296) >>> 0;
  const cLo = counter >>> 0;
  const cHi = Math.floor(counter / 4294967296) >>> 0;
  return mix(mix(mix(mix(0x243f6a88, seedLo), seedHi), cLo), cHi);
}

/** Elements [start, end) of the flat noise tensor for `seed` (identical to the same slice of the whole tensor). */
export function hashNormalRange(seed: number, start: number, end: number): Float32Array {
  checkSeed(seed);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new Error(`noise: invalid element range [${start}, ${end})`);
  }
  const out = new Float32Array(end - start);
  const twoPi = 2 * Math.PI;
  for (let i = start; i < end; i++) {
    const u1 = (noiseWord(seed, 2 * i) + 0.5) / 4294967296;
    const u2 = (noiseWord(seed, 2 * i + 1) + 0.5) / 4294967296;
    out[i - start] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(twoPi * u2);
  }
  return out;
}

/** Default NoiseFn: the whole tensor, element i of the row-major flattening from counter 2i and 2i+1. */
export const hashNormalNoise: NoiseFn = (shape, seed) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return hashNormalRange(seed, 0, n);
};
