// conv2d timing on the local adapter (not a test): pipeline compile time of the first call, then GFLOP/s of every
// registered variant at VAE sizes. Run: node --import tsx bench/conv2d.ts [--quick] [--only VARIANTS] [--dtype f16]

import { Device } from '../engine/gpu/device.js';
import { conv2d, type Conv2dSpec } from '../engine/ops/conv2d.js';
import { variants } from '../engine/ops/registry.js';
import { Tensor } from '../engine/tensor.js';
import type { DType } from '../engine/dtype.js';
import { parseBenchArgs } from './cli.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/conv2d.ts',
  summary: 'conv2d 3x3 at VAE sizes: first-call (compile) time, then GFLOP/s of every registered variant. Writes no file.',
  options: {
    quick: { type: 'boolean', help: 'one small shape, one run' },
    only: { type: 'string', value: 'VARIANTS', help: 'comma-separated variant names (default: all)' },
    variant: { type: 'string', value: 'NAME', help: 'one variant (same as --only NAME)' },
    dtype: { type: 'string', value: 'f32|f16', help: 'one dtype (default: f32 and f16 where supported)' },
  },
});
const opt = (name: string) => args.str(name.replace(/^--/, ''));
const quick = args.flag('quick');
const device = await Device.create({ label: 'bench' });
const sizes: [number, number, number, number][] = quick ? [[64, 27, 48, 64]] : [[128, 108, 192, 128], [512, 54, 96, 512]];
const dtypes: DType[] = opt('--dtype') ? [opt('--dtype') as DType] : device.f16 ? ['f32', 'f16'] : ['f32'];
const only = args.list('only') ?? args.list('variant');
console.log(`adapter: ${device.adapter.description || device.adapter.vendor} (${device.adapter.architecture ?? ''})`);
for (const v of variants<Conv2dSpec>('conv2d', device)) {
  if (only && !only.includes(v.name)) continue;
  for (const dtype of dtypes) {
    for (const [C, H, W, Co] of sizes) {
      const x = Tensor.zeros(device, [1, C, H, W], dtype);
      const w = Tensor.zeros(device, [Co, C, 3, 3], dtype);
      const b = Tensor.zeros(device, [Co], dtype);
      const out = Tensor.empty(device, [1, Co, H, W], dtype);
      let t0 = performance.now();
      conv2d(x, w, { bias: b, padding: 1, out, variant: v.name });
      await device.sync();
      const first = performance.now() - t0;
      const iters = quick || (2 * Co * C * 9 * H * W) / 1e9 > 5 ? 1 : 3;
      t0 = performance.now();
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < iters; i++) conv2d(x, w, { bias: b, padding: 1, out, variant: v.name });
      await device.sync();
      const ms = (performance.now() - t0) / iters;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6 / iters;
      const gflop = (2 * Co * C * 9 * H * W) / 1e9;
      // On a shared CPU (lavapipe) wall time depends on the load: GFLOP per CPU-second of this process is steadier.
      console.log(`${v.name.padEnd(16)} ${dtype} [${C}, ${H}, ${W}] -> ${Co}: first call ${first.toFixed(0)} ms, ${ms.toFixed(1)} ms/run, ` +
        `${(gflop / (ms / 1e3)).toFixed(2)} GFLOP/s wall, ${(gflop / cpuS).toFixed(2)} GFLOP per CPU-s`);
      for (const t of [x, w, b, out]) t.dispose();
    }
  }
}
device.destroy();
process.exit(0);
