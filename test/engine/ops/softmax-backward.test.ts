// Softmax backward from the saved output against the float64 backward reference: every row variant, f32 and f16,
// the last axis and other axes, awkward lengths (1, 3, 67, 1543), poisoned outputs, shape errors.

import { describe, expect, it } from 'vitest';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { softmaxBackward } from '../../../engine/ops/softmax-backward.js';
import { softmaxBackwardRef, softmaxRef } from '../../../engine/ops/softmax.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

describe('softmaxBackward', () => {
  for (const v of variants<RowSpec>('softmax_backward', device)) {
    for (const dtype of dtypes) {
      for (const [shape, axis] of [[[5, 1], -1], [[130, 3], -1], [[7, 67], -1], [[2, 1543], -1], [[4, 5, 6], 1], [[3, 9, 2], 0]] as const) {
        // The strided path ignores the variant: run it once.
        if (axis !== -1 && v !== variants<RowSpec>('softmax_backward', device)[0]) continue;
        it(`${v.name} ${dtype} [${shape.join(', ')}] axis ${axis}`, async () => {
          const n = (shape as readonly number[]).reduce((a, b) => a * b, 1);
          const x = normal(n, n, 2);
          const y = upload(device, softmaxRef(x, shape, axis), [...shape], dtype);
          const dy = upload(device, normal(n, n + 1), [...shape], dtype);
          const out = Tensor.empty(device, [...shape], dtype).poison();
          softmaxBackward(y.t, dy.t, axis, { out, variant: v.name });
          const k = shape[axis < 0 ? axis + shape.length : axis]!;
          expectClose(await out.read(), softmaxBackwardRef(x, dy.stored, shape, axis), tol(dtype, Math.max(4, k / 64)), 'dx');
        });
      }
    }
  }

  it('refuses bad shapes', () => {
    const y = Tensor.zeros(device, [4, 6]);
    expect(() => softmaxBackward(y, Tensor.zeros(device, [4, 5]))).toThrow(/must have the shape of y/);
    expect(() => softmaxBackward(y, Tensor.zeros(device, [4, 6]), 2)).toThrow(/out of range/);
    expect(() => softmaxBackward(y, Tensor.zeros(device, [4, 6]), -1, { out: y })).toThrow(/must not alias/);
  });
});
