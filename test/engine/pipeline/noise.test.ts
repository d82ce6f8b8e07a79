// Default noise: matches an independent BigInt implementation of the documented definition, is standard normal,
// and any slice equals the same slice of the whole tensor.
import { describe, expect, it } from 'vitest';
import { hashNormalNoise, hashNormalRange, noiseWord } from '../../../engine/pipeline/noise.js';

const M32 = (1n << 32n) - 1n;
function fmix32Big(h: bigint): bigint {
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M32;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M32;
  h ^= h >> 16n;
  return h;
}
const mixBig = (h: bigint, w: bigint) => fmix32Big(((h ^ w) * 0x9e3779b1n + 0x7f4a7c15n) & M32);
function wordBig(seed: number, c: number): number {
  const s = BigInt(seed);
  const cc = BigInt(c);
  return Number(mixBig(mixBig(mixBig(mixBig(0x243f6a88n, s & M32), s >> 32n), cc & M32), cc >> 32n));
}
function normalBig(seed: number, i: number): number {
  const u1 = (wordBig(seed, 2 * i) + 0.5) / 2 ** 32;
  const u2 = (wordBig(seed, 2 * i + 1) + 0.5) / 2 ** 32;
  return Math.fround(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
}

describe('hash normal noise', () => {
  it('matches the documented definition (BigInt re-implementation), including seeds and counters above 2^32', () => {
    for (const seed of [0, 1, 42, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER]) {
      for (const c of [0, 1, 2, 12345, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3]) expect(noiseWord(seed, c)).toBe(wordBig(seed, c));
    }
    const seed = 987654321;
    const got = hashNormalRange(seed, 2 ** 31 - 5, 2 ** 31 + 5);
    for (let k = 0; k < got.length; k++) expect(got[k]).toBe(normalBig(seed, 2 ** 31 - 5 + k));
  });

  it('is standard normal (mean, variance, tails) and decorrelated between neighbours and seeds', () => {
    const n = 200_003;
    const x = hashNormalNoise([1, 7, 13, 13, 170], 5).subarray(0, n);
    let m = 0;
    for (const v of x) m += v;
    m /= n;
    let v2 = 0;
    let lag = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      v2 += (x[i] - m) ** 2;
      if (i > 0) lag += (x[i] - m) * (x[i - 1] - m);
      if (Math.abs(x[i]) > 1.959964) tail++;
    }
    v2 /= n;
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(v2 - 1)).toBeLessThan(0.02);
    expect(Math.abs(lag / n)).toBeLessThan(0.02);
    expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.004);
    const y = hashNormalRange(6, 0, 10_000);
    let cross = 0;
    for (let i = 0; i < y.length; i++) cross += x[i] * y[i];
    expect(Math.abs(cross / y.length)).toBeLessThan(0.05);
  });

  it('slices equal the whole tensor; deterministic per seed; rejects bad seeds', () => {
    const whole = hashNormalNoise([1, 3, 5, 7, 11], 99);
    expect(whole.length).toBe(1155);
    expect(Array.from(hashNormalRange(99, 400, 777))).toEqual(Array.from(whole.subarray(400, 777)));
    expect(Array.from(hashNormalNoise([1155], 99))).toEqual(Array.from(whole));
    expect(Array.from(hashNormalNoise([5], 100))).not.toEqual(Array.from(whole.subarray(0, 5)));
    expect(() => hashNormalNoise([2], -1)).toThrow(/seed/);
    expect(() => hashNormalNoise([2], 1.5)).toThrow(/seed/);
  });
});
