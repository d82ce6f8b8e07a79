// linear() with row windows (xRows: read rows of each item of [B, R, K]; outRows: write into rows of each item of
// [B, R, N], e.g. the visual and text parts of the joint text+video buffer): against the float64 reference, the rows
// outside the window untouched, and bit-identical to linear + slice / concat (the model relies on it).

import { describe, expect, it } from 'vitest';
import { linearRef } from '../../../engine/ops/linear.ref.js';
import { concat, slice } from '../../../engine/ops/layout.js';
import { linear, rowWindowFits } from '../../../engine/ops/linear.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDevice, testDTypes, upload } from '../../helpers/gpu.js';
import { uniform } from '../../helpers/random.js';

describe('linear row windows', () => {
  it('writes x @ w^T + b into row windows of every item (poisoned first: every row written by exactly the two windows)', async () => {
    const d = await testDevice();
    for (const dtype of await testDTypes()) {
      // N = 64 (f32) / 128 (f16) keeps the text window's byte offset 256-aligned; K, rows and items are awkward.
      const N = dtype === 'f32' ? 64 : 128;
      const [B, L, T, K] = [3, 13, 5, 37];
      const xv = upload(d, uniform(B * L * K, 1), [B, L, K], dtype);
      const xt = upload(d, uniform(B * T * K, 2), [B, T, K], dtype);
      const w = upload(d, uniform(N * K, 3, -0.3, 0.3), [N, K], dtype);
      const b = upload(d, uniform(N, 4), [N], dtype);
      const joint = Tensor.empty(d, [B, L + T, N], dtype).poison();
      expect(rowWindowFits(joint, { offset: L, rows: T })).toBe(true);
      linear(xv.t, w.t, b.t, { out: joint, outRows: { offset: 0, rows: L } });
      linear(xt.t, w.t, b.t, { out: joint, outRows: { offset: L, rows: T } });
      const got = await joint.read();
      const refV = linearRef({ x: xv.stored, w: w.stored, bias: b.stored, M: B * L, K, N });
      const refT = linearRef({ x: xt.stored, w: w.stored, bias: b.stored, M: B * T, K, N });
      const want = new Float64Array(B * (L + T) * N);
      for (let i = 0; i < B; i++) {
        want.set(refV.subarray(i * L * N, (i + 1) * L * N), i * (L + T) * N);
        want.set(refT.subarray(i * T * N, (i + 1) * T * N), (i * (L + T) + L) * N);
      }
      expectClose(got, want, tol(dtype, K), `${dtype} joint`);
      // Bit-identical to two linears and a concat.
      const cat = concat([linear(xv.t, w.t, b.t), linear(xt.t, w.t, b.t)], 1);
      expect(Buffer.from(await joint.readRaw()).equals(Buffer.from(await cat.readRaw()))).toBe(true);
      [xv.t, xt.t, w.t, b.t, joint, cat].forEach((t) => t.dispose());
    }
  });

  it('reads a row window of x (with a residual), bit-identical to slice + linear', async () => {
    const d = await testDevice();
    for (const dtype of await testDTypes()) {
      const K = dtype === 'f32' ? 64 : 128;
      const [B, L, T, N] = [2, 11, 6, 29];
      const x = upload(d, uniform(B * (L + T) * K, 5), [B, L + T, K], dtype);
      const w = upload(d, uniform(N * K, 6, -0.3, 0.3), [N, K], dtype);
      const r = upload(d, uniform(B * T * N, 7), [B, T, N], dtype);
      const win = { offset: L, rows: T };
      expect(rowWindowFits(x.t, win)).toBe(true);
      const y = linear(x.t, w.t, undefined, { xRows: win, residual: { x: r.t }, epilogue: 'gelu_tanh' });
      expect(y.shape).toEqual([B, T, N]);
      const xs = slice(x.t, 1, L, L + T);
      const y2 = linear(xs, w.t, undefined, { residual: { x: r.t }, epilogue: 'gelu_tanh' });
      expect(Buffer.from(await y.readRaw()).equals(Buffer.from(await y2.readRaw()))).toBe(true);
      const xsv = new Float64Array(B * T * K);
      for (let i = 0; i < B; i++) xsv.set(x.stored.subarray((i * (L + T) + L) * K, (i + 1) * (L + T) * K), i * T * K);
      expectClose(await y.read(), linearRef({ x: xsv, w: w.stored, M: B * T, K, N, epilogue: 'gelu_tanh', residual: r.stored }), tol(dtype, K), `${dtype} xRows`);
      [x.t, w.t, r.t, y, xs, y2].forEach((t) => t.dispose());
    }
  });

  it('refuses windows it cannot bind, naming the fix', async () => {
    const d = await testDevice();
    const x = Tensor.zeros(d, [2, 5, 3]);
    const w = Tensor.zeros(d, [4, 3]);
    expect(rowWindowFits(x, { offset: 1, rows: 2 })).toBe(false); // 12-byte offset
    expect(() => linear(x, w, undefined, { xRows: { offset: 1, rows: 2 } })).toThrow(/rowWindowFits\(\).*slice\/concat/);
    expect(() => linear(x, w, undefined, { outRows: { offset: 0, rows: 5 } })).toThrow(/outRows needs `out`/);
    [x, w].forEach((t) => t.dispose());
  });
});
