// trainDit's caption dropout, end to end on a 2-layer make-tiny checkpoint and 4 synthetic 32x32 clips of 2 frames:
// with --caption-dropout 1 every item trains on the empty prompt, so two tables that differ only in their captions
// give the same losses bit for bit; with dropout 0 the same two tables give different losses (the captions are used).
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSynthDataset } from '../../../engine/data/synth-dataset.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { trainDit, type DitTrainOptions } from '../../../engine/train/dit-trainer.js';

let dir = '';
let model = '';
let meta = '';
let renamed = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-dit-trainer-'));
  model = join(dir, 'tiny');
  await makeTinyCheckpoint(model, { seed: 5, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  meta = (await writeSynthDataset({ out: join(dir, 'data'), count: 4, seed: 1, width: 32, height: 32, frames: 2, fps: 8 })).metaPath;
  const rows = (await readFile(meta, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  renamed = join(dir, 'data', 'renamed.jsonl');
  await writeFile(renamed, rows.map((r, i) => JSON.stringify({ ...r, text: `a caption never seen number ${i}` })).join('\n') + '\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function losses(data: string, dropout: number, name: string): Promise<number[]> {
  const out = join(dir, name);
  await cp(join(dir, 'first', 'cache'), join(out, 'cache'), { recursive: true }).catch(() => {}); // the latents do not depend on captions
  const o: DitTrainOptions = {
    model, data, out, steps: 2, batch: 2, lr: 1e-3, warmup: 0, lrSchedule: 'constant', weightDecay: 0, clip: 1, ema: false, seed: 4,
    captionDropout: dropout, sigmaSampling: 'logit_normal', saveEvery: 0, sampleEvery: 0, logEvery: 0, resume: false, sampleSteps: 1, sampleGuidance: 1, signals: false,
  };
  await trainDit(o, { log: () => {} });
  return readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
}

describe('trainDit caption dropout', () => {
  it('trains on the empty prompt when every caption is dropped, and on the captions otherwise', async () => {
    const a = await losses(meta, 1, 'first');
    const b = await losses(renamed, 1, 'b');
    expect(b).toEqual(a);
    const c = await losses(meta, 0, 'c');
    const d = await losses(renamed, 0, 'd');
    expect(c.length).toBe(2);
    expect(d[0]).not.toBe(c[0]);
    expect(c[0]).not.toBe(a[0]);
  });
});
