// Patchify / unpatchify backwards against the float64 backward references: f32 and f16, odd h and w, P = 1, 2, 3,
// poisoned outputs, and the shape errors.

import { describe, expect, it } from 'vitest';
import { patchifyBackward, unpatchifyBackward } from '../../../engine/ops/patch.js';
import { patchifyBackwardRef, unpatchifyBackwardRef } from '../../../engine/ops/patch.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

describe('patch backwards', () => {
  for (const dtype of dtypes) {
    for (const [F, C, h, w, P] of [[2, 3, 3, 5, 2], [1, 4, 2, 1, 3], [3, 1, 2, 2, 1]] as const) {
      it(`${dtype} F=${F} C=${C} h=${h} w=${w} P=${P}`, async () => {
        const [H, W] = [h * P, w * P];
        const n = F * C * H * W;
        // Pure moves: the results equal the stored values exactly.
        const dyTok = upload(device, normal(n, n), [F, h * w, C * P * P], dtype);
        const dx = Tensor.empty(device, [F, C, H, W], dtype).poison();
        patchifyBackward(dyTok.t, H, W, { patch: P, out: dx });
        expect(Array.from(await dx.read())).toEqual(Array.from(patchifyBackwardRef(dyTok.stored, F, C, H, W, P)));

        const dyImg = upload(device, normal(n, n + 1), [F, C, H, W], dtype);
        const dt = Tensor.empty(device, [F, h * w, P * P * C], dtype).poison();
        unpatchifyBackward(dyImg.t, { patch: P, out: dt });
        expect(Array.from(await dt.read())).toEqual(Array.from(unpatchifyBackwardRef(dyImg.stored, F, h, w, C, P)));
      });
    }
  }

  it('refuses shapes that do not fit', () => {
    expect(() => patchifyBackward(Tensor.zeros(device, [1, 6, 8]), 4, 4)).toThrow(/does not come from frames of 4x4/);
    expect(() => patchifyBackward(Tensor.zeros(device, [1, 4, 8]), 3, 4)).toThrow(/multiples of the patch size/);
    expect(() => unpatchifyBackward(Tensor.zeros(device, [1, 2, 3, 4]))).toThrow(/multiples of the patch size/);
  });
});
