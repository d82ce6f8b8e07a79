// Pipeline noise: standard normal, decorrelated, any slice equals the same slice of the whole tensor, and the
// values are the GPU randn kernel's (same Philox bits) up to the GPU's f32 transcendental error.

import { describe, expect, it } from 'vitest';
import { randn } from '../../../engine/ops/random.js';
import { philoxNormalNoise, philoxNormalRange } from '../../../engine/pipeline/noise.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';

describe('philox normal noise', () => {
  it('is standard normal (mean, variance, tails) and decorrelated between neighbours and seeds', () => {
    const n = 200_003;
    const x = philoxNormalNoise([1, 7, 13, 13, 170], 5).subarray(0, n);
    let m = 0;
    for (const v of x) m += v;
    m /= n;
    let v2 = 0;
    let lag = 0;
    let tail = 0;
    for (let i = 0; i < n; i++) {
      v2 += (x[i]! - m) ** 2;
      if (i > 0) lag += (x[i]! - m) * (x[i - 1]! - m);
      if (Math.abs(x[i]!) > 1.959964) tail++;
    }
    v2 /= n;
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(v2 - 1)).toBeLessThan(0.02);
    expect(Math.abs(lag / n)).toBeLessThan(0.02);
    expect(Math.abs(tail / n - 0.05)).toBeLessThan(0.004);
    const y = philoxNormalRange(6, 0, 10_000);
    let cross = 0;
    for (let i = 0; i < y.length; i++) cross += x[i]! * y[i]!;
    expect(Math.abs(cross / y.length)).toBeLessThan(0.05);
  });

  it('slices equal the whole tensor (also across 2^32); deterministic per seed; rejects bad seeds', () => {
    const whole = philoxNormalNoise([1, 3, 5, 7, 11], 99);
    expect(whole.length).toBe(1155);
    expect(Array.from(philoxNormalRange(99, 400, 777))).toEqual(Array.from(whole.subarray(400, 777)));
    expect(Array.from(philoxNormalNoise([1155], 99))).toEqual(Array.from(whole));
    expect(Array.from(philoxNormalNoise([5], 100))).not.toEqual(Array.from(whole.subarray(0, 5)));
    const far = philoxNormalRange(7, 2 ** 32 - 3, 2 ** 32 + 3);
    expect(Array.from(philoxNormalRange(7, 2 ** 32, 2 ** 32 + 3))).toEqual(Array.from(far.subarray(3)));
    expect(() => philoxNormalNoise([2], -1)).toThrow(/seed/);
    expect(() => philoxNormalNoise([2], 1.5)).toThrow(/seed/);
  });

  it('agrees with the GPU randn kernel for the same seed and offset', async () => {
    const device = await testDevice();
    const gpu = await randn(device, [1000], { seed: 424242, offset: 5000 }).read();
    expectClose(gpu, philoxNormalRange(424242, 5000, 6000), { rtol: 1e-5, atol: 1e-5 }, 'randn vs host');
  });
});
