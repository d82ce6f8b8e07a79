// `parallax demo`: the main job of a fresh checkout. Until the model pipeline lands it is a kernel showcase: it
// runs the engine's kernels at model-like shapes, checks each against its float64 reference and prints timings.

import type { Command } from 'commander';
import { Device } from '../../engine/gpu/device.js';
import { showcase } from '../showcase.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the kernel showcase on this machine\'s WebGPU adapter')
    .option('--dtype <dtype>', 'f32 or f16 (default: f16 when the adapter has it)')
    .action(async (opts: { dtype?: 'f32' | 'f16' }) => {
      const device = await Device.create({ label: 'demo' });
      const dtype = opts.dtype ?? (device.f16 ? 'f16' : 'f32');
      console.log(`Parallax kernel showcase on ${device.adapter.description || device.adapter.vendor} (${dtype})`);
      const rows = await showcase(device, dtype);
      for (const r of rows) {
        console.log(`  ${r.name.padEnd(44)} ${r.ms.toFixed(2).padStart(9)} ms  ${r.rate.padStart(14)}   max rel err ${r.err.toExponential(2)} ${r.ok ? 'ok' : 'MISMATCH'}`);
      }
      device.destroy();
      if (rows.some((r) => !r.ok)) process.exit(1);
    });
}
