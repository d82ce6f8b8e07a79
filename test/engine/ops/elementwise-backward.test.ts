// Elementwise backwards (silu', gelu_tanh', modulate, gated add), the linear epilogue backward (activation and gated
// residual, dgate per gate group) and the deterministic column sums under them, against float64 references: f32 and
// f16, awkward sizes (odd widths, several partial blocks, one-row groups), poisoned outputs, bit-identical reruns.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { columnSums } from '../../../engine/ops/colsum.js';
import { gatedAddBackward, geluTanhBackward, linearBiasBackward, linearEpilogueBackward, modulateBackward, siluBackward } from '../../../engine/ops/elementwise-backward.js';
import { geluTanhGradRef, geluTanhRef, siluGradRef, siluRef } from '../../../engine/ops/elementwise.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import type { Epilogue } from '../../../engine/ops/matmul.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
/** Sums over `rows` rows in f32 (inputs possibly f16-stored, results f32). */
const sumTol = (rows: number) => tol('f32', Math.max(4, rows / 8));

/** Float64 column sums of a [rows, m] (times b) per item. */
function colSumsRef(a: ArrayLike<number>, m: number, b?: ArrayLike<number>, items = 1): Float64Array {
  const rows = a.length / m;
  const out = new Float64Array(items * m);
  for (let r = 0; r < rows; r++) {
    const it = Math.floor(r / (rows / items));
    for (let c = 0; c < m; c++) out[it * m + c] += a[r * m + c]! * (b ? b[r * m + c]! : 1);
  }
  return out;
}

describe('activation backwards', () => {
  for (const dtype of dtypes) {
    for (const shape of [[37], [5, 12], [3, 7, 9]]) {
      it(`silu / gelu_tanh ${dtype} [${shape.join(', ')}]`, async () => {
        const n = shape.reduce((a, b) => a * b, 1);
        const x = upload(device, normal(n, n, 3), shape, dtype);
        const dy = upload(device, normal(n, n + 1), shape, dtype);
        for (const [fn, grad, name] of [[siluBackward, siluGradRef, 'silu'], [geluTanhBackward, geluTanhGradRef, 'gelu_tanh']] as const) {
          const out = Tensor.empty(device, shape, dtype).poison();
          fn(x.t, dy.t, out);
          expectClose(await out.read(), x.stored.map((v, i) => dy.stored[i]! * grad(v)), tol(dtype, 2), name);
        }
      });
    }
  }
});

describe('modulate and gated add backwards', () => {
  for (const dtype of dtypes) {
    for (const [f, r, d] of [[3, 7, 37], [1, 130, 12], [2, 1, 5]] as const) {
      it(`${dtype} [${f}, ${r}, ${d}] with [${d}] and [${r}, ${d}] broadcasts`, async () => {
        const n = f * r * d;
        const x = upload(device, normal(n, d + r, 2), [f, r, d], dtype);
        const dy = upload(device, normal(n, d + r + 1), [f, r, d], dtype);
        for (const m of [d, r * d]) {
          const s = upload(device, normal(m, m, 0.3), [m], dtype);
          const mg = modulateBackward(x.t, s.t, dy.t);
          expectClose(await mg.dx.read(), dy.stored.map((g, i) => g * (1 + s.stored[i % m]!)), tol(dtype, 2), 'modulate dx');
          expect(mg.dscale.shape).toEqual([m]);
          expectClose(await mg.dscale.read(), colSumsRef(dy.stored, m, x.stored), sumTol(n / m), 'dscale');
          expectClose(await mg.dshift.read(), colSumsRef(dy.stored, m), sumTol(n / m), 'dshift');

          const ga = gatedAddBackward(s.t, x.t, dy.t);
          expect(ga.dx).toBe(dy.t);
          expectClose(await ga.dy.read(), dy.stored.map((g, i) => g * s.stored[i % m]!), tol(dtype, 2), 'gated dy');
          expectClose(await ga.dgate.read(), colSumsRef(dy.stored, m, x.stored), sumTol(n / m), 'dgate');
        }
      });
    }
  }
});

