// Softmax against the float64 reference: every row variant, f32 and f16, awkward widths, other axes (strided
// kernel), rows with huge values (max subtraction), poisoned outputs and shape errors.

import { describe, expect, it } from 'vitest';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { softmax } from '../../../engine/ops/softmax.js';
import { softmaxRef } from '../../../engine/ops/softmax.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

describe('softmax', () => {
  for (const v of variants<RowSpec>('softmax', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of [[1, 1], [5, 3], [130, 67], [3, 1543], [9, 40]] as const) {
        it(`${v.name} ${dtype} [${rows}, ${d}]`, async () => {
          const x = upload(device, normal(rows * d, rows * 7 + d, 3), [rows, d], dtype);
          const out = Tensor.empty(device, [rows, d], dtype).poison();
          softmax(x.t, -1, { out, variant: v.name });
          expectClose(await out.read(), softmaxRef(x.stored, [rows, d]), tol(dtype, 2), v.name);
        });
      }
    }
  }

  for (const dtype of dtypes) {
    it(`${dtype} along a middle and the first axis (strided kernel)`, async () => {
      const shape = [3, 17, 5];
      const x = upload(device, normal(3 * 17 * 5, 4, 2), shape, dtype);
      for (const axis of [1, 0, -2]) {
        const out = Tensor.empty(device, shape, dtype).poison();
        softmax(x.t, axis, { out });
        expectClose(await out.read(), softmaxRef(x.stored, shape, axis), tol(dtype, 2), `axis ${axis}`);
      }
    });
  }

  it('subtracts the row max: huge logits stay finite', async () => {
    const d = 260;
    const x = upload(device, normal(2 * d, 9, 5).map((z) => z + 500), [2, d], 'f32');
    const out = softmax(x.t);
    expectClose(await out.read(), softmaxRef(x.stored, [2, d]), tol('f32', 2), 'huge');
  });

  it('refuses bad axes and outputs', () => {
    const x = Tensor.zeros(device, [4, 6]);
    expect(() => softmax(x, 2)).toThrow(/axis 2 is out of range/);
    expect(() => softmax(x, -1, { out: Tensor.zeros(device, [4, 5]) })).toThrow(/must match x/);
  });
});
