// The default model (engine/io/default-model.ts): $PARALLAX_MODEL beats models/shapes; a missing or broken folder
// there means no default (with the reason), a broken $PARALLAX_MODEL is an error naming the variable; the model card
// round-trips through writeShapesModelCard / readModelCard with the synth vocabulary, and bad cards are named.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { MODEL_ENV, readModelCard, REPO_DEFAULT_MODEL_DIR, resolveDefaultModel, writeModelCard, writeShapesModelCard } from '../../../engine/io/default-model.js';
import { MODEL_CARD_FILE, parseModelCard, shapesExamplePrompts, shapesModelCard } from '../../../engine/io/model-card.js';
import { allCombinations, caption, heldOutCombinations } from '../../../engine/data/synth.js';

let root = '';
let ckpt = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parallax-default-model-'));
  ckpt = join(root, 'shapes');
  await makeTinyCheckpoint(ckpt, { preset: 'shapes', transformer: { num_layers: 1 } });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the model card', () => {
  it('round-trips: writeShapesModelCard writes parallax-card.json, readModelCard reads the same card back', async () => {
    const file = await writeShapesModelCard(ckpt, { steps: 30, guidance: 6, training: { steps: 12000, hours: 1.5 } });
    expect(file).toBe(join(ckpt, MODEL_CARD_FILE));
    const raw = JSON.parse(await readFile(file, 'utf8'));
    // the written JSON, checked against values typed here (the synth vocabulary of engine/data/synth.ts)
    expect(raw).toMatchObject({
      format: 'parallax-model-card/1', name: 'Parallax shapes', promptTemplate: 'a {colour} {shape} moving {direction} on a {background} background',
      vocabulary: { colour: ['red', 'green', 'blue', 'yellow'], shape: ['circle', 'square', 'triangle'], direction: ['left', 'right', 'up', 'down'], background: ['black', 'white', 'gray', 'blue'] },
      recommended: { width: 64, height: 64, frames: 8, steps: 30, guidance: 6, guidanceMode: 'reference', fps: 8 },
      training: { steps: 12000, hours: 1.5 },
    });
    const back = await readModelCard(ckpt);
    expect(back).toEqual(shapesModelCard({ steps: 30, guidance: 6, training: { steps: 12000, hours: 1.5 } }));
    expect(back).toEqual(raw);
  });

  it('the shapes examples are training captions (not held out), one per direction', () => {
    const ex = shapesExamplePrompts();
    const held = new Set(heldOutCombinations().map(caption));
    const train = new Set(allCombinations().map(caption));
    expect(ex).toHaveLength(4);
    for (const p of ex) {
      expect(train.has(p), p).toBe(true);
      expect(held.has(p), p).toBe(false);
    }
    expect(ex.map((p) => /moving (\w+)/.exec(p)![1])).toEqual(['left', 'right', 'up', 'down']);
  });

  it('a folder without a card reads as null; malformed cards are errors naming the file and field', async () => {
    const bare = join(root, 'bare');
    await makeTinyCheckpoint(bare, { transformer: { num_layers: 1 } });
    expect(await readModelCard(bare)).toBeNull();
    await writeFile(join(bare, MODEL_CARD_FILE), '{not json');
    await expect(readModelCard(bare)).rejects.toThrow(/parallax-card\.json: not valid JSON/);
    const good = shapesModelCard({ steps: 10, guidance: 4 });
    await writeFile(join(bare, MODEL_CARD_FILE), JSON.stringify({ ...good, recommended: { ...good.recommended, frames: 0 } }));
    await expect(readModelCard(bare)).rejects.toThrow(/parallax-card\.json: model card field recommended\.frames must be an integer >= 1 \(got 0\)/);
    expect(() => parseModelCard({ ...good, examples: [] }, 'x')).toThrow(/field examples must be a non-empty list/);
    expect(() => parseModelCard({ ...good, format: 'v0' }, 'x')).toThrow(/field format must be "parallax-model-card\/1"/);
    await expect(writeModelCard(bare, { ...good, recommended: { ...good.recommended, guidanceMode: 'cfg' as never } })).rejects.toThrow(/guidanceMode must be "reference" or "constant"/);
    await expect(writeShapesModelCard(join(root, 'nowhere'), { steps: 1, guidance: 1 })).rejects.toThrow(/nowhere does not exist; write the card into a complete checkpoint folder/);
  });
});

describe('resolveDefaultModel', () => {
  it('takes $PARALLAX_MODEL first, with its card', async () => {
    const r = await resolveDefaultModel({ env: { [MODEL_ENV]: ckpt }, repoDir: join(root, 'absent') });
    expect(r.model?.dir).toBe(ckpt);
    expect(r.model?.source).toBe('env');
    expect(r.model?.card?.recommended.steps).toBe(30);
  });

  it('a $PARALLAX_MODEL that is not a checkpoint is an error naming the variable', async () => {
    await expect(resolveDefaultModel({ env: { [MODEL_ENV]: join(root, 'absent') } })).rejects.toThrow(/PARALLAX_MODEL=.*absent: that folder does not exist; point it at a checkpoint folder/);
    await expect(resolveDefaultModel({ env: { [MODEL_ENV]: join(ckpt, 'vae') } })).rejects.toThrow(/has no model_index\.json/);
  });

  it('else the repository folder when it holds a valid checkpoint; absent or broken: none, with the reason', async () => {
    const r = await resolveDefaultModel({ env: {}, repoDir: ckpt });
    expect(r.model).toMatchObject({ dir: ckpt, source: 'repo' });
    const absent = await resolveDefaultModel({ env: { [MODEL_ENV]: '' }, repoDir: join(root, 'absent') });
    expect(absent.model).toBeNull();
    expect(absent.reason).toMatch(/absent does not exist/);
    const broken = join(root, 'broken');
    await makeTinyCheckpoint(broken, { transformer: { num_layers: 1 } });
    await rm(join(broken, 'vae', 'diffusion_pytorch_model.safetensors'));
    const b = await resolveDefaultModel({ env: {}, repoDir: broken });
    expect(b.model).toBeNull();
    expect(b.reason).toMatch(/broken does not load: /);
    // PARALLAX_MODEL=none: no default model even when the repository has one
    expect(await resolveDefaultModel({ env: { [MODEL_ENV]: 'none' }, repoDir: ckpt })).toEqual({ model: null, reason: 'PARALLAX_MODEL=none' });
  });

  it('the committed default lives at <repo>/models/shapes', () => {
    expect(REPO_DEFAULT_MODEL_DIR).toMatch(/[/\\]models[/\\]shapes$/);
  });
});
