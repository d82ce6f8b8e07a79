// RoPE backward (the rotation by the negative angle) against the float64 backward reference: f32 and f16, the frame
// axis and a middle axis, arbitrary positions, length-1 axes, poisoned outputs; and R^T R = I on the GPU.

import { describe, expect, it } from 'vitest';
import { rope, ropeBackward } from '../../../engine/ops/rope.js';
import { ropeBackwardRef } from '../../../engine/ops/rope.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

describe('ropeBackward', () => {
  for (const dtype of dtypes) {
    // [shape, headDim, axis]: the frame axis of [F, S, H*hd]; a middle axis; length-1 axes.
    for (const [shape, hd, axis] of [[[5, 3, 16], 8, 0], [[2, 7, 3, 12], 6, 1], [[1, 1, 2], 2, 0]] as const) {
      it(`${dtype} [${shape.join(', ')}] hd ${hd} axis ${axis}`, async () => {
        const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
        const dy = upload(device, normal(n, n, 1), [...shape], dtype);
        const pos = Array.from(uniform(shape[axis]!, n + 1, -40, 300), (v) => Math.round(v * 4) / 4);
        const out = Tensor.empty(device, [...shape], dtype).poison();
        ropeBackward(dy.t, { headDim: hd, positions: pos, axis, theta: 1e4, out });
        expectClose(await out.read(), ropeBackwardRef(dy.stored, shape, hd, pos, axis, 1e4), tol(dtype, 4), 'dx');
      });
    }
  }

  it('undoes the forward rotation (f32)', async () => {
    const x = upload(device, normal(4 * 6 * 8, 5), [4, 6, 8], 'f32');
    const opts = { headDim: 8, positions: [0, 3, 17, 250], axis: 0 };
    const back = await ropeBackward(rope(x.t, opts), opts).read();
    expectClose(back, x.stored, tol('f32', 4), 'R^T R x');
    expect(back.some((v, i) => v !== x.stored[i])).toBe(true);
  });
});
