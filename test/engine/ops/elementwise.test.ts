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

  it('clamp and clamp_backward with lo < hi: values inside, outside and exactly on both bounds (scalar and vec4 paths)', async () => {
    const device = await testDevice();
    for (const n of [13, 16]) {
      const x = Float32Array.from(normal(n, 5 + n), (v) => 2 * v);
      x[0] = -0.5; x[1] = 0.75; x[2] = -3; x[3] = 3; x[4] = 0.25; // bounds, both sides, inside
      const dy = Float32Array.from(normal(n, 6 + n));
      const xt = Tensor.from(device, x, [n]);
      const dyt = Tensor.from(device, dy, [n]);
      const out = Tensor.empty(device, [n]).poison();
      elementwise('clamp', [xt], { alpha: -0.5, beta: 0.75, out });
      expect(Array.from(await out.read())).toEqual(Array.from(elementwiseRef('clamp', [x], -0.5, 0.75), Math.fround));
      elementwise('clamp_backward', [xt, dyt], { alpha: -0.5, beta: 0.75, out });
      const g = await out.read();
      expect(Array.from(g)).toEqual(Array.from(elementwiseRef('clamp_backward', [x, dy], -0.5, 0.75), Math.fround));
      expect([g[0], g[1], g[2], g[3]]).toEqual([dy[0], dy[1], 0, 0]);
      for (const t of [xt, dyt, out]) t.dispose();
    }
  });

  it('refuses inputs that do not broadcast', async () => {
    const device = await testDevice();
    const a = Tensor.zeros(device, [4, 6]);
    const b = Tensor.zeros(device, [5]);
    expect(() => elementwise('add', [a, b])).toThrow(/does not broadcast/);
  });
});
