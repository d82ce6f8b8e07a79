// matmul against the float64 reference: every registered variant x dtype (incl. mixed f32 x f16) x layout on
// awkward shapes, every value of every tuning setting, batched and broadcast batches, the row/batch split path and
// shape errors.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { LimitExceededError, ShapeError } from '../../../engine/gpu/errors.js';
import { chooseMatmulVariant, matmul, matmulDefinesOf, matmulVariants } from '../../../engine/ops/matmul.js';
import { matmulRef } from '../../../engine/ops/matmul.ref.js';
import type { TuneSettings, TuneValue, Variant } from '../../../engine/ops/registry.js';
import { isCpuAdapter } from '../../../engine/ops/row-variants.js';
import type { Device } from '../../../engine/gpu/device.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dtypes = await testDTypes();
/** [a dtype, b dtype]: same-dtype pairs plus f32 activations with f16 weights. */
const pairs: [DType, DType][] = dtypes.includes('f16') ? [['f32', 'f32'], ['f16', 'f16'], ['f32', 'f16']] : [['f32', 'f32']];
/** [M, K, N]: every one of M = 1, 7, 65, 130; K = 1, 3, 67, 129; N = 1, 5, 63, 131, plus vec4-friendly sizes. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 3, 5], [65, 67, 63], [130, 129, 131], [1, 129, 5], [65, 1, 131], [130, 3, 1], [7, 67, 63],
  [1, 64, 132], [66, 128, 68],
];

/** f32 accumulation error grows like sqrt(K) relative to the result's scale. */
const tolFor = (dtype: DType, K: number) => tol(dtype, Math.max(1, Math.sqrt(K) / 4));

let seed = 1;
/** Every value each tuning parameter of a variant takes, on this adapter and on a GPU (so CPU runs cover GPU tiles too). */
function tuneValues(v: Variant): Record<string, TuneValue[]> {
  const p = v.tune?.params;
  if (!p) return {};
  const gpuLike = { ...device, adapter: { ...device.adapter, description: 'gpu', device: 'gpu', backend: 'vulkan', isFallbackAdapter: false } } as Device;
  const out: Record<string, TuneValue[]> = {};
  for (const space of typeof p === 'function' ? [p(device), p(gpuLike)] : [p]) {
    for (const [k, vals] of Object.entries(space)) out[k] = [...new Set([...(out[k] ?? []), ...vals])];
  }
  return out;
}

function run(variant: string, da: DType, db: DType, batchA: number, batchB: number, M: number, K: number, N: number, transposeB: boolean, extra: { maxBindingBytes?: number; settings?: TuneSettings } = {}) {
  const aShape = batchA ? [batchA, M, K] : [M, K];
  const bShape = batchB ? [batchB, ...(transposeB ? [N, K] : [K, N])] : transposeB ? [N, K] : [K, N];
  const a = upload(device, normal((batchA || 1) * M * K, seed++), aShape, da);
  const b = upload(device, normal((batchB || 1) * K * N, seed++), bShape, db);
  const outShape = [...(Math.max(batchA, batchB) ? [Math.max(batchA, batchB)] : []), M, N];
  const out = Tensor.empty(device, outShape, da).poison();
  matmul(a.t, b.t, { transposeB, variant, out, ...extra });
  const want = matmulRef(a.stored, b.stored, { batchA: batchA || 1, batchB: batchB || 1, M, K, N, transposeB });
  return { out, want, dispose: () => [a.t, b.t, out].forEach((t) => t.dispose()) };
}

