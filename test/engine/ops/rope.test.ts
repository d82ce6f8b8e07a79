// RoPE against the float64 rotation: frame axis of [F, S, D] (Vchitect temporal), middle axes, window-local and
// arbitrary positions, u32/f32 positions, in-place, f16, shape errors; both variants (PARALLAX_KERNEL_ROPE: a thread
// per pair, a thread per row), and the same bits from both on the training's temporal shape.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rope } from '../../../engine/ops/rope.js';
import { ropeRef } from '../../../engine/ops/rope.ref.js';
import type { DType } from '../../../engine/dtype.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
// f32 angle pos*freq (pos up to ~300 here): its rounding, not the rotation, dominates the error.
const tolFor = (dtype: DType) => (dtype === 'f16' ? tol('f16') : { rtol: 2e-5, atol: 3e-5 });

describe('rope', () => {
  for (const variant of ['rope_interleaved', 'rope_rows']) describe(variant, () => {
    beforeAll(() => { process.env.PARALLAX_KERNEL_ROPE = variant; });
    afterAll(() => { delete process.env.PARALLAX_KERNEL_ROPE; });
    for (const dtype of dtypes) {
      it(`${dtype} along the frame axis of [F, S, H*hd] (u32 positions)`, async () => {
        const device = await testDevice();
        const shape = [5, 7, 3 * 8];
        const x = upload(device, normal(size(shape), 1), shape, dtype);
        const pos = [0, 1, 2, 3, 4];
        const out = Tensor.empty(device, shape, dtype).poison();
        rope(x.t, { headDim: 8, positions: Tensor.from(device, new Uint32Array(pos), [5], 'u32'), axis: 0, out });
        expectClose(await out.read(), ropeRef(x.stored, shape, 8, pos, 0), tolFor(dtype), 'frame axis');
      });

      it(`${dtype} along a middle axis with arbitrary f32 positions, theta 1e4, in place`, async () => {
        const device = await testDevice();
        const shape = [2, 3, 11, 2 * 6];
        const x = upload(device, normal(size(shape), 2), shape, dtype);
        const pos = [7, 0, 300.5];
        rope(x.t, { headDim: 6, positions: pos, axis: 1, theta: 1e4, inPlace: true });
        expectClose(await x.t.read(), ropeRef(x.stored, shape, 6, pos, 1, 1e4), tolFor(dtype), 'in place');
      });
    }

    it('defaults to the axis before the last and length-1 axes work', async () => {
      const device = await testDevice();
      const shape = [1, 9, 4];
      const x = upload(device, normal(size(shape), 3), shape, 'f32');
      const pos = Array.from({ length: 9 }, (_, i) => 2 * i + 1);
      const got = await rope(x.t, { headDim: 2, positions: pos }).read();
      expectClose(got, ropeRef(x.stored, shape, 2, pos, 1), tolFor('f32'), 'default axis');
    });
  });

  it('both variants give the same bits (a [8, 48, 64] stream along the frame axis, 4 heads of 16, forward and inverse)', async () => {
    const device = await testDevice();
    const shape = [8, 48, 64];
    const x = upload(device, normal(size(shape), 5), shape, 'f32');
    const run = async (variant: string, inverse: boolean) => {
      process.env.PARALLAX_KERNEL_ROPE = variant;
      try {
        return new Uint32Array((await rope(x.t, { headDim: 16, positions: [0, 1, 2, 3, 4, 5, 6, 7], axis: 0, inverse }).read()).buffer);
      } finally {
        delete process.env.PARALLAX_KERNEL_ROPE;
      }
    };
    for (const inverse of [false, true]) expect(await run('rope_rows', inverse)).toEqual(await run('rope_interleaved', inverse));
  });

  it('names an unknown forced variant', async () => {
    const device = await testDevice();
    process.env.PARALLAX_KERNEL_ROPE = 'rope_spiral';
    try {
      expect(() => rope(Tensor.zeros(device, [2, 4]), { headDim: 2, positions: [0, 1] })).toThrow(/unknown rope variant/);
    } finally {
      delete process.env.PARALLAX_KERNEL_ROPE;
    }
  });

  it('rejects bad shapes', async () => {
    const device = await testDevice();
    const x = Tensor.zeros(device, [3, 4, 12]);
    expect(() => rope(x, { headDim: 5, positions: [0, 1, 2, 3] })).toThrow(/even and divide/);
    expect(() => rope(x, { headDim: 6, positions: [0, 1, 2] })).toThrow(/positions must be 4/);
    expect(() => rope(x, { headDim: 6, positions: [0, 1, 2], axis: 2 })).toThrow(/other than the last/);
  });
});
