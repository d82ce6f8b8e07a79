// conv2d backward (dX transposed convolution, dW correlation, db) and the nearest-2x upsample backward against the
// float64 backward references: f32 and f16, 3x3 / 1x1 kernels, stride 2 with the encoder's asymmetric padding, the
// decoder's fused upsample, [Cin, H, W] inputs, odd sizes, poisoned outputs, bit-identical reruns.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { conv2dBackward, upsampleNearest2xBackward } from '../../../engine/ops/conv2d-backward.js';
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
];

describe('conv2dBackward', () => {
  for (const dtype of dtypes) {
    for (const c of CASES) {
      it(`${c.name} ${dtype}`, async () => {
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
        conv2dBackward(x.t, w.t, dy.t, { stride: c.stride, padding: c.pad, upsample: c.upsample, bias: true, dx, grads, blockRows: 3 });
        const a: Conv2dRefArgs = { N: c.N, Cin: c.Cin, H: c.H, W: c.W, Cout: c.Cout, KH: c.K, KW: c.K, stride: c.stride, ...c.pad, upsample: c.upsample };
        const want = conv2dBackwardRef(x.stored, w.stored, dy.stored, a);
        const sum = (n: number, dt: DType) => tol(dt, Math.max(4, n / 16));
        expectClose(await dx.read(), want.dx, sum(c.Cout * c.K * c.K * up * up, dtype), 'dx');
        expectClose(await grads.weight.read(), want.dw, sum(c.N * Ho * Wo, 'f32'), 'dw');
        expectClose(await grads.bias.read(), want.db, sum(c.N * Ho * Wo, 'f32'), 'db');
      });
    }
  }

  it('reruns bit for bit and accumulates', async () => {
    const x = upload(device, normal(2 * 3 * 11 * 9, 1), [2, 3, 11, 9], 'f32');
    const w = upload(device, normal(4 * 3 * 9, 2), [4, 3, 3, 3], 'f32');
    const dy = upload(device, normal(2 * 4 * 11 * 9, 3), [2, 4, 11, 9], 'f32');
    const run = async () => {
      const r = conv2dBackward(x.t, w.t, dy.t, { padding: 1, bias: true });
      return Promise.all([r.dx!, r.dweight, r.dbias!].map(async (t) => new Uint8Array(await t.readRaw())));
    };
    const [a, b] = [await run(), await run()];
    for (let i = 0; i < 3; i++) expect(Buffer.compare(a[i]!, b[i]!)).toBe(0);
    const prior = normal(4 * 3 * 9, 4);
    const weight = Tensor.from(device, prior, [4, 3, 3, 3]);
    const r = conv2dBackward(x.t, w.t, dy.t, { padding: 1, grads: { weight }, accumulate: true, skipDx: true });
    expect(r.dx).toBeUndefined();
    const want = conv2dBackwardRef(x.stored, w.stored, dy.stored, { N: 2, Cin: 3, H: 11, W: 9, Cout: 4, KH: 3, KW: 3, stride: 1, ...p(1) });
    expectClose(await weight.read(), want.dw.map((g, i) => g + prior[i]!), tol('f32', 16), 'dw +=');
  });

  it('refuses a dy that is not the forward output', () => {
    const x = Tensor.zeros(device, [1, 2, 4, 4]);
    const w = Tensor.zeros(device, [3, 2, 3, 3]);
    expect(() => conv2dBackward(x, w, Tensor.zeros(device, [1, 3, 4, 4]))).toThrow(/expected the forward's output f32\[1, 3, 2, 2\]/);
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
