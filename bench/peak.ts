// Measures the adapter's practical compute peak (f32 FMA GFLOP/s) and memory bandwidth (copy GB/s), the
// denominators of the benchmark tables' "% of peak" columns.

import { u32, type Device } from '../engine/gpu/device.js';
import { grid2D } from '../engine/gpu/grid.js';
import { Tensor } from '../engine/tensor.js';
import { median } from './timing.js';

export interface Peaks {
  gflops: number;
  gbps: number;
}

export async function measurePeaks(device: Device): Promise<Peaks> {
  const threads = 256 * 256;
  const iters = 2048;
  const out = Tensor.empty(device, [threads]);
  const fma = () =>
    device.dispatch({ op: 'peak_fma', kernel: 'peak', entry: 'fma_main', defines: { FMA: true }, params: [u32(iters)], bindings: [out], workgroups: grid2D(threads / 256) });
  fma();
  await device.sync();
  const tf: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    fma();
    await device.sync();
    tf.push(performance.now() - t0);
  }
  const gflops = (threads * iters * 16) / (median(tf) * 1e6);

  const n4 = (64 << 20) / 16;
  const src = Tensor.zeros(device, [n4 * 4]);
  const dst = Tensor.empty(device, [n4 * 4]);
  const copy = () =>
    device.dispatch({ op: 'peak_copy', kernel: 'peak', entry: 'copy_main', defines: { FMA: false }, params: [u32(n4)], bindings: [src, dst], workgroups: grid2D(Math.ceil(n4 / 256)) });
  copy();
  await device.sync();
  const tc: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    copy();
    await device.sync();
    tc.push(performance.now() - t0);
  }
  const gbps = (2 * n4 * 16) / (median(tc) * 1e6);
  [out, src, dst].forEach((t) => t.dispose());
  return { gflops, gbps };
}
