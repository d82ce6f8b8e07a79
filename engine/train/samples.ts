// Sample grids during training (Node only): generates a few fixed prompts with the weights being trained (the EMA
// when on) through the normal GPU pipeline (the trained transformer from memory, the checkpoint's VAE) from the
// prompts' text conditioning encoded once per run (the training cache's, train-cache.ts: the text encoders are not
// loaded again for each grid; the frames are the same as TextToVideoPipeline.generate's), and writes OUT/samples/step-NNNNNN.png (one row per prompt: its first, middle and last frame) and a .json
// listing the prompts and settings. The prompts: a few held-out prompts (heldout.jsonl beside the meta file, when
// present) and a few training captions.

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Device } from '../gpu/device.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { MemoryWeights } from '../io/memory-weights.js';
import { GpuBackend } from '../pipeline/gpu-backend.js';
import type { TextConditioning } from '../pipeline/backend.js';
import { TextToVideoPipeline } from '../pipeline/text-to-video.js';
import { encodeRgbPng } from '../video/png.js';
import type { HostTensors } from './train-checkpoint.js';

export interface SamplePrompt {
  text: string;
  /** 'heldout' (never trained on) or 'train'. */
  kind: 'heldout' | 'train';
}

export interface SampleSettings {
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
}

/** Up to `n` held-out prompts from heldout.jsonl beside `meta` and `n` distinct training captions. */
export async function samplePrompts(meta: string, captions: readonly string[], n = 2): Promise<SamplePrompt[]> {
  const held: SamplePrompt[] = [];
  const text = await readFile(join(dirname(meta), 'heldout.jsonl'), 'utf8').catch(() => '');
  for (const l of text.split('\n')) {
    if (held.length >= n || !l.trim()) continue;
    try {
      const t = (JSON.parse(l) as { text?: unknown }).text;
      if (typeof t === 'string' && t) held.push({ text: t, kind: 'heldout' });
    } catch {
      // not a prompt line: skipped
    }
  }
  const train = [...new Set(captions.filter((c) => c))].slice(0, n).map((t) => ({ text: t, kind: 'train' as const }));
  return [...held, ...train];
}

/** A grid of frames: rows of equally sized RGB frames with a 2-pixel white gutter. */
export function frameGrid(rows: readonly (readonly Uint8Array[])[], width: number, height: number): { rgb: Uint8Array; width: number; height: number } {
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const W = cols * (width + 2);
  const H = rows.length * (height + 2);
  const rgb = new Uint8Array(W * H * 3).fill(255);
  rows.forEach((r, ri) => r.forEach((f, ci) => {
    for (let y = 0; y < height; y++) rgb.set(f.subarray(y * width * 3, (y + 1) * width * 3), ((ri * (height + 2) + y) * W + ci * (width + 2)) * 3);
  }));
  return { rgb, width: W, height: H };
}

export interface SampleGenerateOptions {
  device: Device;
  ckpt: Checkpoint;
  /** The transformer's weights (host copies). */
  weights: HostTensors;
  prompts: readonly SamplePrompt[];
  /** Each prompt's text conditioning and the negative (empty) prompt's under '' (e.g. from the training cache). */
  texts: ReadonlyMap<string, TextConditioning>;
  settings: SampleSettings;
}

export interface GeneratedSample {
  /** Final latents [1, F, C, h, w]. */
  latents: Float32Array;
  /** Every decoded frame (RGB bytes). */
  frames: Uint8Array[];
}

/**
 * Generates every prompt with these transformer weights: TextToVideoPipeline.generate's steps (settings, seeded
 * noise, denoise with guidance, VAE decode) with the given conditioning instead of the text encoders.
 */
export async function generateSamples(o: SampleGenerateOptions): Promise<GeneratedSample[]> {
  const ckpt: Checkpoint = { ...o.ckpt, transformer: { ...o.ckpt.transformer, weights: new MemoryWeights('transformer (training)', o.weights) } };
  const backend = await GpuBackend.create(ckpt, { device: o.device });
  const pipe = new TextToVideoPipeline(backend);
  const s = o.settings;
  const text = (t: string) => {
    const c = o.texts.get(t);
    if (!c) throw new Error(`internal error: no text conditioning for the sample prompt ${JSON.stringify(t)}`);
    return c;
  };
  const out: GeneratedSample[] = [];
  try {
    for (const p of o.prompts) {
      const r = pipe.resolveSettings({ prompt: p.text, frames: s.frames, width: s.width, height: s.height, steps: s.steps, guidance: s.guidance, seed: s.seed });
      const init = await pipe.prepareLatents(r);
      const latents = await pipe.denoise(init.latents, text(r.prompt), r.guidance > 1 ? text(r.negativePrompt) : null, r);
      const video = await backend.decode(latents);
      out.push({ latents: latents.data, frames: video.frames });
    }
  } finally {
    await pipe.dispose();
  }
  return out;
}

/** Generates the prompts with these transformer weights; writes the grid PNG and its JSON; returns the PNG path. */
export async function writeSamples(o: SampleGenerateOptions & { dir: string; step: number }): Promise<string> {
  const s = o.settings;
  const rows = (await generateSamples(o)).map(({ frames: f }) => [f[0]!, f[Math.floor((f.length - 1) / 2)]!, f[f.length - 1]!]);
  await mkdir(o.dir, { recursive: true });
  const base = join(o.dir, `step-${String(o.step).padStart(6, '0')}`);
  const g = frameGrid(rows, s.width, s.height);
  await writeFile(`${base}.png.tmp`, encodeRgbPng(g.rgb, g.width, g.height));
  await rename(`${base}.png.tmp`, `${base}.png`);
  await writeFile(`${base}.json`, `${JSON.stringify({ step: o.step, columns: ['first frame', 'middle frame', 'last frame'], rows: o.prompts, settings: s }, null, 2)}\n`);
  return `${base}.png`;
}