describe('matmul', () => {
  for (const v of matmulVariants(device)) {
    for (const [da, db] of pairs) {
      for (const transposeB of [false, true]) {
        it(`${v.name} ${da}x${db} ${transposeB ? 'a@b^T' : 'a@b'} awkward shapes`, async () => {
          for (const [M, K, N] of SHAPES) {
            const r = run(v.name, da, db, 0, 0, M, K, N, transposeB);
            expectClose(await r.out.read(), r.want, tolFor(da === 'f16' || db === 'f16' ? 'f16' : 'f32', K), `${v.name} M=${M} K=${K} N=${N}`);
            r.dispose();
          }
        });
      }
      it(`${v.name} ${da}x${db} batched and broadcast`, async () => {
        const dt = da === 'f16' || db === 'f16' ? 'f16' : 'f32';
        for (const [bA, bB, tB] of [[3, 3, false], [3, 3, true], [1, 4, false], [4, 1, true], [0, 2, false], [2, 0, false], [1, 1, true]] as const) {
          const r = run(v.name, da, db, bA, bB, 9, 20, 13, tB);
          expectClose(await r.out.read(), r.want, tolFor(dt, 20), `${v.name} batchA=${bA} batchB=${bB}`);
          r.dispose();
        }
      });
    }
  }

  // Every value of every tuning setting (the CPU-adapter and the GPU spaces alike), one setting changed at a time.
  for (const v of matmulVariants(device)) {
    const space = tuneValues(v);
    for (const [k, vals] of Object.entries(space)) {
      for (const val of vals) {
        // The value the variant runs with anyway (its defines over the adapter's defaults) is the plain tests' case.
        if (matmulDefinesOf(v, device)[k] === val) continue;
        const settings = { [k]: val };
        if (v.tune?.valid && !v.tune.valid(settings, device)) continue;
        it(`${v.name} [${k}=${val}] a@b and a@b^T on awkward shapes${device.f16 ? ', f16' : ''}`, async () => {
          for (const [M, K, N, tB, dt] of [[65, 67, 63, true, 'f32'], [130, 129, 131, false, 'f32'], [66, 128, 68, true, 'f32'], [7, 68, 5, false, 'f16']] as const) {
            if (dt === 'f16' && !device.f16) continue;
            const r = run(v.name, dt, dt, 0, 0, M, K, N, tB, { settings });
            expectClose(await r.out.read(), r.want, tolFor(dt, K), `${v.name} ${k}=${val} M=${M} K=${K} N=${N}`);
            r.dispose();
          }
        });
      }
    }
  }

  it('picks gemv for M <= 4 on GPUs and the adapter kind\'s default otherwise', () => {
    const names = matmulVariants(device).map((v) => v.name);
    expect(names).toEqual(expect.arrayContaining(['matmul_tiled', 'matmul_naive', 'matmul_gemv', 'matmul_regs', 'matmul_tiled_km']));
    expect(chooseMatmulVariant(device, { M: 1, N: 1536, K: 1536, batch: 1, bNK: true }).variant.name).toBe(isCpuAdapter(device) ? 'matmul_regs' : 'matmul_gemv');
    expect(chooseMatmulVariant(device, { M: 1296, N: 1536, K: 1536, batch: 1, bNK: true }).variant.name).toBe(isCpuAdapter(device) ? 'matmul_regs' : 'matmul_tiled_km');
    expect(chooseMatmulVariant(device, { M: 1296, N: 1536, K: 1536, batch: 1, bNK: true }, 'matmul_tiled').source).toBe('forced');
  });

  it('splits a batched matmul whose operands exceed the binding limit', async () => {
    // a [4, 16, 32] f32 (2 KiB per item), b [4, 32, 8] (1 KiB per item); limit 1 KiB: per item, two 8-row chunks.
    const before = device.counters.dispatches;
    const r = run('matmul_tiled', 'f32', 'f32', 4, 4, 16, 32, 8, false, { maxBindingBytes: 1024 });
    expectClose(await r.out.read(), r.want, tolFor('f32', 32), 'split batched');
    expect(device.counters.dispatches - before).toBe(4 * 2);
    r.dispose();
  });

  it('refuses a split whose batch offsets cannot be aligned', () => {
    const a = Tensor.zeros(device, [3, 5, 7]);
    const b = Tensor.zeros(device, [3, 7, 5]);
    expect(() => matmul(a, b, { maxBindingBytes: 160 })).toThrow(LimitExceededError);
    expect(() => matmul(a, b, { maxBindingBytes: 160 })).toThrow(/not a multiple of 256/);
  });

  it('reports shape mismatches clearly', () => {
    const a = Tensor.zeros(device, [4, 6]);
    expect(() => matmul(a, Tensor.zeros(device, [5, 3]))).toThrow(ShapeError);
    expect(() => matmul(a, Tensor.zeros(device, [5, 3]))).toThrow(/inner dimensions differ \(a has K=6, b has K=5/);
    expect(() => matmul(a, Tensor.zeros(device, [6, 3]), { transposeB: true })).toThrow(/K=3 as its last dim/);
    expect(() => matmul(Tensor.zeros(device, [2, 4, 6]), Tensor.zeros(device, [3, 6, 2]))).toThrow(/batch dims \[2\] and \[3\] differ/);
    expect(() => matmul(Tensor.zeros(device, [6]), Tensor.zeros(device, [6, 2]))).toThrow(/at least 2 dims/);
    expect(() => matmul(a, Tensor.zeros(device, [6, 2], 'i32'))).toThrow(/dtype i32/);
  });
});
