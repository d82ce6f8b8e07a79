// conv2d (every registered variant) and nearest upsampling against float64 references: 3x3 pad 1, 1x1, the
// stride-2 asymmetric-padding downsample, kernel dilation (CRAFT's 3x3 dilation 6 and a strided dilated case), fused residual and fused upsampling, channel counts off the tile,
// batch > 1, f16, shape errors.

import { describe, expect, it } from 'vitest';
import { conv2d, upsampleNearest2x, type Conv2dSpec } from '../../../engine/ops/conv2d.js';
import { conv2dRef, upsampleNearest2xRef } from '../../../engine/ops/conv2d.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
// Few define combinations (each is a pipeline; cold compiles of the tiled kernels take seconds on lavapipe), but
// pixel and channel counts that straddle the 64 and 128 tiles, K not a multiple of 8 or 16, and batch 2.
const cases = [
  { name: '3x3 pad 1, batch 2', N: 2, Cin: 17, H: 9, W: 15, Cout: 70, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1 },
  { name: 'stride 2 pad (0,1,0,1)', N: 1, Cin: 6, H: 11, W: 8, Cout: 5, KH: 3, KW: 3, stride: 2, top: 0, bottom: 1, left: 0, right: 1 },
  { name: '1x1', N: 1, Cin: 33, H: 7, W: 3, Cout: 131, KH: 1, KW: 1, stride: 1, top: 0, bottom: 0, left: 0, right: 0 },
  { name: '1x1 single pixel', N: 1, Cin: 1, H: 1, W: 1, Cout: 1, KH: 1, KW: 1, stride: 1, top: 0, bottom: 0, left: 0, right: 0 },
  { name: '3x3 dilation 6 pad 6 (CRAFT fc6)', N: 1, Cin: 7, H: 13, W: 10, Cout: 67, KH: 3, KW: 3, stride: 1, top: 6, bottom: 6, left: 6, right: 6, dil: 6 },
  { name: '2x3 dilation 2 stride 2 pad (1,0,2,1)', N: 2, Cin: 3, H: 9, W: 11, Cout: 5, KH: 2, KW: 3, stride: 2, top: 1, bottom: 0, left: 2, right: 1, dil: 2 },
  { name: 'upsample + 3x3 + residual, batch 2', N: 2, Cin: 5, H: 5, W: 7, Cout: 70, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1, up: true, res: true },
];

describe('conv2d', () => {
  it('has at least two variants', () => {
    expect(variants('conv2d', device).length).toBeGreaterThanOrEqual(2);
  });
  for (const v of variants<Conv2dSpec>('conv2d', device)) {
    for (const dtype of dtypes) {
      // f16 reuses the f32 index math: test it on the cases that add defines (cold pipeline compiles are slow on lavapipe).
      for (const c of dtype === 'f16' ? cases.filter((k) => (k.res || k.stride === 2) && !k.dil) : cases) {
        it(`${v.name} ${dtype} ${c.name}`, async () => {
          const up = c.up ? 2 : 1;
          const d = c.dil ?? 1;
          const Ho = Math.floor((c.H * up + c.top + c.bottom - d * (c.KH - 1) - 1) / c.stride) + 1;
          const Wo = Math.floor((c.W * up + c.left + c.right - d * (c.KW - 1) - 1) / c.stride) + 1;
          const x = upload(device, normal(c.N * c.Cin * c.H * c.W, c.Cin), [c.N, c.Cin, c.H, c.W], dtype);
          const w = upload(device, normal(c.Cout * c.Cin * c.KH * c.KW, c.Cout, 1 / Math.sqrt(c.Cin * c.KH * c.KW)), [c.Cout, c.Cin, c.KH, c.KW], dtype);
          const b = upload(device, normal(c.Cout, 77), [c.Cout], dtype);
          const r = c.res ? upload(device, normal(c.N * c.Cout * Ho * Wo, 5), [c.N, c.Cout, Ho, Wo], dtype) : undefined;
          const out = Tensor.empty(device, [c.N, c.Cout, Ho, Wo], dtype).poison();
          conv2d(x.t, w.t, { bias: b.t, residual: r?.t, stride: c.stride, padding: c, upsample: c.up, dilation: c.dil, out, variant: v.name });
          const want = conv2dRef(x.stored, w.stored, { ...c, bias: b.stored, residual: r?.stored, upsample: c.up, dilation: c.dil });
          expectClose(await out.read(), want, tol(dtype, dtype === 'f16' ? 1 : 5), `${v.name} ${c.name}`);
        });
      }
    }
  }

  it('takes [Cin, H, W] without bias and symmetric numeric padding', async () => {
    const x = upload(device, normal(3 * 4 * 6, 1), [3, 4, 6], 'f32');
    const w = upload(device, normal(2 * 3 * 9, 2), [2, 3, 3, 3], 'f32');
    const got = conv2d(x.t, w.t, { padding: 1 });
    expect(got.shape).toEqual([2, 4, 6]);
    const want = conv2dRef(x.stored, w.stored, { N: 1, Cin: 3, H: 4, W: 6, Cout: 2, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1 });
    expectClose(await got.read(), want, tol('f32', 5), 'rank 3');
  });

  for (const dtype of dtypes) {
    it(`upsampleNearest2x ${dtype}`, async () => {
      const x = upload(device, normal(2 * 3 * 5 * 7, 4), [2, 3, 5, 7], dtype);
      const out = Tensor.empty(device, [2, 3, 10, 14], dtype).poison();
      upsampleNearest2x(x.t, out);
      expectClose(await out.read(), upsampleNearest2xRef(x.stored, 6, 5, 7), tol(dtype), 'upsample');
    });
  }

  it('rejects bad shapes', () => {
    const x = Tensor.zeros(device, [1, 4, 5, 5]);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 3, 3, 3]))).toThrow(/weight must be \[Cout, 4, KH, KW\]/);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 4, 7, 7]))).toThrow(/gives no output/);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 4, 3, 3]), { padding: 1, residual: Tensor.zeros(device, [1, 8, 4, 5]) })).toThrow(/residual is f32\[1, 8, 4, 5\], expected f32\[1, 8, 5, 5\]/);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 4, 3, 3]), { bias: Tensor.zeros(device, [7]) })).toThrow(/bias/);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 4, 3, 3]), { dilation: 3 })).toThrow(/dilation 3 .*gives no output/);
    expect(() => conv2d(x, Tensor.zeros(device, [8, 4, 3, 3]), { dilation: 0 })).toThrow(/dilation must be a positive integer/);
    expect(() => conv2d(Tensor.zeros(device, [4, 5]), Tensor.zeros(device, [8, 4, 1, 1]))).toThrow(/\[N, Cin, H, W\]/);
  });
});
