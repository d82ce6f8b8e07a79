// `parallax demo`: makes the tiny random-weight checkpoint (once, in ./out/tiny-checkpoint) and generates a short
// clip with it through the whole pipeline. `parallax demo --kernels` runs the kernel showcase instead.

import type { Command } from 'commander';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { openCheckpoint, validateCheckpoint } from '../../engine/io/checkpoint.js';
import { runGenerate } from './generate.js';

async function runKernelShowcase(dtypeOpt?: 'f32' | 'f16'): Promise<void> {
  const { Device } = await import('../../engine/gpu/device.js');
  const { showcase } = await import('../showcase.js');
  const device = await Device.create({ label: 'demo' });
  const dtype = dtypeOpt ?? (device.f16 ? 'f16' : 'f32');
  console.log(`Parallax kernel showcase on ${device.adapter.description || device.adapter.vendor} (${dtype})`);
  const rows = await showcase(device, dtype);
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(44)} ${r.ms.toFixed(2).padStart(9)} ms  ${r.rate.padStart(14)}   max rel err ${r.err.toExponential(2)} ${r.ok ? 'ok' : 'MISMATCH'}`);
  }
  device.destroy();
  if (rows.some((r) => !r.ok)) process.exit(1);
}

/** True when `dir` holds a checkpoint that opens and validates. */
async function usableCheckpoint(dir: string): Promise<boolean> {
  if (!(await access(join(dir, 'model_index.json')).then(() => true, () => false))) return false;
  try {
    const ck = await openCheckpoint(dir);
    try {
      validateCheckpoint(ck);
      return true;
    } finally {
      await ck.close();
    }
  } catch {
    return false;
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('generate a short clip with a tiny RANDOM-weight checkpoint through the whole pipeline on WebGPU; --kernels runs the WebGPU kernel showcase')
    .option('--kernels', 'run the kernel showcase on this machine\'s WebGPU adapter instead')
    .option('--dtype <dtype>', 'kernel showcase only: f32 or f16 (default: f16 when the adapter has it)')
    .option('--dir <dir>', 'where the tiny checkpoint lives (made when missing)', join('out', 'tiny-checkpoint'))
    .option('--out <file.mp4>', 'output video', join('out', 'demo.mp4'))
    .option('--backend <name>', 'gpu (WebGPU) or reference (float64 CPU)', 'gpu')
    .action(async (opts: { kernels?: boolean; dtype?: 'f32' | 'f16'; dir: string; out: string; backend: 'gpu' | 'reference' }) => {
      if (opts.kernels) return runKernelShowcase(opts.dtype);
      if (!(await usableCheckpoint(opts.dir))) {
        console.error(`making the tiny checkpoint in ${opts.dir} ...`);
        await makeTinyCheckpoint(opts.dir);
      }
      console.error('NOTE: the tiny checkpoint has RANDOM weights: the video is structured noise, not a picture of the prompt.');
      const { video, sidecar } = await runGenerate({
        model: opts.dir, prompt: 'a red fox running through fresh snow', negativePrompt: '', frames: 3, width: 64, height: 64, steps: 4,
        guidance: 7.5, guidanceMode: 'reference', seed: 42, fps: 8, out: opts.out, backend: opts.backend,
      });
      console.log(`demo video: ${video} (sidecar ${sidecar}); random weights, so expect noise-like frames`);
    });
}
