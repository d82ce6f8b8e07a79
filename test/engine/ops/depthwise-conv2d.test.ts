// depthwiseConv2d (channels last) against its float64 reference: k3 / k5, stride 1 / 2 with timm's symmetric
// padding, odd sizes and channel counts off every power of two, batch 2, fused bias + SiLU, asymmetric padding,
// f16 where the adapter has it, and shape errors. Outputs are poisoned first (unwritten elements read as NaN).

import { describe, expect, it } from 'vitest';
import { depthwiseConv2d, symmetricPadding } from '../../../engine/ops/depthwise-conv2d.js';
import { depthwiseConv2dRef } from '../../../engine/ops/depthwise-conv2d.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

const sym = (k: number, s: number) => {
  const p = symmetricPadding(k, s);
  return { top: p, bottom: p, left: p, right: p };
};
const cases = [
  { name: 'k3 s1, batch 2, 7 channels', N: 2, H: 9, W: 11, C: 7, K: 3, stride: 1, pad: sym(3, 1), act: 'silu' as const },
  { name: 'k3 s2 odd size', N: 1, H: 13, W: 10, C: 37, K: 3, stride: 2, pad: sym(3, 2), act: 'none' as const },
  { name: 'k5 s1', N: 1, H: 6, W: 7, C: 65, K: 5, stride: 1, pad: sym(5, 1), act: 'silu' as const },
  { name: 'k5 s2, batch 3', N: 3, H: 11, W: 9, C: 5, K: 5, stride: 2, pad: sym(5, 2), act: 'silu' as const },
  { name: 'k5 on a 2x3 image (mostly padding)', N: 1, H: 2, W: 3, C: 3, K: 5, stride: 1, pad: sym(5, 1), act: 'none' as const },
  { name: 'k3 s2 asymmetric pad (0,1,0,1)', N: 1, H: 8, W: 7, C: 6, K: 3, stride: 2, pad: { top: 0, bottom: 1, left: 0, right: 1 }, act: 'none' as const },
];

describe('depthwiseConv2d', () => {
  it('pads as PyTorch does for timm efficientnet_b3a (not TF "same")', () => {
    expect([symmetricPadding(3, 1), symmetricPadding(3, 2), symmetricPadding(5, 1), symmetricPadding(5, 2)]).toEqual([1, 1, 2, 2]);
  });
  for (const dtype of dtypes) {
    for (const c of dtype === 'f16' ? cases.slice(0, 2) : cases) {
      it(`${dtype} ${c.name}`, async () => {
        const Ho = Math.floor((c.H + c.pad.top + c.pad.bottom - c.K) / c.stride) + 1;
        const Wo = Math.floor((c.W + c.pad.left + c.pad.right - c.K) / c.stride) + 1;
        const x = upload(device, normal(c.N * c.H * c.W * c.C, c.C + c.K), [c.N, c.H, c.W, c.C], dtype);
        const w = upload(device, normal(c.K * c.K * c.C, 7 * c.C, 1 / c.K), [c.K, c.K, c.C], dtype);
        const b = upload(device, normal(c.C, 3), [c.C], dtype);
        const out = Tensor.empty(device, [c.N, Ho, Wo, c.C], dtype).poison();
        depthwiseConv2d(x.t, w.t, { bias: b.t, stride: c.stride, padding: c.pad, act: c.act, out });
        const want = depthwiseConv2dRef(x.stored, w.stored, { N: c.N, H: c.H, W: c.W, C: c.C, KH: c.K, KW: c.K, stride: c.stride, ...c.pad, bias: b.stored, act: c.act });
        expectClose(await out.read(), want, tol(dtype, dtype === 'f16' ? 1 : 5), c.name);
        for (const t of [x.t, w.t, b.t, out]) t.dispose();
      });
    }
  }

  it('takes [H, W, C] without bias; numeric padding', async () => {
    const x = upload(device, normal(5 * 6 * 3, 1), [5, 6, 3], 'f32');
    const w = upload(device, normal(9 * 3, 2), [3, 3, 3], 'f32');
    const got = depthwiseConv2d(x.t, w.t, { padding: 1, stride: 2 });
    expect(got.shape).toEqual([3, 3, 3]);
    const want = depthwiseConv2dRef(x.stored, w.stored, { N: 1, H: 5, W: 6, C: 3, KH: 3, KW: 3, stride: 2, top: 1, bottom: 1, left: 1, right: 1 });
    expectClose(await got.read(), want, tol('f32', 5), 'rank 3');
  });

  it('rejects bad shapes', () => {
    const x = Tensor.zeros(device, [1, 5, 5, 4]);
    expect(() => depthwiseConv2d(x, Tensor.zeros(device, [3, 3, 5]))).toThrow(/weight must be \[KH, KW, 4\]/);
    expect(() => depthwiseConv2d(x, Tensor.zeros(device, [7, 7, 4]))).toThrow(/gives no output/);
    expect(() => depthwiseConv2d(x, Tensor.zeros(device, [3, 3, 4]), { bias: Tensor.zeros(device, [3]) })).toThrow(/bias is f32\[3\], expected f32\[4\]/);
    expect(() => depthwiseConv2d(x, Tensor.zeros(device, [3, 3, 4]), { stride: 0 })).toThrow(/stride must be a positive integer/);
    expect(() => depthwiseConv2d(Tensor.zeros(device, [4, 5]), Tensor.zeros(device, [3, 3, 5]))).toThrow(/channels last/);
    expect(() => depthwiseConv2d(x, Tensor.zeros(device, [3, 3, 4]), { padding: 1, out: Tensor.zeros(device, [1, 4, 5, 4]) })).toThrow(/out is f32\[1, 4, 5, 4\], expected f32\[1, 5, 5, 4\]/);
  });
});
