// linear (x @ w^T + b, w stored [N, K]) against the float64 reference: every matmul variant x dtype x epilogue x
// residual/gate form on awkward shapes, the row-split path under a forced small binding limit, and shape errors.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { LimitExceededError, ShapeError } from '../../../engine/gpu/errors.js';
import { linear } from '../../../engine/ops/linear.js';
import { linearRef } from '../../../engine/ops/linear.ref.js';
import { matmulVariants, type Epilogue } from '../../../engine/ops/matmul.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();
/** [x dtype, w dtype]. */
const pairs: [DType, DType][] = dtypes.includes('f16') ? [['f32', 'f32'], ['f16', 'f16'], ['f32', 'f16']] : [['f32', 'f32']];
type GateForm = 'none' | 'residual' | 'gate[N]' | 'gate[B,N]';
/** [B, L, K, N]: x is [B, L, K] (M = B * L rows). */
const SHAPES: [number, number, number, number][] = [[1, 1, 1, 1], [1, 7, 3, 5], [3, 5, 67, 63], [2, 65, 129, 131], [2, 33, 64, 130], [5, 13, 1, 1], [1, 1, 68, 7]];

const tolFor = (dtype: DType, K: number) => tol(dtype, Math.max(1, Math.sqrt(K) / 4));
let seed = 100;

interface Case { B: number; L: number; K: number; N: number; dx: DType; dw: DType; epilogue: Epilogue; gate: GateForm; bias: boolean }

async function check(variant: string | undefined, c: Case, extra: { maxBindingBytes?: number } = {}): Promise<void> {
  const { B, L, K, N, dx, dw } = c;
  const M = B * L;
  const x = upload(device, normal(M * K, seed++), [B, L, K], dx);
  const w = upload(device, normal(N * K, seed++, 1 / Math.sqrt(K)), [N, K], dw);
  const bias = c.bias ? upload(device, normal(N, seed++), [N], dw) : undefined;
  const res = c.gate !== 'none' ? upload(device, normal(M * N, seed++), [B, L, N], dx) : undefined;
  const gShape = c.gate === 'gate[N]' ? [N] : [B, N];
  const gate = c.gate === 'gate[N]' || c.gate === 'gate[B,N]' ? upload(device, normal(gShape[0]! * (gShape[1] ?? 1), seed++), gShape, dx) : undefined;
  const out = Tensor.empty(device, [B, L, N], dx).poison();
  linear(x.t, w.t, bias?.t, { epilogue: c.epilogue, residual: res && { x: res.t, gate: gate?.t }, out, variant, ...extra });
  const want = linearRef({
    x: x.stored, w: w.stored, bias: bias?.stored, M, K, N, epilogue: c.epilogue,
    residual: res?.stored, gate: gate?.stored, gateRows: c.gate === 'gate[B,N]' ? L : M,
  });
  const label = `${variant ?? 'auto'} ${dx}x${dw} ${c.epilogue} ${c.gate} bias=${c.bias} B=${B} L=${L} K=${K} N=${N}`;
  expectClose(await out.read(), want, tolFor(dx === 'f16' || dw === 'f16' ? 'f16' : 'f32', K), label);
  for (const t of [x.t, w.t, bias?.t, res?.t, gate?.t, out]) t?.dispose();
}

describe('linear', () => {
  for (const v of matmulVariants(device)) {
    for (const [dx, dw] of pairs) {
      it(`${v.name} ${dx}x${dw}: every epilogue and gated-residual form, awkward shapes`, async () => {
        // Four cases cover the three epilogues and the four residual forms (each case is one pipeline to compile).
        const cases: [Epilogue, GateForm, boolean, number][] = [['none', 'none', true, 1], ['gelu_tanh', 'residual', true, 3], ['silu', 'gate[N]', false, 2], ['none', 'gate[B,N]', true, 4]];
        for (const [epilogue, gate, bias, shape] of cases) {
          for (const [B, L, K, N] of [SHAPES[shape]!, SHAPES[(shape + 2) % SHAPES.length]!]) {
            if (gate === 'gate[B,N]' && K % 4) continue;
            await check(v.name, { B, L, K, N, dx, dw, epilogue, gate, bias });
          }
        }
      });
    }
  }

  it('chooses a variant by shape when none is forced (M = 1 and M = 130)', async () => {
    await check(undefined, { B: 1, L: 1, K: 129, N: 65, dx: 'f32', dw: 'f32', epilogue: 'none', gate: 'none', bias: true });
    await check(undefined, { B: 2, L: 65, K: 64, N: 36, dx: 'f32', dw: 'f32', epilogue: 'none', gate: 'gate[B,N]', bias: true });
  });

  it('splits along rows when x, the residual or the output exceed the binding limit', async () => {
    for (const [dx, dw] of pairs) {
      for (const variant of matmulVariants(device).map((v) => v.name)) {
        // x [2, 45, 20]: rows of 80 B (f32) / 40 B (f16) need chunks of 16 / 32 rows for 256-byte offsets; limit 2 KiB -> 6 / 3 chunks.
        const before = device.counters.dispatches;
        await check(variant, { B: 2, L: 45, K: 20, N: 12, dx, dw, epilogue: 'none', gate: 'gate[B,N]', bias: true }, { maxBindingBytes: 2048 });
        expect(device.counters.dispatches - before).toBe(dx === 'f16' ? 3 : 6);
      }
    }
  });

  it('refuses what cannot be split, naming the limit', () => {
    const x = Tensor.zeros(device, [10, 8]);
    const w = Tensor.zeros(device, [64, 8]);
    expect(() => linear(x, w, undefined, { maxBindingBytes: 1024 })).toThrow(LimitExceededError);
    expect(() => linear(x, w, undefined, { maxBindingBytes: 1024 })).toThrow(/maxStorageBufferBindingSize.*weight/);
    const wide = Tensor.zeros(device, [4, 300]);
    const w2 = Tensor.zeros(device, [2, 300]);
    expect(() => linear(wide, w2, undefined, { maxBindingBytes: 2400 })).toThrow(/one aligned block of 32 rows needs more than 2400 bytes/);
  });

  it('reports shape mismatches clearly', () => {
    const x = Tensor.zeros(device, [2, 3, 8]);
    const w = Tensor.zeros(device, [5, 8]);
    expect(() => linear(x, Tensor.zeros(device, [8, 5]))).toThrow(/x's last dim K=8 must equal w's in-features \(dim 1\) 5/);
    expect(() => linear(x, Tensor.zeros(device, [5, 8, 1]))).toThrow(/w must be 2-D/);
    expect(() => linear(x, w, Tensor.zeros(device, [4]))).toThrow(/bias is \[4\], expected \[5\]/);
    expect(() => linear(x, w, undefined, { residual: { x: Tensor.zeros(device, [2, 3, 4]) } })).toThrow(/residual is \[2, 3, 4\], expected the output shape \[2, 3, 5\]/);
    expect(() => linear(x, w, undefined, { residual: { x: Tensor.zeros(device, [2, 3, 5]), gate: Tensor.zeros(device, [3, 5]) } })).toThrow(ShapeError);
    expect(() => linear(x, w, undefined, { residual: { x: Tensor.zeros(device, [2, 3, 5]), gate: Tensor.zeros(device, [3, 5]) } })).toThrow(/expected \[5\] or \[2, 5\]/);
    const r = Tensor.zeros(device, [2, 3, 5]);
    expect(() => linear(x, w, undefined, { residual: { x: r }, out: r })).toThrow(/share a buffer/);
  });
});
