// make-tiny's text options and the 'shapes' preset (the model trained on the synthetic clips): every synth caption
// and the empty prompt fit the preset's 16 + 16 text tokens untruncated in all three tokenizers; the configs carry
// the lengths (max_position_embeddings, model_max_length); the default checkpoint keeps 77 + 256.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint, SHAPES_PRESET, type TinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint, validateCheckpoint } from '../../../engine/io/checkpoint.js';
import { allCombinations, BACKGROUND_COLOURS, caption, DIRECTIONS, SHAPE_COLOURS, SHAPES } from '../../../engine/data/synth.js';
import { loadClipTokenizer, loadT5Tokenizer, type TextTokenizer } from '../../../engine/text/tokenizers.js';

let root = '';
let shapes: TinyCheckpoint;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parallax-make-tiny-'));
  shapes = await makeTinyCheckpoint(join(root, 'shapes'), { preset: 'shapes' });
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

const json = async (...p: string[]) => JSON.parse(await readFile(join(...p), 'utf8')) as Record<string, unknown>;

/** The ids before EOS (CLIP: after BOS), from a tokenizer that pads, checking EOS is present. */
function textPart(tok: TextTokenizer, ids: number[], clip: boolean): number[] {
  const eos = ids.indexOf(tok.eosId, clip ? 1 : 0);
  expect(eos, 'EOS present').toBeGreaterThanOrEqual(0);
  return ids.slice(clip ? 1 : 0, eos);
}

