// linearBackward against linearBackwardRef (float64, checked against finite differences in backward.ref.test.ts):
// every epilogue, the gated residual, no bias, f32 and f16, awkward shapes, bit-identical reruns, bad arguments.
import { describe, expect, it } from 'vitest';
import { linear } from '../../../engine/ops/linear.js';
import { linearBackward } from '../../../engine/ops/linear-backward.js';
import { linearBackwardRef } from '../../../engine/ops/linear.ref.js';
import type { Epilogue } from '../../../engine/ops/matmul.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();

interface Case { B: number; L: number; K: number; N: number; epilogue: Epilogue; gated: boolean; bias: boolean }
const CASES: Case[] = [
  { B: 1, L: 7, K: 5, N: 3, epilogue: 'none', gated: false, bias: true },
  { B: 2, L: 19, K: 37, N: 29, epilogue: 'gelu_tanh', gated: false, bias: true },
  { B: 3, L: 11, K: 24, N: 33, epilogue: 'silu', gated: true, bias: true },
  { B: 2, L: 5, K: 65, N: 9, epilogue: 'none', gated: true, bias: false },
];

describe('linear backward', () => {
  for (const dtype of dtypes) {
    for (const c of CASES) {
      it(`${dtype} ${c.epilogue}${c.gated ? ' gated' : ''}${c.bias ? '' : ' no bias'} B=${c.B} L=${c.L} K=${c.K} N=${c.N}`, async () => {
        const { B, L, K, N } = c;
        const M = B * L;
        const x = upload(device, normal(M * K, 1), [B, L, K], dtype);
        const w = upload(device, normal(N * K, 2, 1 / Math.sqrt(K)), [N, K], dtype);
        const b = upload(device, normal(N, 3), [N], dtype);
        const gate = c.gated ? upload(device, normal(B * N, 4), [B, N], dtype) : undefined;
        const dy = upload(device, normal(M * N, 5), [B, L, N], dtype);
        // The forward's pre-activation z = x W^T + b, as the trainer saves it.
        const z = linear(x.t, w.t, c.bias ? b.t : undefined);
        const g = linearBackward(x.t, w.t, dy.t, { epilogue: c.epilogue, z: c.epilogue !== 'none' || c.gated ? z : undefined, gate: gate?.t, bias: c.bias });
        const want = linearBackwardRef({
          x: x.stored, w: w.stored, bias: c.bias ? b.stored : undefined, M, K, N, epilogue: c.epilogue,
          residual: c.gated ? new Float64Array(M * N) : undefined, gate: gate?.stored, gateRows: L,
        }, dy.stored);
        const t = tol(dtype, Math.max(1, Math.sqrt(Math.max(K, M)) / 2));
        expectClose(await g.dx.read(), want.dx, t, 'dx');
        expectClose(await g.dw.read(), want.dw, t, 'dw');
        expect(g.dw.dtype).toBe('f32');
        if (c.bias) expectClose(await g.db!.read(), want.db, t, 'db');
        else expect(g.db).toBeUndefined();
        if (c.gated) expectClose(await g.dgate!.read(), want.dgate!, t, 'dgate');
        // Bit-identical rerun.
        const g2 = linearBackward(x.t, w.t, dy.t, { epilogue: c.epilogue, z: c.epilogue !== 'none' || c.gated ? z : undefined, gate: gate?.t, bias: c.bias });
        expect(Buffer.from(await g2.dw.readRaw()).equals(Buffer.from(await g.dw.readRaw()))).toBe(true);
        expect(Buffer.from(await g2.dx.readRaw()).equals(Buffer.from(await g.dx.readRaw()))).toBe(true);
        for (const t2 of [x.t, w.t, b.t, gate?.t, dy.t, z, g.dx, g.dw, g.db, g.dgate, g2.dx, g2.dw, g2.db, g2.dgate]) t2?.dispose();
      });
    }
  }

  it('names what is wrong', () => {
    const x = Tensor.zeros(device, [4, 6]), w = Tensor.zeros(device, [3, 6]), dy = Tensor.zeros(device, [4, 3]);
    expect(() => linearBackward(x, Tensor.zeros(device, [3, 5]), dy)).toThrow(/must be \[N, K\] with K = x's last dim 6/);
    expect(() => linearBackward(x, w, Tensor.zeros(device, [4, 2]))).toThrow(/dy \[4, 2\] must be/);
    expect(() => linearBackward(x, w, dy, { epilogue: 'silu' })).toThrow(/needs the forward's pre-activation z/);
  });
});
