// segmentNorms: the l2norm of every segment of one flat f32 buffer in a few dispatches, against float64 norms and
// bit for bit against reduce('l2norm') of each segment as its own tensor (every row variant, one- and multi-pass
// segments with small chunks, scalar and vec4 loads), writing only its slots of a poisoned output; bad segments.

import { describe, expect, it } from 'vitest';
import { reduce, segmentNorms, type FlatSegment } from '../../../engine/ops/reduce.js';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();

/** Segments of the given lengths packed in order, each starting at a multiple of 4, with junk in the gaps. */
function layout(lengths: number[]): { segs: FlatSegment[]; total: number } {
  const segs: FlatSegment[] = [];
  let at = 3; // junk before the first too
  for (const length of lengths) {
    at = Math.ceil(at / 4) * 4;
    segs.push({ offset: at, length });
    at += length + 1;
  }
  return { segs, total: at + 2 };
}

const norm64 = (x: Float32Array, s: FlatSegment) => {
  let acc = 0;
  for (let i = s.offset; i < s.offset + s.length; i++) acc += x[i]! * x[i]!;
  return Math.sqrt(acc);
};

describe('segmentNorms', () => {
  // 1, 3, 5: scalar; 4, 36, 64 x 64: vec4; 4097 and 9001: scalar over several chunks; 4 * 1030 and 16 * 300: vec4
  // over several chunks (with chunkLoads 256 below: three passes for 9001).
  const lengths = [1, 3, 4, 36, 5, 64 * 64, 4097, 9001, 4 * 1030, 16 * 300, 2];
  for (const v of variants<RowSpec>('reduce', device)) {
    for (const chunkLoads of [undefined, 256, 7]) {
      it(`${v.name}, chunks of ${chunkLoads ?? 'default'} loads`, async () => {
        const { segs, total } = layout(lengths);
        const host = Float32Array.from(normal(total, lengths.length + (chunkLoads ?? 0), 1.5), (z, i) => z + (i % 7) * 0.1);
        const flat = Tensor.from(device, host, [total], 'f32');
        const base = 2;
        const out = Tensor.empty(device, [segs.length + 4], 'f32').poison();
        segmentNorms(flat, segs, { out, outOffset: base, variant: v.name, chunkLoads });
        const got = await out.read();
        expect(Number.isNaN(got[0]!) && Number.isNaN(got[1]!) && Number.isNaN(got[base + segs.length]!), 'slots outside the output range stay untouched').toBe(true);
        for (const [i, s] of segs.entries()) {
          const want = norm64(host, s);
          expect(Math.abs(got[base + i]! - want) / want, `segment ${i} (length ${s.length}) against float64`).toBeLessThan(1e-5);
          const alone = Tensor.from(device, host.subarray(s.offset, s.offset + s.length), [s.length], 'f32');
          const r = reduce('l2norm', alone, { axis: 'all', variant: v.name, chunkLoads });
          const bits = new Uint32Array((await r.read()).buffer)[0];
          expect(new Uint32Array(got.buffer)[base + i], `segment ${i} (length ${s.length}): the same bits as reduce('l2norm') of it alone`).toBe(bits);
          alone.dispose(); r.dispose();
        }
        flat.dispose(); out.dispose();
      });
    }
  }

  it('returns a new f32[segments] tensor without out', async () => {
    const flat = Tensor.from(device, [3, 4, 0, 0, 1, 0, 0, 0], [8], 'f32');
    const r = segmentNorms(flat, [{ offset: 0, length: 2 }, { offset: 4, length: 4 }]);
    expect(r.shape).toEqual([2]);
    expect([...(await r.read())]).toEqual([5, 1]);
  });

  it('names bad segments and outputs', () => {
    const flat = Tensor.zeros(device, [10], 'f32');
    expect(() => segmentNorms(flat, [])).toThrow(/no segments/);
    expect(() => segmentNorms(flat, [{ offset: 8, length: 3 }])).toThrow(/segment 0 \[8, 11\) is empty or outside the 10 elements/);
    expect(() => segmentNorms(flat, [{ offset: 2, length: 0 }])).toThrow(/is empty/);
    expect(() => segmentNorms(flat, [{ offset: 2, length: 4 }])).toThrow(/divisible by 4 but starts at 2/);
    expect(() => segmentNorms(flat, [{ offset: 0, length: 1 }, { offset: 1, length: 1 }], { out: Tensor.empty(device, [2], 'f32'), outOffset: 1 })).toThrow(/no f32 room for 2 norms at 1/);
  });
});
