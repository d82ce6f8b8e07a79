// Reductions (sum, mean, max, l2norm) along the last axis and over everything against float64 references: every
// row variant, f32 and f16 inputs, awkward lengths, multi-pass full reductions, poisoned outputs, shape errors.

import { describe, expect, it } from 'vitest';
import { reduce, sum, type ReduceKind } from '../../../engine/ops/reduce.js';
import { reduceRef } from '../../../engine/ops/reduce.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
const KINDS: ReduceKind[] = ['sum', 'mean', 'max', 'l2norm'];

describe('reduce along the last axis', () => {
  for (const v of variants<RowSpec>('reduce', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of [[1, 1], [5, 3], [130, 67], [3, 1543], [6, 36]] as const) {
        it(`${v.name} ${dtype} [${rows}, ${d}]`, async () => {
          const x = upload(device, normal(rows * d, rows + d * 3, 2).map((z) => z + 0.3), [rows, d], dtype);
          // f16 inputs: mean (sum path + scale) and max; the full-reduction tests cover the other kinds in f16.
          for (const kind of dtype === 'f32' ? KINDS : (['mean', 'max'] as ReduceKind[])) {
            const out = Tensor.empty(device, rows === 1 ? [1] : [rows], 'f32').poison();
            reduce(kind, x.t, { out, variant: v.name });
            // f32 results of f16 inputs: only the summation order differs from float64.
            expectClose(await out.read(), reduceRef(kind, x.stored, d), tol('f32', Math.max(4, d / 64)), `${kind}`);
          }
        });
      }
    }
  }
});

describe('reduce over all elements', () => {
  for (const dtype of dtypes) {
    // 70001 elements (odd: scalar loads), 4 * 33000 (vec4, 9 partials -> second pass).
    for (const n of [70001, 132000]) {
      it(`${dtype} n = ${n}`, async () => {
        const x = upload(device, normal(n, n, 1).map((z) => z + 0.1), [n], dtype);
        for (const kind of KINDS) {
          const out = Tensor.empty(device, [1], 'f32').poison();
          reduce(kind, x.t, { axis: 'all', out });
          const want = reduceRef(kind, x.stored, n);
          // Sums of n terms of |x| ~ 1 vs a result of size ~ 0.1 n: error grows with n.
          expectClose(await out.read(), want, { rtol: 1e-5, atol: kind === 'sum' ? 1e-5 * n : 1e-5 }, `${kind}`);
        }
      });
    }
  }

  it('runs several passes with small chunks and writes an f16 result on request', async () => {
    for (const n of [1000, 1003]) {
      const x = upload(device, normal(n, 77), [n], 'f32');
      for (const kind of KINDS) {
        // 1000 / 4 = 250 loads -> 32 -> 4 -> 1 partials (4 passes); 1003 scalar: 126 -> 16 -> 2 -> 1.
        const got = await reduce(kind, x.t, { axis: 'all', chunkLoads: 8 }).read();
        expectClose(got, reduceRef(kind, x.stored, n), { rtol: 1e-5, atol: 1e-4 }, `${kind} ${n} multi-pass`);
      }
    }
    const small = upload(device, normal(50, 1), [5, 10], 'f32');
    const h = reduce('max', small.t, { dtype: device.f16 ? 'f16' : 'f32' });
    expectClose(await h.read(), reduceRef('max', small.stored, 10), tol(device.f16 ? 'f16' : 'f32'), 'f16 result');
  });

  it('refuses bad shapes', () => {
    expect(() => sum(Tensor.zeros(device, [3, 0]))).toThrow(/nothing to reduce/);
    expect(() => sum(Tensor.zeros(device, [3, 4]), { out: Tensor.zeros(device, [4]) })).toThrow(/must be f32\[3\]/);
  });
});
