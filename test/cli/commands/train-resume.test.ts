// `parallax train --resume` and the caches on a 2-layer make-tiny checkpoint (D = 8) and 6 synthetic 32x32 clips of
// 4 frames: 2 steps + --resume 1 step equals 3 straight steps bit for bit (log and every saved tensor) and reuses the
// caches (no encoding), also with --recompute 0 --offload 0.5 on the resumed half; an existing run is not overwritten without --resume; the measured device peak stays under
// the memory estimate; a changed VAE rebuilds the latents only; --resume with other options or another model says
// what differs. The runs whose console output is not the point call the engine in process (as the command does).
import { readFileSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { trainDit, type DitTrainOptions } from '../../../engine/train/dit-trainer.js';
import { parallax } from '../../helpers/cli.js';
import { engineOptions, logOf, tensorsOf, trainFixture } from '../../helpers/train-fixture.js';

let dir = '';
let model = '';
let meta = '';
const BASE = ['--batch', '2', '--lr', '1e-3', '--warmup', '1', '--seed', '3', '--caption-dropout', '0.5', '--log-every', '1', '--no-progress'];

beforeAll(async () => {
  ({ dir, model, meta } = await trainFixture('train-resume'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The engine in process with the options BASE gives the command (used for the runs whose output is not the point). */
const engine = (o: Partial<DitTrainOptions> & Pick<DitTrainOptions, 'model' | 'out' | 'steps'>) => trainDit(engineOptions({ dir, model, meta }, o), { log: () => {} });

describe('parallax train --resume', () => {
  it('continues exactly with --resume (same losses, bit-identical state) and reuses the caches', async () => {
    await engine({ model, out: join(dir, 'a'), steps: 3 });
    const out = join(dir, 'b');
    const first = await parallax(['train', '--model', model, '--data', meta, '--out', out, '--steps', '2', '--sample-every', '0', ...BASE]);
    expect(first.code, first.stderr).toBe(0);
    await expect(engine({ model, out, steps: 3 })).rejects.toThrow(/already holds a training run .*pass --resume/);
    // the resumed half also recomputes every block and offloads half of them: the same numbers, bit for bit
    const second = await parallax(['train', '--model', model, '--data', meta, '--out', out, '--steps', '3', '--sample-every', '0', '--resume', '--recompute', '0', '--offload', '0.5', ...BASE]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/0 clips encoded, 6 reused; 0 prompts encoded, 7 reused/);
    const peak = /measured device peak ([\d.]+) (KiB|MiB) \(estimated ([\d.]+) (KiB|MiB) per step\)/.exec(second.stderr)!;
    const bytes = (v: string, u: string) => Number(v) * (u === 'MiB' ? 2 ** 20 : 1024);
    expect(bytes(peak[3]!, peak[4]!)).toBeGreaterThanOrEqual(bytes(peak[1]!, peak[2]!)); // the estimate bounds the step
    expect(logOf(out)).toEqual(logOf(join(dir, 'a')));
    for (const f of ['weights', 'adam_m', 'adam_v', 'ema']) {
      const a = await tensorsOf(join(dir, 'a/train-state', `${f}.safetensors`));
      const b = await tensorsOf(join(out, 'train-state', `${f}.safetensors`));
      for (const [k, v] of a) expect(b.get(k), `${f} ${k}`).toEqual(v);
    }
    expect(JSON.parse(readFileSync(join(out, 'train-state/state.json'), 'utf8')).step).toBe(3);
  });

  it('says which option, model or data differs on --resume', async () => {
    const out = join(dir, 'b');
    await expect(engine({ model, out, steps: 4, resume: true, lr: 2e-3, ema: false })).rejects.toThrow(/--resume: this run differs from the saved one at step 3: --lr was 0\.001, now 0\.002; --ema was true, now false/);
  });

  it('rebuilds the latent cache (only) when the VAE changes, and a resume onto another model is refused', async () => {
    const model2 = join(dir, 'tiny2');
    await cp(model, model2, { recursive: true });
    const other = join(dir, 'other');
    await makeTinyCheckpoint(other, { seed: 99, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
    await cp(join(other, 'vae'), join(model2, 'vae'), { recursive: true, force: true });
    const out = join(dir, 'c');
    await cp(join(dir, 'b/cache'), join(out, 'cache'), { recursive: true });
    const r = await engine({ model: model2, out, steps: 1 });
    expect(r.cache).toEqual({ clipsEncoded: 6, clipsReused: 0, textsEncoded: 0, textsReused: 7 });
    await expect(engine({ model: model2, out: join(dir, 'b'), steps: 4, resume: true })).rejects.toThrow(/the --model folder differs from the one it started from; the training data differs/);
  });
});
