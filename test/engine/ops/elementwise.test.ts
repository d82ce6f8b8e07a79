// Elementwise ops against the float64 reference: every op, f32 and f16, awkward sizes and broadcasts.

import { describe, expect, it } from 'vitest';
import { ELEMENTWISE_ARITY, ELEMENTWISE_EXPR, elementwise, type ElementwiseOp } from '../../../engine/ops/elementwise.js';
import { elementwiseRef } from '../../../engine/ops/elementwise.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();

describe('elementwise', () => {
  for (const dtype of dtypes) {
    // [3, 7, 37] takes the scalar path; [5, 3, 12] the vec4 path (all sizes multiples of 4).
    for (const [f, r, d] of [[3, 7, 37], [5, 3, 12]] as const) {
    for (const op of Object.keys(ELEMENTWISE_EXPR) as ElementwiseOp[]) {
      it(`${op} ${dtype} [${f},${r},${d}]`, async () => {
        const device = await testDevice();
        const shape = [f, r, d];
        const n = f * r * d;
        const arity = ELEMENTWISE_ARITY[op];
        const sizes = [n, d, r * d].slice(0, arity);
        const ins = sizes.map((s, i) => upload(device, normal(s, 11 + i + op.length), i === 0 ? shape : [s], dtype));
        const out = Tensor.empty(device, shape, dtype).poison();
        elementwise(op, ins.map((x) => x.t), { alpha: 0.75, beta: -0.5, out });
        const got = await out.read();
        const want = elementwiseRef(op, ins.map((x) => x.stored), 0.75, -0.5);
        expectClose(got, want, tol(dtype, op === 'exp' ? 4 : 1), `${op} ${dtype}`);
      });
    }
    }
  }

  it('covers a grid folded into two dimensions', async () => {
    const device = await testDevice();
    const n = 256 * 70000 + 13;
    const a = Tensor.from(device, new Float32Array(n).fill(1.5), [n]);
    const out = elementwise('scale', [a], { alpha: 2, beta: 1 }).poison();
    elementwise('scale', [a], { alpha: 2, beta: 1, out });
    const got = await out.read();
    expect(got[0]).toBe(4);
    expect(got[n - 1]).toBe(4);
    expect(got.every((v) => v === 4)).toBe(true);
  });

  it('refuses inputs that do not broadcast', async () => {
    const device = await testDevice();
    const a = Tensor.zeros(device, [4, 6]);
    const b = Tensor.zeros(device, [5]);
    expect(() => elementwise('add', [a, b])).toThrow(/does not broadcast/);
  });
});
