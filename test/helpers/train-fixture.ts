// Shared setup of the `parallax train` / `train-vae` tests: a 2-layer make-tiny checkpoint (D = 8, 2 heads) and 6
// (or `count`) synthetic 32x32 clips of 4 frames, the engine options the CLI's BASE flags give, and readers of
// safetensors files, the saved train state and the log; `interruptTrain` (Ctrl-C on a running `parallax train`).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { openSafetensors } from '../../engine/io/safetensors.js';
import { writeSynthDataset } from '../../engine/data/synth-dataset.js';
import type { DitTrainOptions } from '../../engine/train/dit-trainer.js';
import { PARALLAX_BIN } from './cli.js';

export interface TrainFixture { dir: string; model: string; meta: string }

export async function trainFixture(name: string, o: { count?: number } = {}): Promise<TrainFixture> {
  const dir = await mkdtemp(join(tmpdir(), `parallax-${name}-`));
  const model = join(dir, 'tiny');
  await makeTinyCheckpoint(model, { seed: 5, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  const meta = (await writeSynthDataset({ out: join(dir, 'data'), count: o.count ?? 6, seed: 1, width: 32, height: 32, frames: 4, fps: 8 })).metaPath;
  return { dir, model, meta };
}

/** The CLI flags matching engineOptions. */
export const BASE = ['--batch', '2', '--lr', '1e-3', '--warmup', '1', '--seed', '3', '--caption-dropout', '0.5', '--log-every', '1', '--no-progress', '--sample-every', '0'];

export function engineOptions(f: TrainFixture, o: Partial<DitTrainOptions> & Pick<DitTrainOptions, 'out' | 'steps'>): DitTrainOptions {
  return {
    model: f.model, data: f.meta, batch: 2, lr: 1e-3, warmup: 1, lrSchedule: 'constant', weightDecay: 1e-4, clip: 1, ema: true, seed: 3, captionDropout: 0.5,
    sigmaSampling: 'logit_normal', saveEvery: 500, sampleEvery: 0, logEvery: 1, resume: false, sampleSteps: 10, sampleGuidance: 4, signals: false, ...o,
  };
}

/** Seeds OUT/cache from another run's (the cache is keyed by content: nothing is encoded again). */
export const seedCache = (from: string, out: string) => cp(join(from, 'cache'), join(out, 'cache'), { recursive: true });

export const STATE_FILES = ['weights', 'adam_m', 'adam_v', 'ema'] as const;

/** Every tensor of a safetensors file, as f32. */
export async function tensorsOf(path: string): Promise<Map<string, Float32Array>> {
  const r = await openSafetensors(path);
  try {
    return new Map(await Promise.all(r.keys().map(async (k) => [k, await r.readFloat32(k)] as const)));
  } finally {
    await r.close();
  }
}

export const stateOf = (out: string, file: (typeof STATE_FILES)[number]) => tensorsOf(join(out, 'train-state', `${file}.safetensors`));

/** Every record of OUT/train-log.jsonl without its wall time. */
export const logOf = (out: string) => readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => {
  const { seconds: _s, ...r } = JSON.parse(l) as Record<string, unknown>;
  return r;
});

/** ||a - b|| / ||b|| over every tensor of two states. */
export function relL2(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0;
  let den = 0;
  for (const [k, y] of b) {
    const x = a.get(k)!;
    for (let i = 0; i < y.length; i++) { num += (x[i]! - y[i]!) ** 2; den += y[i]! ** 2; }
  }
  return Math.sqrt(num / den);
}

/**
 * Runs `parallax train ARGS --out OUT` as a child process, sends SIGINT once its first log line is written, and returns
 * its exit code, stderr and the number of logged steps. Throws when training has not started within 100 s.
 */
export async function interruptTrain(args: string[], out: string): Promise<{ code: number | null; stderr: string; steps: number }> {
  const child = spawn(process.execPath, [PARALLAX_BIN, 'train', ...args, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const logFile = join(out, 'train-log.jsonl');
  const deadline = Date.now() + 100_000;
  while (!(existsSync(logFile) && readFileSync(logFile, 'utf8').trim().length > 0)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`training did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill('SIGINT');
  const code = await exited;
  return { code, stderr, steps: readFileSync(logFile, 'utf8').trim().split('\n').length };
}