describe('linear epilogue backward', () => {
  const EPILOGUES: Epilogue[] = ['none', 'gelu_tanh', 'silu'];
  for (const dtype of dtypes) {
    for (const ep of EPILOGUES) {
      // [M, K, N, gate groups]: several 64-row blocks per group, one-row groups, N not a multiple of 64.
      for (const [M, K, N, G] of [[150, 5, 67, 2], [6, 3, 9, 6], [1, 4, 1, 1]] as const) {
        it(`${ep} ${dtype} M=${M} N=${N} gate groups ${G}`, async () => {
          const seed = M + N + G;
          const x = normal(M * K, seed);
          const w = normal(N * K, seed + 1, 0.5);
          const bias = normal(N, seed + 2, 0.3);
          const z64 = linearRef({ x, w, bias, M, K, N });
          const z = upload(device, z64, [M, N], dtype);
          const dy = upload(device, normal(M * N, seed + 3), [M, N], dtype);
          const gate = upload(device, normal(G * N, seed + 4), [G, N], dtype);
          const act = ep === 'gelu_tanh' ? geluTanhRef : ep === 'silu' ? siluRef : (v: number) => v;
          const actGrad = ep === 'gelu_tanh' ? geluTanhGradRef : ep === 'silu' ? siluGradRef : () => 1;
          const gi = (i: number) => Math.floor(Math.floor(i / N) / (M / G)) * N + (i % N);

          const dz = Tensor.empty(device, [M, N], dtype).poison();
          const dgate = Tensor.empty(device, [G, N]).poison();
          linearEpilogueBackward(dy.t, z.t, { epilogue: ep, gate: gate.t, dz, dgate, blockRows: 64 });
          const dzWant = dy.stored.map((g, i) => g * gate.stored[gi(i)]! * actGrad(z.stored[i]!));
          expectClose(await dz.read(), dzWant, tol(dtype, 4), 'dz');
          const dgWant = new Float64Array(G * N);
          dy.stored.forEach((g, i) => { dgWant[gi(i)] += g * act(z.stored[i]!); });
          expectClose(await dgate.read(), dgWant, sumTol(M / G), 'dgate');

          // Against the linear's own backward reference (f32 storage: its z is the float64 one).
          if (dtype === 'f32') {
            const ref = linearBackwardRef({ x, w, bias, M, K, N, epilogue: ep, residual: new Float64Array(M * N), gate: gate.stored, gateRows: M / G }, dy.stored);
            expectClose(await dgate.read(), ref.dgate!, sumTol(M / G), 'dgate vs linearBackwardRef');
            const db = Tensor.empty(device, [N]).poison();
            linearBiasBackward(dz, { out: db, blockRows: 16 });
            expectClose(await db.read(), ref.db, sumTol(M), 'db vs linearBackwardRef');
          }

          // No gate: dz = dy * act'(z).
          dz.poison();
          const r = linearEpilogueBackward(dy.t, z.t, { epilogue: ep, dz });
          expect(r.dgate).toBeUndefined();
          expectClose(await dz.read(), dy.stored.map((g, i) => g * actGrad(z.stored[i]!)), tol(dtype, 4), 'dz no gate');
        });
      }
    }
  }

  it('refuses a gate that does not divide the rows', () => {
    const dy = Tensor.zeros(device, [6, 4]);
    expect(() => linearEpilogueBackward(dy, dy, { gate: Tensor.zeros(device, [4, 4]) })).toThrow(/G dividing the 6 rows/);
    expect(() => linearEpilogueBackward(dy, Tensor.zeros(device, [6, 5]))).toThrow(/must have the shape/);
  });
});

describe('columnSums', () => {
  it('sums per item into an offset, strided, accumulated output', async () => {
    const [rows, d, items] = [99, 13, 3];
    const a = upload(device, normal(rows * d, 1), [rows, d], 'f32');
    const prior = normal(items * 20, 2);
    const out = Tensor.from(device, prior, [items, 20]);
    columnSums(a.t, { items, out, outOffset: 4, outStride: 20, accumulate: true, blockRows: 7 });
    const want = Float64Array.from(prior);
    const sums = colSumsRef(a.stored, d, undefined, items);
    for (let it = 0; it < items; it++) for (let c = 0; c < d; c++) want[4 + it * 20 + c] += sums[it * d + c]!;
    expectClose(await out.read(), want, sumTol(rows), 'accumulated');
    expect(() => columnSums(a.t, { items: 4 })).toThrow(/4 items must divide the 99 rows/);
  });

  it('gives bit-identical sums run to run, f16 inputs included', async () => {
    for (const dtype of dtypes as DType[]) {
      const a = upload(device, normal(5000 * 7, 3), [5000, 7], dtype);
      const b = upload(device, normal(5000 * 7, 4), [5000, 7], dtype);
      const run = async () => new Uint8Array(await columnSums(a.t, { b: b.t, items: 2 }).readRaw());
      expect(Buffer.compare(await run(), await run())).toBe(0);
    }
  });
});
