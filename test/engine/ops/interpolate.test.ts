// resizeBilinear (align_corners=False) against its float64 reference: CRAFT's exact 2x, non-integer up and down
// scales, a single row/column, poisoned outputs, f16; a hand-computed case from PyTorch's definition; shape errors.

import { describe, expect, it } from 'vitest';
import { resizeBilinear } from '../../../engine/ops/interpolate.js';
import { resizeBilinearRef } from '../../../engine/ops/interpolate.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();

const cases = [
  { name: '2x up (CRAFT U-net), batch 2', lead: [2, 3], H: 5, W: 7, Ho: 10, Wo: 14 },
  { name: '7x5 -> 11x3 (up one axis, down the other)', lead: [1, 4], H: 7, W: 5, Ho: 11, Wo: 3 },
  { name: '1x9 -> 4x6', lead: [5], H: 1, W: 9, Ho: 4, Wo: 6 },
];

describe('resizeBilinear', () => {
  for (const dtype of dtypes)
    for (const c of cases) {
      it(`${dtype} ${c.name}`, async () => {
        const R = c.lead.reduce((a, b) => a * b, 1);
        const x = upload(device, normal(R * c.H * c.W, 3), [...c.lead, c.H, c.W], dtype);
        const out = Tensor.empty(device, [...c.lead, c.Ho, c.Wo], dtype).poison();
        resizeBilinear(x.t, c.Ho, c.Wo, out);
        expectClose(await out.read(), resizeBilinearRef(x.stored, R, c.H, c.W, c.Ho, c.Wo), tol(dtype, 2), c.name);
      });
    }

  it('matches PyTorch on a hand-computed row: [1, 2] -> [1, 1.25, 1.75, 2]; [0, 4, 8, 12] -> [2, 10]', async () => {
    expect(Array.from(await resizeBilinear(Tensor.from(device, [1, 2], [1, 2]), 1, 4).read())).toEqual([1, 1.25, 1.75, 2]);
    expect(Array.from(await resizeBilinear(Tensor.from(device, [0, 4, 8, 12], [1, 4]), 1, 2).read())).toEqual([2, 10]);
  });

  it('rejects bad arguments', () => {
    const x = Tensor.zeros(device, [1, 2, 4, 4]);
    expect(() => resizeBilinear(x, 0, 3)).toThrow(/positive integers/);
    expect(() => resizeBilinear(x, 8, 8, Tensor.zeros(device, [1, 2, 8, 7]))).toThrow(/expected f32\[1, 2, 8, 8\]/);
    expect(() => resizeBilinear(Tensor.zeros(device, [4]), 2, 2)).toThrow(/\[\.\.\., H, W\]/);
  });
});
