// conv2d backward (dX transposed convolution, dW correlation, db) and the nearest-2x upsample backward against the
// float64 backward references: f32 and f16, 3x3 / 1x1 kernels, stride 2 with the encoder's asymmetric padding, the
// decoder's fused upsample, [Cin, H, W] inputs, odd sizes, poisoned outputs, bit-identical reruns; every dX variant
// (conv2d_dx_conv where it applies: strides 1, 2, 3; conv2d_dx_direct) and dW variant (conv2d_dw_gemm with small and default pixel
// blocks, conv2d_dw_direct), on channel counts that are not multiples of the 16-channel and 64-tap blocks.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { conv2dBackward, dxConvApplies, upsampleNearest2xBackward } from '../../../engine/ops/conv2d-backward.js';
import { variants } from '../../../engine/ops/registry.js';
import type { Padding } from '../../../engine/ops/conv2d.js';
import { conv2dBackwardRef, upsampleNearest2xBackwardRef, type Conv2dRefArgs } from '../../../engine/ops/conv2d.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

interface Case { name: string; N: number; Cin: number; H: number; W: number; Cout: number; K: number; stride: number; pad: Padding; upsample?: boolean; rank3?: boolean }
const p = (v: number): Padding => ({ top: v, bottom: v, left: v, right: v });
const CASES: Case[] = [
  { name: '3x3 pad 1', N: 2, Cin: 3, H: 5, W: 7, Cout: 4, K: 3, stride: 1, pad: p(1) },
  { name: 'stride 2, pad (0, 1, 0, 1)', N: 1, Cin: 2, H: 9, W: 6, Cout: 3, K: 3, stride: 2, pad: { top: 0, bottom: 1, left: 0, right: 1 } },
  { name: 'upsample + 3x3 pad 1', N: 2, Cin: 2, H: 3, W: 4, Cout: 3, K: 3, stride: 1, pad: p(1), upsample: true },
  { name: '1x1, [Cin, H, W]', N: 1, Cin: 5, H: 4, W: 3, Cout: 6, K: 1, stride: 1, pad: p(0), rank3: true },
  { name: '3x3 pad 1, 18 -> 33 channels (partial tiles)', N: 2, Cin: 18, H: 5, W: 6, Cout: 33, K: 3, stride: 1, pad: p(1) },
  { name: 'upsample, 33 -> 17 channels', N: 1, Cin: 33, H: 3, W: 5, Cout: 17, K: 3, stride: 1, pad: p(1), upsample: true },
  { name: 'stride 3, pad 1, 20 -> 6 channels', N: 2, Cin: 20, H: 8, W: 7, Cout: 6, K: 3, stride: 3, pad: p(1) },
  { name: '3x3 pad (0, 2, 2, 0)', N: 1, Cin: 3, H: 6, W: 5, Cout: 5, K: 3, stride: 1, pad: { top: 0, bottom: 2, left: 2, right: 0 } },
];
const DX = variants('conv2d_backward_dx', device).map((v) => v.name);
const DW = variants('conv2d_backward_dw', device).map((v) => v.name);
// The dW variants with the block size each is tried at (small blocks: several partials to add in order).
const DW_RUNS = DW.map((v) => ({ v, opt: v === 'conv2d_dw_gemm' ? { chunk: 16 } : { blockRows: 3 } }));

