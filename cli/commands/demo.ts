// `parallax demo`: generates a short clip through the whole pipeline with the default model (engine/io/default-model.ts:
// the trained shapes model, with its card's example prompt and recommended settings) or, when there is none, with a
// tiny random-weight checkpoint made once in ./out/tiny-checkpoint. `parallax demo --kernels` runs the kernel showcase instead.

import type { Command } from 'commander';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { checkpointProblem, displayPath, MODEL_ENV, resolveDefaultModel, TRAIN_HINT } from '../../engine/io/default-model.js';
import { MODEL_CARD_FILE, type ModelCard } from '../../engine/io/model-card.js';
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

/** The demo's settings on a model: the card's first example and recommended settings, or sizes any model takes. */
export function demoSettings(card: ModelCard | null, prompt?: string) {
  const r = card?.recommended ?? { width: 64, height: 64, frames: 8, steps: 20, guidance: 5, guidanceMode: 'reference' as const, fps: 8 };
  return {
    prompt: prompt ?? card?.examples[0] ?? 'a red circle moving right on a black background',
    negativePrompt: '', frames: r.frames, width: r.width, height: r.height, steps: r.steps, guidance: r.guidance,
    guidanceMode: r.guidanceMode, fps: r.fps,
  };
}

interface DemoCliOptions {
  kernels?: boolean;
  dtype?: 'f32' | 'f16';
  dir: string;
  out: string;
  backend: 'gpu' | 'reference';
  prompt?: string;
  seed: string;
  random?: boolean;
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(`generate a short clip with the default model through the whole pipeline on WebGPU: the trained shapes model (models/shapes, or $${MODEL_ENV}) with its card's example prompt and recommended settings; without it a tiny RANDOM-weight checkpoint (noise-like frames). --kernels runs the WebGPU kernel showcase`)
    .option('--kernels', 'run the kernel showcase on this machine\'s WebGPU adapter instead')
    .option('--dtype <dtype>', 'kernel showcase only: f32 or f16 (default: f16 when the adapter has it)')
    .option('--prompt <text>', 'prompt (default: the model card\'s first example prompt)')
    .option('--seed <n>', 'seed', '42')
    .option('--random', 'use the tiny random-weight checkpoint even when the trained default model is there')
    .option('--dir <dir>', 'where the tiny random-weight checkpoint lives (made when missing; used when there is no default model, or with --random)', join('out', 'tiny-checkpoint'))
    .option('--out <file.mp4>', 'output video', join('out', 'demo.mp4'))
    .option('--backend <name>', 'gpu (WebGPU) or reference (float64 CPU)', 'gpu')
    .action(async (opts: DemoCliOptions) => {
      if (opts.kernels) return runKernelShowcase(opts.dtype);
      const seed = Number(opts.seed);
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`--seed ${opts.seed}: expected an integer 0..4294967295`);
      const found = opts.random ? null : await resolveDefaultModel();
      if (found?.model) {
        const { dir, source, card } = found.model;
        const settings = demoSettings(card, opts.prompt);
        const from = source === 'env' ? ` (from $${MODEL_ENV})` : '';
        console.error(`model: ${displayPath(dir)}${from}: ${card ? `${card.name}. ${card.description}` : `no ${MODEL_CARD_FILE} card, so generic settings`}`);
        console.error(`prompt: "${settings.prompt}" · ${settings.width}×${settings.height} · ${settings.frames} frames · ${settings.steps} steps · guidance ${settings.guidance} · seed ${seed}`);
        if (card && card.examples.length > 1) console.error(`other prompts it knows (--prompt "..."): ${card.examples.slice(1).map((e) => `"${e}"`).join(', ')}`);
        const { video, sidecar } = await runGenerate({ model: dir, ...settings, seed, out: opts.out, backend: opts.backend });
        console.log(`demo video: ${video} (sidecar ${sidecar}): "${settings.prompt}" by ${card?.name ?? displayPath(dir)}`);
        return;
      }
      if (!(await usableCheckpoint(opts.dir))) {
        console.error(`making the tiny checkpoint in ${opts.dir} ...`);
        await makeTinyCheckpoint(opts.dir);
      }
      const why = opts.random ? '--random' : `${found!.reason}`;
      console.error(`NOTE: no trained model in use (${why}): this tiny checkpoint has RANDOM weights, so the video is structured noise, not a picture of the prompt. To get the trained shapes model: ${TRAIN_HINT}, or point $${MODEL_ENV} at a trained checkpoint.`);
      const { video, sidecar } = await runGenerate({
        model: opts.dir, prompt: opts.prompt ?? 'a red fox running through fresh snow', negativePrompt: '', frames: 3, width: 64, height: 64, steps: 4,
        guidance: 7.5, guidanceMode: 'reference', seed, fps: 8, out: opts.out, backend: opts.backend,
      });
      console.log(`demo video: ${video} (sidecar ${sidecar}); random weights, so expect noise-like frames`);
    });
}

/** True when `dir` holds a checkpoint that opens and validates. */
async function usableCheckpoint(dir: string): Promise<boolean> {
  return (await checkpointProblem(dir)) === null;
}
