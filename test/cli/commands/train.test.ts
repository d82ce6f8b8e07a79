// `parallax train` end to end on a 2-layer make-tiny checkpoint (D = 8) and 6 synthetic 32x32 clips of 4 frames:
// the trained folder loads in `generate`; OUT/transformer holds the EMA weights in the source's layout; the log,
// loss.png and samples are written; the first epoch visits every clip once. (--resume: train-resume.test.ts.)
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parallax } from '../../helpers/cli.js';
import { tensorsOf, trainFixture } from '../../helpers/train-fixture.js';

let dir = '';
let model = '';
let meta = '';
const BASE = ['--batch', '2', '--lr', '1e-3', '--warmup', '1', '--seed', '3', '--caption-dropout', '0.5', '--log-every', '1', '--no-progress'];

beforeAll(async () => {
  ({ dir, model, meta } = await trainFixture('train'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const logOf = (out: string) => readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; grad_norm: number; sigmas: number[]; clips: number[]; dropped: number; seconds: number });

describe('parallax train', () => {
  it('trains into a diffusers folder that generate loads, with the EMA exported, a log, loss.png and samples', async () => {
    const out = join(dir, 'a');
    const r = await parallax(['train', '--model', model, '--data', meta, '--out', out, '--steps', '3', '--save-every', '2', '--sample-every', '2', '--sample-steps', '1', ...BASE]);
    expect(r.stderr).toMatch(/6 clips encoded, 0 reused; 7 prompts encoded, 0 reused/);
    expect(r.code, r.stderr).toBe(0);
    const log = logOf(out);
    expect(log.map((x) => x.step)).toEqual([1, 2, 3]);
    for (const x of log) {
      expect(Number.isFinite(x.loss) && x.loss > 0).toBe(true);
      expect(x.sigmas.length).toBe(2);
      expect(x.clips.length).toBe(2);
    }
    expect(log.flatMap((x) => x.clips).slice(0, 6).sort()).toEqual([0, 1, 2, 3, 4, 5]); // one epoch: each clip once
    for (const f of ['loss.png', 'samples/step-000002.png', 'samples/step-000002.json', 'model_index.json', 'vae/config.json', 'tokenizer_3/tokenizer.json', 'transformer/config.json']) expect(existsSync(join(out, f)), f).toBe(true);
    const prompts = JSON.parse(readFileSync(join(out, 'samples/step-000002.json'), 'utf8')).rows as { kind: string }[];
    expect(prompts.map((p) => p.kind)).toEqual(['heldout', 'heldout', 'train', 'train']);
    const exported = await tensorsOf(join(out, 'transformer/diffusion_pytorch_model.safetensors'));
    const ema = await tensorsOf(join(out, 'train-state/ema.safetensors'));
    const raw = await tensorsOf(join(out, 'train-state/weights.safetensors'));
    const source = await tensorsOf(join(model, 'transformer/diffusion_pytorch_model.safetensors'));
    expect([...exported.keys()]).toEqual([...source.keys()]);
    let moved = 0;
    for (const [k, v] of exported) {
      expect(v, k).toEqual(ema.get(k));
      if (v.some((x, i) => x !== source.get(k)![i])) moved++;
    }
    expect(moved).toBeGreaterThan(exported.size / 2);
    expect([...exported].some(([k, v]) => v.some((x, i) => x !== raw.get(k)![i]))).toBe(true); // EMA, not the raw weights
    const g = await parallax(['generate', '--model', out, '--prompt', 'a red circle moving left on a blue background', '--width', '32', '--height', '32', '--frames', '2', '--steps', '1', '--out', join(dir, 'g.mp4'), '--no-progress']);
    expect(g.code, g.stderr).toBe(0);
    expect(existsSync(join(dir, 'g.mp4'))).toBe(true);
  });
});
