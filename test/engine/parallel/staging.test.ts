// GPU <-> collective staging: all-to-all of packed [P, seg] tensors (chunked, double-buffered readback; odd f16
// segments take the whole-tensor path) and all-gather, on 3 ranks with one device each; byte and call counters.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { roundToF16, type DType } from '../../../engine/dtype.js';
import { Device } from '../../../engine/gpu/device.js';
import { readRanges, Stager } from '../../../engine/parallel/staging.js';
import { Tensor } from '../../../engine/tensor.js';
import { normal } from '../../helpers/random.js';

const N = 3;
let devices: Device[];
beforeAll(async () => {
  devices = await Device.createMany(N, { label: 'stage' });
});
afterAll(() => devices?.forEach((d) => d.destroy()));

const stored = (x: Float64Array, dtype: DType) => (dtype === 'f16' ? x.map(roundToF16) : Float64Array.from(x, Math.fround));

describe('Stager', () => {
  const cases: [DType, number, number][] = [['f32', 37, 1], ['f32', 37, 2], ['f32', 1001, 3], ['f32', 1, 2], ['f16', 37, 2], ['f16', 64, 3]];
  for (const [dtype, seg, chunks] of cases) {
    it(`allToAll ${dtype}, ${seg} elements per segment, ${chunks} chunk(s)`, async () => {
      const dev = devices[0]!;
      if (dtype === 'f16' && !dev.f16) return;
      const data = Array.from({ length: N }, (_, r) => stored(normal(N * seg, 1000 + r * 7 + seg), dtype));
      const world = createInProcessWorld(N);
      const res = await Promise.all(
        world.map(async (t, r) => {
          const st = new Stager(devices[r]!, ProcessGroup.world(t), { chunks });
          const x = Tensor.from(devices[r]!, data[r]!, [N, seg], dtype);
          const y = await st.allToAll(x);
          const got = await y.read();
          x.dispose();
          y.dispose();
          return { got, stats: st.stats, shape: y.shape };
        }),
      );
      res.forEach(({ got, stats, shape }, r) => {
        expect(shape).toEqual([N, seg]);
        for (let p = 0; p < N; p++) {
          for (let i = 0; i < seg; i++) {
            const want = data[p]![r * seg + i]!; // rank p's segment r
            if (got[p * seg + i] !== want) throw new Error(`rank ${r}: element ${i} from rank ${p} is ${got[p * seg + i]}, want ${want}`);
          }
        }
        const bytes = seg * (dtype === 'f16' ? 2 : 4);
        expect(stats.bytesSent).toBe((N - 1) * bytes);
        expect(stats.bytesReceived).toBe((N - 1) * bytes);
        expect(stats.allToAlls).toBeGreaterThanOrEqual(1);
      });
    });
  }

  it('allGather returns [P, ...shape] in rank order', async () => {
    const world = createInProcessWorld(N);
    const data = Array.from({ length: N }, (_, r) => stored(normal(2 * 5 * 3, 50 + r), 'f32'));
    const res = await Promise.all(
      world.map(async (t, r) => {
        const st = new Stager(devices[r]!, ProcessGroup.world(t));
        const y = await st.allGather(Tensor.from(devices[r]!, data[r]!, [2, 5, 3]));
        return { shape: y.shape, got: await y.read() };
      }),
    );
    for (const { shape, got } of res) {
      expect(shape).toEqual([N, 2, 5, 3]);
      expect(Array.from(got)).toEqual(data.flatMap((d) => Array.from(d)));
    }
  });

  it('readRanges copies several byte ranges into one host buffer and rejects unaligned ranges', async () => {
    const dev = devices[0]!;
    const x = Tensor.from(dev, Float32Array.from({ length: 20 }, (_, i) => i), [20]);
    const got = new Float32Array((await readRanges(dev, x.buffer, [{ offset: 40, bytes: 12 }, { offset: 4, bytes: 8 }])).buffer);
    expect(Array.from(got)).toEqual([10, 11, 12, 1, 2]);
    await expect(readRanges(dev, x.buffer, [{ offset: 2, bytes: 4 }])).rejects.toThrow(/not 4-byte aligned/);
  });
});
