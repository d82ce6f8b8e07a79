// maxPool2d against its float64 reference on awkward shapes (odd sizes that floor, padding, overlapping windows,
// all-negative planes so a zero padding would show), a hand-checked case, poisoned outputs, f16, shape errors.

import { describe, expect, it } from 'vitest';
import { maxPool2d } from '../../../engine/ops/pool.js';
import { maxPool2dRef } from '../../../engine/ops/pool.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();

const cases = [
  { name: '2x2 stride 2, odd sizes (VGG)', shape: [2, 3, 7, 9], k: 2, s: 2, p: 0 },
  { name: '3x3 stride 1 pad 1 (CRAFT slice5)', shape: [1, 5, 6, 11], k: 3, s: 1, p: 1 },
  { name: '3x3 stride 2 pad 1, one row', shape: [4, 1, 13], k: 3, s: 2, p: 1 },
];

describe('maxPool2d', () => {
  for (const dtype of dtypes)
    for (const c of cases) {
      it(`${dtype} ${c.name}`, async () => {
        const [H, W] = c.shape.slice(-2) as [number, number];
        const R = c.shape.slice(0, -2).reduce((a, b) => a * b, 1);
        // Shifted below zero: a padding read as 0 would win at the borders.
        const x = upload(device, normal(R * H * W, 9).map((v) => v - 4), c.shape, dtype);
        const Ho = Math.floor((H + 2 * c.p - c.k) / c.s) + 1, Wo = Math.floor((W + 2 * c.p - c.k) / c.s) + 1;
        const out = Tensor.empty(device, [...c.shape.slice(0, -2), Ho, Wo], dtype).poison();
        maxPool2d(x.t, { kernel: c.k, stride: c.s, padding: c.p, out });
        expectClose(await out.read(), maxPool2dRef(x.stored, R, H, W, c.k, c.s, c.p), tol(dtype), c.name);
      });
    }

  it('hand-checked 3x3 stride 1 pad 1 on a 2x3 plane', async () => {
    const x = Tensor.from(device, [-1, -5, -3, -4, -2, -6], [1, 2, 3]);
    expect(Array.from(await maxPool2d(x, { kernel: 3, stride: 1, padding: 1 }).read())).toEqual([-1, -1, -2, -1, -1, -2]);
    expect(Array.from(await maxPool2d(x, { kernel: 2 }).read())).toEqual([-1]);
  });

  it('rejects bad arguments', () => {
    const x = Tensor.zeros(device, [1, 2, 4, 4]);
    expect(() => maxPool2d(x, { kernel: 3, padding: 2 })).toThrow(/padding <= kernel \/ 2/);
    expect(() => maxPool2d(x, { kernel: 5 })).toThrow(/does not fit the 4x4 input/);
    expect(() => maxPool2d(x, { kernel: 2, out: Tensor.zeros(device, [1, 2, 3, 2]) })).toThrow(/expected f32\[1, 2, 2, 2\]/);
    expect(() => maxPool2d(Tensor.zeros(device, [4]), { kernel: 1 })).toThrow(/\[\.\.\., H, W\]/);
  });
});