describe('conv2dBackward', () => {
  it('has a tiled and a direct variant of dX and dW', () => {
    expect(DX).toEqual(expect.arrayContaining(['conv2d_dx_conv', 'conv2d_dx_direct']));
    expect(DW).toEqual(expect.arrayContaining(['conv2d_dw_gemm', 'conv2d_dw_direct']));
  });
  for (const dtype of dtypes) {
    // Each case: every dW variant once, paired with the dX variants in turn (conv2d_dx_conv only where it applies).
    for (const c of CASES) for (const [i, dw] of DW_RUNS.entries()) {
      const dxs = DX.filter((v) => v !== 'conv2d_dx_conv' || dxConvApplies(c.pad, c.K, c.K));
      const dxv = dxs[i % dxs.length]!;
      it(`${c.name} ${dtype} ${dxv} ${dw.v} ${JSON.stringify(dw.opt)}`, async () => {
        const up = c.upsample ? 2 : 1;
        const Ho = Math.floor((c.H * up + c.pad.top + c.pad.bottom - c.K) / c.stride) + 1;
        const Wo = Math.floor((c.W * up + c.pad.left + c.pad.right - c.K) / c.stride) + 1;
        const xShape = c.rank3 ? [c.Cin, c.H, c.W] : [c.N, c.Cin, c.H, c.W];
        const yShape = c.rank3 ? [c.Cout, Ho, Wo] : [c.N, c.Cout, Ho, Wo];
        const seed = c.H * 10 + c.W;
        const x = upload(device, normal(c.N * c.Cin * c.H * c.W, seed), xShape, dtype);
        const w = upload(device, normal(c.Cout * c.Cin * c.K * c.K, seed + 1, 0.5), [c.Cout, c.Cin, c.K, c.K], dtype);
        const dy = upload(device, normal(c.N * c.Cout * Ho * Wo, seed + 2), yShape, dtype);
        const dx = Tensor.empty(device, xShape, dtype).poison();
        const grads = { weight: Tensor.empty(device, [c.Cout, c.Cin, c.K, c.K]).poison(), bias: Tensor.empty(device, [c.Cout]).poison() };
        conv2dBackward(x.t, w.t, dy.t, { stride: c.stride, padding: c.pad, upsample: c.upsample, bias: true, dx, grads, dxVariant: dxv, dwVariant: dw.v, ...dw.opt });
        const a: Conv2dRefArgs = { N: c.N, Cin: c.Cin, H: c.H, W: c.W, Cout: c.Cout, KH: c.K, KW: c.K, stride: c.stride, ...c.pad, upsample: c.upsample };
        const want = conv2dBackwardRef(x.stored, w.stored, dy.stored, a);
        const sum = (n: number, dt: DType) => tol(dt, Math.max(4, n / 16));
        expectClose(await dx.read(), want.dx, sum(c.Cout * c.K * c.K * up * up, dtype), 'dx');
        expectClose(await grads.weight.read(), want.dw, sum(c.N * Ho * Wo, 'f32'), 'dw');
        expectClose(await grads.bias.read(), want.db, sum(c.N * Ho * Wo, 'f32'), 'db');
      });
    }
  }

  it('dW of conv2d_dw_gemm on more pixels than one default block (several blocks, last one partial)', async () => {
    // 2 x 23 x 13 = 598 pixels: dwChunk gives 256-pixel blocks, the third one partial.
    const x = upload(device, normal(2 * 3 * 23 * 13, 5), [2, 3, 23, 13], 'f32');
    const w = upload(device, normal(5 * 3 * 9, 6), [5, 3, 3, 3], 'f32');
    const dy = upload(device, normal(2 * 5 * 23 * 13, 7), [2, 5, 23, 13], 'f32');
    const weight = Tensor.empty(device, [5, 3, 3, 3]).poison();
    conv2dBackward(x.t, w.t, dy.t, { padding: 1, skipDx: true, grads: { weight }, dwVariant: 'conv2d_dw_gemm' });
    const want = conv2dBackwardRef(x.stored, w.stored, dy.stored, { N: 2, Cin: 3, H: 23, W: 13, Cout: 5, KH: 3, KW: 3, stride: 1, ...p(1) });
    expectClose(await weight.read(), want.dw, tol('f32', 598 / 16), 'dw');
  });

  for (const [dxv, dwv] of [['conv2d_dx_conv', 'conv2d_dw_gemm'], ['conv2d_dx_direct', 'conv2d_dw_direct']]) it(`reruns bit for bit and accumulates (${dxv}, ${dwv})`, async () => {
    const x = upload(device, normal(2 * 3 * 11 * 9, 1), [2, 3, 11, 9], 'f32');
    const w = upload(device, normal(4 * 3 * 9, 2), [4, 3, 3, 3], 'f32');
    const dy = upload(device, normal(2 * 4 * 11 * 9, 3), [2, 4, 11, 9], 'f32');
    const run = async () => {
      const r = conv2dBackward(x.t, w.t, dy.t, { padding: 1, bias: true, dxVariant: dxv, dwVariant: dwv, chunk: 32 });
      return Promise.all([r.dx!, r.dweight, r.dbias!].map(async (t) => new Uint8Array(await t.readRaw())));
    };
    const [a, b] = [await run(), await run()];
    for (let i = 0; i < 3; i++) expect(Buffer.compare(a[i]!, b[i]!)).toBe(0);
    const prior = normal(4 * 3 * 9, 4);
    const weight = Tensor.from(device, prior, [4, 3, 3, 3]);
    const r = conv2dBackward(x.t, w.t, dy.t, { padding: 1, grads: { weight }, accumulate: true, skipDx: true, dwVariant: dwv });
    expect(r.dx).toBeUndefined();
    const want = conv2dBackwardRef(x.stored, w.stored, dy.stored, { N: 2, Cin: 3, H: 11, W: 9, Cout: 4, KH: 3, KW: 3, stride: 1, ...p(1) });
    expectClose(await weight.read(), want.dw.map((g, i) => g + prior[i]!), tol('f32', 16), 'dw +=');
  });

  it('refuses a dy that is not the forward output', () => {
    const x = Tensor.zeros(device, [1, 2, 4, 4]);
    const w = Tensor.zeros(device, [3, 2, 3, 3]);
    expect(() => conv2dBackward(x, w, Tensor.zeros(device, [1, 3, 4, 4]))).toThrow(/expected the forward's output f32\[1, 3, 2, 2\]/);
  });

  it('refuses conv2d_dx_conv with padding over kernel - 1 and a bad dW block size', () => {
    const x = Tensor.zeros(device, [1, 2, 4, 4]);
    const w = Tensor.zeros(device, [3, 2, 3, 3]);
    expect(() => conv2dBackward(x, w, Tensor.zeros(device, [1, 3, 8, 8]), { padding: 3, dxVariant: 'conv2d_dx_conv' })).toThrow(/needs top \/ left padding <= kernel - 1.*use conv2d_dx_direct/);
    expect(() => conv2dBackward(x, w, Tensor.zeros(device, [1, 3, 4, 4]), { padding: 1, chunk: 20, dwVariant: 'conv2d_dw_gemm' })).toThrow(/chunk must be a multiple of 16/);
  });
});

describe('upsampleNearest2xBackward', () => {
  for (const dtype of dtypes) {
    it(`${dtype} [2, 3, 5, 7] -> [2, 3, 10, 14] backward`, async () => {
      const dy = upload(device, normal(2 * 3 * 10 * 14, 9), [2, 3, 10, 14], dtype);
      const out = Tensor.empty(device, [2, 3, 5, 7], dtype).poison();
      upsampleNearest2xBackward(dy.t, out);
      expectClose(await out.read(), upsampleNearest2xBackwardRef(dy.stored, 6, 5, 7), tol(dtype, 2), 'dx');
    });
  }
  it('refuses odd sizes', () => {
    expect(() => upsampleNearest2xBackward(Tensor.zeros(device, [3, 4, 5]))).toThrow(/even last two axes/);
  });
});