describe("make-tiny preset 'shapes'", () => {
  it('writes the preset sizes: 16 CLIP + 16 T5 tokens, D = 64 (4 x 16), 6 layers, patch 2, 8x8 latents of 64x64', async () => {
    const d = shapes.dir;
    expect(shapes.textLengths).toEqual({ clip: 16, t5: 16 });
    expect((await json(d, 'text_encoder', 'config.json')).max_position_embeddings).toBe(16);
    expect((await json(d, 'text_encoder_2', 'config.json')).max_position_embeddings).toBe(16);
    expect((await json(d, 'tokenizer', 'tokenizer_config.json')).model_max_length).toBe(16);
    expect((await json(d, 'tokenizer_2', 'tokenizer_config.json')).model_max_length).toBe(16);
    expect((await json(d, 'tokenizer_3', 'tokenizer_config.json')).model_max_length).toBe(16);
    const t = shapes.transformer;
    expect([t.num_attention_heads, t.attention_head_dim, t.num_layers, t.patch_size]).toEqual([4, 16, 6, 2]);
    // 128x128 pixels = 16x16 latents (VAE scale 8) = 8x8 patches must fit the position table
    expect(t.pos_embed_max_size * t.patch_size * 2 ** (shapes.vae.block_out_channels.length - 1)).toBeGreaterThanOrEqual(128);
    expect(t.sample_size * 8).toBeGreaterThanOrEqual(128);
    expect([shapes.vae.latent_channels, shapes.vae.block_out_channels.length]).toEqual([16, 4]);
    const ck = await openCheckpoint(d);
    expect(ck.textLengths).toEqual({ clip: 16, t5: 16 });
    expect(() => validateCheckpoint(ck)).not.toThrow();
    await ck.close();
  });

  it('every synth caption (and the empty prompt) fits untruncated with EOS in all three tokenizers', async () => {
    const d = shapes.dir;
    const short = [await loadClipTokenizer(join(d, 'tokenizer')), await loadClipTokenizer(join(d, 'tokenizer_2')), await loadT5Tokenizer(join(d, 'tokenizer_3'))];
    // the same folders at the real lengths: nothing is cut there, so they show what the text really is
    const long = [await loadClipTokenizer(join(d, 'tokenizer'), 77), await loadClipTokenizer(join(d, 'tokenizer_2'), 77), await loadT5Tokenizer(join(d, 'tokenizer_3'), 256)];
    expect(short.map((t) => t.maxLength)).toEqual([16, 16, 16]);
    const captions = allCombinations().map(caption);
    expect(captions.length).toBe(180);
    let most = 0;
    for (const text of [...captions, '']) {
      for (let k = 0; k < 3; k++) {
        const clip = k < 2;
        const ids = short[k].encode(text);
        expect(ids.length).toBe(16);
        const fullText = textPart(long[k], long[k].encode(text), clip);
        expect(textPart(short[k], ids, clip), `${text} (tokenizer ${k})`).toEqual(fullText);
        if (!clip) expect(fullText.includes(short[k].inner.token_to_id('<unk>')!), `${text}: T5 <unk>`).toBe(false);
        most = Math.max(most, fullText.length + (clip ? 2 : 1));
      }
    }
    expect(most).toBeLessThanOrEqual(16);
  });

  it('the synth vocabulary comes from engine/data/synth.ts: each word is one CLIP and one T5 token', async () => {
    const d = shapes.dir;
    const l = await loadClipTokenizer(join(d, 'tokenizer'));
    const t5 = await loadT5Tokenizer(join(d, 'tokenizer_3'));
    const words = [...Object.keys(SHAPE_COLOURS), ...SHAPES, ...DIRECTIONS, ...Object.keys(BACKGROUND_COLOURS), 'moving', 'on', 'background'];
    for (const w of words) {
      expect(textPart(l, l.encode(w), true).length, `CLIP ${w}`).toBe(1);
      expect(textPart(t5, t5.encode(w), false).length, `T5 ${w}`).toBe(1);
    }
  });

  it('explicit options override the preset; textTokens and extraCorpus work without it', async () => {
    const c = await makeTinyCheckpoint(join(root, 'custom'), { ...SHAPES_PRESET, textTokens: { clip: 10, t5: 7 }, transformer: { num_layers: 1 }, extraCorpus: ['zebra zebra crossing'] });
    expect(c.textLengths).toEqual({ clip: 10, t5: 7 });
    expect(c.transformer.num_layers).toBe(1);
    const ck = await openCheckpoint(c.dir);
    expect(ck.textLengths).toEqual({ clip: 10, t5: 7 });
    await ck.close();
    const t5 = await loadT5Tokenizer(join(c.dir, 'tokenizer_3'));
    expect(t5.encode('zebra').slice(0, 2)).toEqual([t5.inner.token_to_id('▁zebra'), t5.eosId]);
    const p = await makeTinyCheckpoint(join(root, 'preset-seed'), { preset: 'shapes', transformer: { num_layers: 2 } });
    expect([p.transformer.num_layers, p.transformer.attention_head_dim, p.textLengths.clip]).toEqual([2, 16, 16]);
  });

  it('rejects text lengths the loader cannot honour', async () => {
    await expect(makeTinyCheckpoint(join(root, 'bad1'), { textTokens: { clip: 16, t5: 300 } })).rejects.toThrow(/textTokens\.t5 300 must be an integer in 1\.\.256/);
    await expect(makeTinyCheckpoint(join(root, 'bad2'), { textTokens: { clip: 1, t5: 16 } })).rejects.toThrow(/textTokens\.clip 1 must be an integer >= 2/);
  });
});

describe('make-tiny default', () => {
  it('keeps the real lengths: 77 CLIP (max_position_embeddings 77), T5 model_max_length 512 -> 256', async () => {
    const c = await makeTinyCheckpoint(join(root, 'default'));
    expect(c.textLengths).toEqual({ clip: 77, t5: 256 });
    expect(c.textEncoder.max_position_embeddings).toBe(77);
    expect((await json(c.dir, 'tokenizer', 'tokenizer_config.json')).model_max_length).toBe(77);
    expect((await json(c.dir, 'tokenizer_3', 'tokenizer_config.json')).model_max_length).toBe(512);
    const ck = await openCheckpoint(c.dir);
    expect(ck.textLengths).toEqual({ clip: 77, t5: 256 });
    await ck.close();
  });
});
