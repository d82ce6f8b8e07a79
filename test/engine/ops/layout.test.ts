// Layout ops against float64 references: permutes of ranks 1-5, slices (token split), concat, broadcast, padding,
// gather rows; f32/f16/u32, length-1 axes, poisoned outputs, shape errors; every strided-copy variant
// (PARALLAX_KERNEL_LAYOUT: one thread per element, one per innermost row).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcastTo, concat, gatherRows, padAxis, permute, slice, splitTokens, transpose } from '../../../engine/ops/layout.js';
import { broadcastRef, concatRef, gatherRowsRef, padRef, permuteRef, sliceRef } from '../../../engine/ops/layout.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

describe('layout', () => {
  it('registers its variants', async () => {
    expect(variants('layout', await testDevice()).map((v) => v.name)).toEqual(expect.arrayContaining(['layout_strided', 'layout_rows']));
  });

  it('names an unknown forced variant', async () => {
    const device = await testDevice();
    process.env.PARALLAX_KERNEL_LAYOUT = 'layout_diagonal';
    try {
      expect(() => permute(Tensor.zeros(device, [2, 3]), [1, 0])).toThrow(/unknown layout variant \(layout_strided or layout_rows\)/);
    } finally {
      delete process.env.PARALLAX_KERNEL_LAYOUT;
    }
  });

  for (const variant of ['layout_strided', 'layout_rows']) describe(variant, () => {
    beforeAll(() => { process.env.PARALLAX_KERNEL_LAYOUT = variant; });
    afterAll(() => { delete process.env.PARALLAX_KERNEL_LAYOUT; });
    for (const dtype of dtypes) {
      it(`permute ${dtype} (ranks 1-5, length-1 axes)`, async () => {
        const device = await testDevice();
        const cases: [number[], number[]][] = [
          [[7], [0]], [[5, 3], [1, 0]], [[3, 1, 5, 7], [2, 0, 3, 1]], [[2, 3, 4, 5], [3, 2, 1, 0]], [[2, 3, 5, 7, 2], [0, 2, 1, 3, 4]],
          [[3, 4, 2, 5], [0, 2, 1, 3]],
        ];
        for (const [shape, perm] of cases) {
          const x = upload(device, normal(size(shape), shape.length + perm[0]!), shape, dtype);
          const out = Tensor.empty(device, perm.map((p) => shape[p]!), dtype).poison();
          permute(x.t, perm, out);
          expectClose(await out.read(), permuteRef(x.stored, shape, perm), tol(dtype), `permute ${shape} by ${perm}`);
        }
        const x = upload(device, normal(3 * 5 * 2, 9), [3, 5, 2], dtype);
        expectClose(await transpose(x.t, 0, -1).read(), permuteRef(x.stored, [3, 5, 2], [2, 1, 0]), tol(dtype), 'transpose');
      });

      it(`slice, splitTokens and concat ${dtype}`, async () => {
        const device = await testDevice();
        const shape = [3, 11, 5];
        const x = upload(device, normal(size(shape), 21), shape, dtype);
        for (const [axis, s, e] of [[0, 1, 3], [1, 4, 11], [2, 2, 3], [1, 0, 0]] as const) {
          const outShape = shape.map((d, i) => (i === axis ? e - s : d));
          const out = Tensor.empty(device, outShape, dtype).poison();
          slice(x.t, axis, s, e, out);
          expectClose(await out.read(), sliceRef(x.stored, shape, axis, s, e), tol(dtype), `slice ${axis} ${s}:${e}`);
        }
        const [vis, txt] = splitTokens(x.t, 7);
        expect(vis.shape).toEqual([3, 7, 5]);
        expectClose(await txt.read(), sliceRef(x.stored, shape, 1, 7, 11), tol(dtype), 'text part');
        for (const axis of [0, 1, 2]) {
          const parts = [2, 1, 3].map((k, j) => {
            const s = shape.map((d, i) => (i === axis ? k : d));
            return { ...upload(device, normal(size(s), 40 + j), s, dtype), shape: s };
          });
          const outShape = shape.map((d, i) => (i === axis ? 6 : d));
          const out = Tensor.empty(device, outShape, dtype).poison();
          concat(parts.map((p) => p.t), axis, out);
          expectClose(await out.read(), concatRef(parts.map((p) => ({ data: p.stored, shape: p.shape })), axis), tol(dtype), `concat ${axis}`);
        }
      });

      it(`broadcastTo and padAxis ${dtype}`, async () => {
        const device = await testDevice();
        for (const [from, to] of [[[1, 7, 5], [4, 7, 5]], [[7, 1], [3, 7, 6]], [[5], [2, 3, 5]], [[1, 1], [1, 1]]] as const) {
          const x = upload(device, normal(size([...from]), 3), [...from], dtype);
          const out = Tensor.empty(device, [...to], dtype).poison();
          broadcastTo(x.t, to, out);
          expectClose(await out.read(), broadcastRef(x.stored, from, to), tol(dtype), `broadcast ${from} -> ${to}`);
        }
        for (const [shape, axis, n] of [[[7, 6], 1, 13], [[3, 2, 5], 0, 4], [[3, 2, 5], 1, 2], [[2, 3], 1, 8]] as const) {
          const x = upload(device, normal(size([...shape]), 5), [...shape], dtype);
          const outShape = shape.map((d, i) => (i === axis ? n : d));
          const out = Tensor.empty(device, outShape, dtype).poison();
          padAxis(x.t, axis, n, out);
          expectClose(await out.read(), padRef(x.stored, shape, axis, n), tol(dtype), `pad ${shape} axis ${axis} -> ${n}`);
        }
      });

      it(`gatherRows ${dtype} (ids out of range give zeros)`, async () => {
        const device = await testDevice();
        const V = 13, D = 37;
        const table = upload(device, normal(V * D, 8), [V, D], dtype);
        const idList = [3, 0, 12, 3, 99, 7, 1];
        const ids = Tensor.from(device, new Uint32Array(idList), [7], 'u32');
        const out = Tensor.empty(device, [7, D], dtype).poison();
        gatherRows(table.t, ids, out);
        expectClose(await out.read(), gatherRowsRef(table.stored, V, D, idList), tol(dtype), 'gather');
      });
    }

  });

  it('copies u32 tensors exactly', async () => {
    const device = await testDevice();
    const data = Uint32Array.from({ length: 60 }, (_, i) => (i * 2654435761) >>> 0);
    const x = Tensor.from(device, data, [3, 4, 5], 'u32');
    const got = new Uint32Array(await permute(x, [2, 0, 1]).readRaw());
    expect(Array.from(got)).toEqual(Array.from(permuteRef(data, [3, 4, 5], [2, 0, 1])));
  });

  it('rejects bad shapes', async () => {
    const device = await testDevice();
    const x = Tensor.zeros(device, [2, 3, 4]);
    expect(() => permute(x, [0, 0, 1])).toThrow(/not a permutation/);
    expect(() => slice(x, 1, 2, 5)).toThrow(/invalid for axis 1 of size 3/);
    expect(() => slice(x, 3, 0, 1)).toThrow(/axis 3 out of range/);
    expect(() => concat([x, Tensor.zeros(device, [2, 4, 4])], 0)).toThrow(/does not match/);
    expect(() => broadcastTo(x, [2, 5, 4])).toThrow(/cannot broadcast/);
    expect(() => padAxis(x, 2, 3)).toThrow(/smaller/);
    expect(() => gatherRows(x.reshape([6, 4]), Tensor.zeros(device, [2]))).toThrow(/ids must be u32/);
    expect(() => permute(x, [2, 1, 0], Tensor.zeros(device, [4, 3, 3]))).toThrow(/expected f32\[4, 3, 2\]/);
  });
});
