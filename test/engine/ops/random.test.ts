// The counter-based RNG: Philox known-answer vectors, exact integer match GPU vs host, Box-Muller vs float64,
// shard equivalence (whole tensor == 3 uneven shards with offsets), 2^32 counter carry, and statistics.

import { describe, expect, it } from 'vitest';
import { philoxBits, rand, randn } from '../../../engine/ops/random.js';
import { philox4x32, philoxBitsRef, randRef, randnRef } from '../../../engine/ops/random.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';

const dtypes = await testDTypes();
const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');

describe('philox4x32 reference', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    const f = 0xffffffff;
    expect(hex(philox4x32([f, f, f, f], [f, f]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
  });
});

describe('random', () => {
  it('GPU Philox words equal the host reference exactly (64-bit seed, offset across 2^32)', async () => {
    const device = await testDevice();
    for (const [seed, offset] of [[42, 0], [0xfedcba9876543210n, 2 ** 32 - 300], [2 ** 53 - 1, 7n << 40n]] as const) {
      const t = philoxBits(device, 1000, { seed, offset });
      const got = new Uint32Array(await t.readRaw());
      const want = philoxBitsRef(1000, seed, offset);
      let bad = -1;
      for (let i = 0; i < want.length && bad < 0; i++) if (got[i] !== want[i]) bad = i;
      expect(bad, `first mismatching word (seed ${seed}, offset ${offset})`).toBe(-1);
      t.dispose();
    }
  });

  for (const dtype of dtypes) {
    it(`randn and rand ${dtype} match the float64 Box-Muller of the same uniforms`, async () => {
      const device = await testDevice();
      const shape = [3, 5, 67];
      const out = Tensor.empty(device, shape, dtype).poison();
      randn(device, shape, { seed: 1234, offset: 99, dtype, mean: 0.5, std: 2, out });
      expectClose(await out.read(), randnRef(1005, 1234, 99, 0.5, 2), tol(dtype, dtype === 'f32' ? 5 : 1), `randn ${dtype}`);
      out.poison();
      rand(device, shape, { seed: 1234, offset: 99, dtype, out });
      expectClose(await out.read(), randRef(1005, 1234, 99), tol(dtype), `rand ${dtype}`);
    });
  }

  it('a whole tensor equals the concatenation of 3 uneven shards generated with offsets', async () => {
    const device = await testDevice();
    const n = 1531;
    const seed = 0x123456789abcn;
    const whole = new Uint32Array(await randn(device, [n], { seed }).readRaw());
    const cuts = [0, 401, 1107, n];
    for (let s = 0; s < 3; s++) {
      const len = cuts[s + 1]! - cuts[s]!;
      const shard = new Uint32Array(await randn(device, [len], { seed, offset: cuts[s] }).readRaw());
      expect(Array.from(shard)).toEqual(Array.from(whole.subarray(cuts[s], cuts[s + 1])));
    }
    const other = new Uint32Array(await randn(device, [n], { seed: seed + 1n }).readRaw());
    expect(other.some((v, i) => v !== whole[i])).toBe(true);
  });

  it('has standard normal statistics over 1e5 samples', async () => {
    const device = await testDevice();
    const n = 100_000;
    const z = await randn(device, [n], { seed: 7 }).read();
    let s = 0, s2 = 0, lag = 0, within1 = 0, s4 = 0;
    for (let i = 0; i < n; i++) {
      const v = z[i]!;
      s += v; s2 += v * v; s4 += v ** 4;
      if (Math.abs(v) < 1) within1++;
      if (i > 0) lag += v * z[i - 1]!;
    }
    const mean = s / n;
    const std = Math.sqrt(s2 / n - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.015); // 5 standard errors
    expect(Math.abs(std - 1)).toBeLessThan(0.012);
    expect(Math.abs(lag / n)).toBeLessThan(0.015);
    expect(Math.abs(within1 / n - 0.6827)).toBeLessThan(0.008);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(0.1); // kurtosis of a normal
  });

  it('rejects bad seeds and dtypes', async () => {
    const device = await testDevice();
    expect(() => randn(device, [4], { seed: -1 })).toThrow(/seed must be an integer/);
    expect(() => randn(device, [4], { seed: 1.5 })).toThrow(/seed/);
    expect(() => randn(device, [4], { seed: 1, dtype: 'u32' })).toThrow(/f32 or f16/);
    expect(() => randn(device, [4], { seed: 1, out: Tensor.empty(device, [5]) })).toThrow(/expected f32\[4\]/);
  });
});
