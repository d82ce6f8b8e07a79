// The web app's presets and example prompts (client/presets.ts): the served model's card adds its recommended
// settings as the first preset ("Shapes 64×64 · 8 frames") and offers its example prompts; without a card the
// generic presets and no examples, as before. The card preset fits the limits the server publishes for that model.
import { describe, expect, it } from 'vitest';
import { cardPreset, examplePrompts, matchPreset, PRESETS, presetsFor } from '../../client/presets.js';
import { checkRequest } from '../../client/validation.js';
import { clientConfigFor } from '../helpers/client-config.js';
import type { ServerConfig } from '../../client/types.js';
import { parseModelCard, shapesModelCard } from '../../engine/io/model-card.js';
import { DEFAULT_LIMITS, tightenLimits } from '../../server/schema.js';

// Written by hand, so the expected labels do not come from the code under test.
const card = parseModelCard({
  format: 'parallax-model-card/1', name: 'Parallax shapes', description: 'test', promptTemplate: 'a {colour} {shape}',
  vocabulary: { colour: ['red'], shape: ['circle', 'square'] },
  recommended: { width: 64, height: 64, frames: 8, steps: 24, guidance: 4, guidanceMode: 'constant', fps: 8 },
  examples: ['a red circle', 'a red square', 'p3', 'p4', 'p5', 'p6', 'p7'],
}, 'test');

const model = (c: typeof card | null): Pick<ServerConfig, 'model'> => ({ model: { url: '/api/model/', name: 'shapes', card: c } });

/** /api/config's limits block for a server whose engine's model makes sides up to 256 pixels (pos_embed 16 x 16). */
function configForModel(): Pick<ServerConfig, 'limits' | 'guidance_modes'> {
  return clientConfigFor(tightenLimits(DEFAULT_LIMITS, [{ sizeMultiple: 16, maxWidth: 256, maxHeight: 256 }]));
}

describe('presets and example prompts of the served model', () => {
  it('puts the card\'s recommended settings first, labelled with the model and size', () => {
    const p = presetsFor(model(card));
    expect(p.map((x) => x.id)).toEqual(['model', 'preview', 'draft', 'default']);
    expect(p[0]!.label).toBe('Shapes 64×64 · 8 frames');
    expect(p[0]!.hint).toBe('recommended: 24 steps · guidance 4 · 8 fps');
    expect(p[0]!.values).toEqual({ width: 64, height: 64, frames: 8, steps: 24, guidance: 4, fps: 8 });
    expect(p[0]!.mode).toBe('constant');
  });

  it('offers the card\'s example prompts (at most 6), none without a card', () => {
    expect(examplePrompts(model(card))).toEqual(['a red circle', 'a red square', 'p3', 'p4', 'p5', 'p6']);
    expect(examplePrompts(model(card), 2)).toEqual(['a red circle', 'a red square']);
    expect(examplePrompts(model(null))).toEqual([]);
    expect(examplePrompts({ model: null })).toEqual([]);
    expect(examplePrompts({})).toEqual([]);
  });

  it('without a card (or a model) the presets are the generic ones, unchanged', () => {
    expect(presetsFor(model(null))).toBe(PRESETS);
    expect(presetsFor({ model: null })).toBe(PRESETS);
    expect(PRESETS.map((x) => x.values)).toEqual([
      { width: 256, height: 144, frames: 8, steps: 10 }, { width: 512, height: 288, frames: 16, steps: 30 }, { width: 768, height: 432, frames: 40, steps: 100 },
    ]);
  });

  it('matches the model preset only when guidance and fps agree too; a generic preset ignores them', () => {
    const p = presetsFor(model(card));
    expect(matchPreset({ width: 64, height: 64, frames: 8, steps: 24, guidance: 4, fps: 8 }, p)?.id).toBe('model');
    expect(matchPreset({ width: 64, height: 64, frames: 8, steps: 24, guidance: 5, fps: 8 }, p)).toBeUndefined();
    expect(matchPreset({ width: 256, height: 144, frames: 8, steps: 10, guidance: 9, fps: 30 }, p)?.id).toBe('preview');
    expect(matchPreset({ width: 256, height: 144, frames: 8, steps: 10 })?.id).toBe('preview');
  });

  it('the shapes card\'s preset fits the limits of a server running that model, the 768x432 one does not', () => {
    const cfg = configForModel();
    const shapes = cardPreset(shapesModelCard({ steps: 20, guidance: 5 }));
    const body = (v: object) => ({ prompt: 'a red circle moving left on a black background', negative_prompt: '', frames: 1, width: 64, height: 64, steps: 1, guidance: 1, guidance_mode: 'reference' as const, fps: 8, ...v });
    expect(checkRequest(body(shapes.values), cfg)).toEqual({});
    expect(Object.keys(checkRequest(body(PRESETS[2]!.values), cfg)).sort()).toEqual(['height', 'width']);
  });
});
