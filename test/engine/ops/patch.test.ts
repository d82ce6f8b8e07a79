// Patchify / unpatchify against float64 references: odd token grids, P = 1, 2, 3, f16, round trips, shape errors.

import { describe, expect, it } from 'vitest';
import { patchify, unpatchify } from '../../../engine/ops/patch.js';
import { patchifyRef, unpatchifyRef } from '../../../engine/ops/patch.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const cases = [
  { F: 2, C: 16, h: 3, w: 5, P: 2 },
  { F: 1, C: 3, h: 7, w: 1, P: 2 },
  { F: 3, C: 5, h: 2, w: 3, P: 3 },
  { F: 1, C: 4, h: 5, w: 3, P: 1 },
];

describe('patch', () => {
  it('registers its variants', async () => {
    const device = await testDevice();
    expect(variants('patchify', device).length).toBeGreaterThan(0);
    expect(variants('unpatchify', device).length).toBeGreaterThan(0);
  });
  for (const dtype of dtypes) {
    for (const { F, C, h, w, P } of cases) {
      it(`patchify/unpatchify ${dtype} F=${F} C=${C} ${h}x${w} P=${P}`, async () => {
        const device = await testDevice();
        const H = h * P, W = w * P;
        const x = upload(device, normal(F * C * H * W, F + C + h), [F, C, H, W], dtype);
        const out = Tensor.empty(device, [F, h * w, C * P * P], dtype).poison();
        patchify(x.t, { patch: P, out });
        expectClose(await out.read(), patchifyRef(x.stored, F, C, H, W, P), tol(dtype), 'patchify');

        const tok = upload(device, normal(F * h * w * P * P * C, 3 * F + w), [F, h * w, P * P * C], dtype);
        const img = Tensor.empty(device, [F, C, H, W], dtype).poison();
        unpatchify(tok.t, h, w, { patch: P, out: img });
        expectClose(await img.read(), unpatchifyRef(tok.stored, F, h, w, C, P), tol(dtype), 'unpatchify');
      });
    }
  }

  it('unpatchify inverts patchify when C = 1 (the (c,p,q) and (p,q,c) orders then agree)', async () => {
    const device = await testDevice();
    const x = upload(device, normal(2 * 1 * 6 * 10, 5), [2, 1, 6, 10], 'f32');
    const back = unpatchify(patchify(x.t), 3, 5);
    expectClose(await back.read(), x.stored, tol('f32'), 'round trip');
  });

  it('rejects bad shapes', async () => {
    const device = await testDevice();
    expect(() => patchify(Tensor.zeros(device, [1, 16, 5, 4]))).toThrow(/multiples of the patch size/);
    expect(() => patchify(Tensor.zeros(device, [16, 4, 4]))).toThrow(/\[F, C, H, W\]/);
    expect(() => unpatchify(Tensor.zeros(device, [1, 6, 64]), 2, 2)).toThrow(/expected h\*w/);
    expect(() => patchify(Tensor.zeros(device, [1, 2, 4, 4]), { out: Tensor.zeros(device, [1, 4, 9]) })).toThrow(/expected f32\[1, 4, 8\]/);
  });
});
