// `parallax train` under interruption and bad input: SIGINT finishes the step, saves a loadable checkpoint and the
// train state at that step, exits 130 and says how to resume; a model without transformer weights, a missing or
// corrupt clip, a frame size the model cannot take, --frames beyond a clip and a step over the memory limit each
// fail with a message that names the problem (file and line for data) before anything is written to the model
// (these through the engine in process, as the command calls it).
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainDit, type DitTrainOptions } from '../../../engine/train/dit-trainer.js';
import { parallax } from '../../helpers/cli.js';
import { interruptTrain, trainFixture } from '../../helpers/train-fixture.js';

let dir = '';
let model = '';
let meta = '';
const FAST = ['--sample-every', '0', '--no-progress', '--lr', '1e-3'];

beforeAll(async () => {
  ({ dir, model, meta } = await trainFixture('train-err', { count: 3 }));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A meta table in the data folder whose row `line` (1-based) is changed by `edit`. */
async function metaWith(name: string, line: number, edit: (r: Record<string, unknown>) => void): Promise<string> {
  const rows = (await readFile(meta, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  edit(rows[line - 1]!);
  const p = join(dir, 'data', name);
  await writeFile(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}

describe('parallax train: Ctrl-C', () => {
  it('finishes the step, saves, exits 130 and says how to resume', async () => {
    const out = join(dir, 'sig');
    const { code, stderr, steps } = await interruptTrain(['--model', model, '--data', meta, '--steps', '1000', '--save-every', '0', '--batch', '1', ...FAST], out);
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(new RegExp(`SIGINT: saved step ${steps} to .*Continue with the same command plus --resume`));
    expect(JSON.parse(readFileSync(join(out, 'train-state/state.json'), 'utf8')).step).toBe(steps);
    expect(existsSync(join(out, 'transformer/diffusion_pytorch_model.safetensors'))).toBe(true);
    const more = await parallax(['train', '--model', model, '--data', meta, '--out', out, '--steps', String(steps + 1), '--save-every', '0', '--batch', '1', '--resume', ...FAST]);
    expect(more.code, more.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'train-state/state.json'), 'utf8')).step).toBe(steps + 1);
  });
});

describe('parallax train: bad input (the engine, in process: the command prints the same message)', () => {
  // one OUT for every case: each fails before training, so none leaves a run behind, and the clips cached by one
  // case are reused by the next
  const train = (m: string, data: string, extra: Partial<DitTrainOptions> = {}) => trainDit({
    model: m, data, out: join(dir, 'bad-out'), steps: 1, batch: 1, lr: 1e-3, warmup: 0, lrSchedule: 'constant', weightDecay: 0, clip: 1, ema: true, seed: 0,
    captionDropout: 0.1, sigmaSampling: 'logit_normal', saveEvery: 0, sampleEvery: 0, logEvery: 1, resume: false, sampleSteps: 1, sampleGuidance: 1, signals: false, ...extra,
  }, { log: () => {} });

  it('a model folder without transformer weights', async () => {
    const m = join(dir, 'noweights');
    await cp(model, m, { recursive: true });
    await rm(join(m, 'transformer/diffusion_pytorch_model.safetensors'));
    await expect(train(m, meta)).rejects.toThrow(/--model \S+noweights: transformer\/: no weights found \(expected diffusion_pytorch_model\.safetensors/);
  });

  it('missing and corrupt clips are named with their meta line', async () => {
    const missing = await metaWith('missing.jsonl', 2, (r) => { r.path = 'clips/nope.mp4'; });
    await expect(train(model, missing)).rejects.toThrow(/missing\.jsonl:2: clip clips\/nope\.mp4 not found/);
    await writeFile(join(dir, 'data/clips/bad.mp4'), 'not a video');
    const corrupt = await metaWith('corrupt.jsonl', 3, (r) => { r.path = 'clips/bad.mp4'; });
    await expect(train(model, corrupt)).rejects.toThrow(/corrupt\.jsonl:3: cannot decode clip clips\/bad\.mp4/);
  });

  it('frame sizes the model cannot take, --frames beyond a clip, a step over the memory limit, bad options', async () => {
    const odd = await metaWith('odd.jsonl', 1, (r) => { r.width = 24; });
    await expect(train(model, odd)).rejects.toThrow(/odd\.jsonl:1: clip clips\/\S+ is 24x32; this model needs width and height that are multiples of 16/);
    await expect(train(model, meta, { frames: 5 })).rejects.toThrow(/meta\.jsonl:1: clip \S+ has 4 frames, fewer than --frames 5/);
    let msg = '';
    await train(model, meta, { memoryLimit: 0.008 * 2 ** 30, batch: 64 }).catch((e: Error) => { msg = e.message; });
    expect(msg).toMatch(/does not fit: it needs about .* but the budget is 8\.19 MiB \(--memory-limit\)\. Largest that fits: (--frames \d \(at --batch 64\) or )?--batch (\d+) \(at --frames 4\)\./);
    const k = Number(/--batch (\d+) \(at --frames 4\)/.exec(msg)![1]);
    expect(k >= 1 && k < 64).toBe(true);
    await expect(train(model, meta, { captionDropout: 1.5 })).rejects.toThrow(/--caption-dropout must be in \[0, 1\]/);
    await expect(train(model, meta, { out: model })).rejects.toThrow(/--out must differ from --model/);
  });
});
