// `parallax demo`: with a default model ($PARALLAX_MODEL at a tiny checkpoint with a card) it generates the card's
// first example prompt at the card's recommended settings and says which model it is; without one
// (PARALLAX_MODEL=none, as when models/shapes is not committed) it falls back to the random tiny checkpoint with a
// NOTE that says how to get the trained model.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { writeModelCard } from '../../../engine/io/default-model.js';
import { parseModelCard } from '../../../engine/io/model-card.js';
import { parallax } from '../../helpers/cli.js';

let root = '';
let model = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parallax-demo-'));
  model = join(root, 'trained');
  await makeTinyCheckpoint(model, { preset: 'shapes', transformer: { num_layers: 1 } });
  await writeModelCard(model, parseModelCard({
    format: 'parallax-model-card/1', name: 'Test shapes', description: 'A test model.', promptTemplate: 'a {colour} {shape} moving {direction} on a {background} background',
    vocabulary: { colour: ['red'], shape: ['circle'], direction: ['left'], background: ['black'] },
    recommended: { width: 32, height: 16, frames: 2, steps: 2, guidance: 3, guidanceMode: 'constant', fps: 5 },
    examples: ['a red circle moving left on a black background', 'a red circle moving up on a black background'],
  }, 'test'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('parallax demo', () => {
  it('uses the default model with its card\'s prompt and recommended settings, and says what it is', async () => {
    const out = join(root, 'demo.mp4');
    const r = await parallax(['demo', '--out', out, '--dir', join(root, 'unused')], { PARALLAX_MODEL: model });
    expect(r.stderr).toMatch(/model: .*trained \(from \$PARALLAX_MODEL\): Test shapes\. A test model\./);
    expect(r.stderr).toMatch(/prompt: "a red circle moving left on a black background" · 32×16 · 2 frames · 2 steps · guidance 3 · seed 42/);
    expect(r.stderr).toMatch(/other prompts it knows .*"a red circle moving up on a black background"/);
    expect(r.stderr).not.toMatch(/RANDOM/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/demo video: .*demo\.mp4 .*by Test shapes/);
    const side = JSON.parse(await readFile(join(root, 'demo.json'), 'utf8'));
    expect(side.settings).toEqual({ prompt: 'a red circle moving left on a black background', negativePrompt: '', frames: 2, width: 32, height: 16, steps: 2, guidance: 3, guidanceMode: 'constant', seed: 42, fps: 5 });
    expect(side.model.path).toBe(model);
  }, 180_000);

  it('--prompt replaces the card\'s example', async () => {
    const out = join(root, 'demo2.mp4');
    const r = await parallax(['demo', '--out', out, '--prompt', 'a red circle moving up on a black background', '--seed', '3'], { PARALLAX_MODEL: model });
    expect(r.code).toBe(0);
    const side = JSON.parse(await readFile(join(root, 'demo2.json'), 'utf8'));
    expect(side.settings).toMatchObject({ prompt: 'a red circle moving up on a black background', seed: 3, width: 32, frames: 2 });
  }, 180_000);

  it('without a default model: the random tiny checkpoint and a NOTE saying how to get the trained one', async () => {
    const dir = join(root, 'tiny');
    const out = join(root, 'random.mp4');
    const r = await parallax(['demo', '--out', out, '--dir', dir], { PARALLAX_MODEL: 'none' });
    expect(r.stderr).toMatch(/making the tiny checkpoint in .*tiny/);
    expect(r.stderr).toMatch(/NOTE: no trained model in use \(PARALLAX_MODEL=none\): this tiny checkpoint has RANDOM weights.*npm run train:tiny/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/random weights, so expect noise-like frames/);
    const side = JSON.parse(await readFile(join(root, 'random.json'), 'utf8'));
    expect(side.settings).toMatchObject({ width: 64, height: 64, frames: 3, steps: 4, seed: 42 });
    expect(side.model.path).toBe(dir);
  }, 180_000);

  it('a $PARALLAX_MODEL that is not a checkpoint fails with the variable named', async () => {
    const r = await parallax(['demo', '--out', join(root, 'x.mp4')], { PARALLAX_MODEL: join(root, 'missing') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PARALLAX_MODEL=.*missing: that folder does not exist/);
  }, 60_000);
});
