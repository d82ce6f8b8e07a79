// Text sequence lengths from the tokenizer configs: real-layout configs (CLIP model_max_length 77, T5 512, or none)
// keep 77 + 256 tokens; shorter configured lengths pad the prompt to them; a CLIP length beyond the encoder's
// max_position_embeddings, or two CLIP tokenizers that disagree, are clear errors naming the files.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { NodeFileStore } from '../../../engine/io/node-files.js';
import { clipLengthFromConfig, readTextLengths, t5LengthFromConfig } from '../../../engine/text/text-lengths.js';
import { loadCheckpointTokenizers, loadClipTokenizer, loadT5Tokenizer } from '../../../engine/text/tokenizers.js';

let root = '';
let base = '';
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'parallax-textlen-'));
  base = (await makeTinyCheckpoint(join(root, 'base'))).dir;
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

let copies = 0;
/** A copy of the default tiny checkpoint with tokenizer_config.json fields of `dir` replaced (undefined deletes). */
async function variant(edits: Record<string, Record<string, unknown>>): Promise<string> {
  const dir = join(root, `v${copies++}`);
  await cp(base, dir, { recursive: true });
  for (const [sub, fields] of Object.entries(edits)) {
    const f = join(dir, sub, 'tokenizer_config.json');
    const cfg = JSON.parse(await readFile(f, 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) delete cfg[k];
      else cfg[k] = v;
    }
    await writeFile(f, JSON.stringify(cfg));
  }
  return dir;
}

describe('length rules', () => {
  it('CLIP: model_max_length, else 77; T5: min(256, model_max_length), else 256', () => {
    expect(clipLengthFromConfig({ model_max_length: 77 }, 'f')).toBe(77);
    expect(clipLengthFromConfig({}, 'f')).toBe(77);
    expect(clipLengthFromConfig(null, 'f')).toBe(77);
    expect(clipLengthFromConfig({ model_max_length: 16 }, 'f')).toBe(16);
    expect(t5LengthFromConfig({ model_max_length: 512 }, 'f')).toBe(256);
    expect(t5LengthFromConfig({}, 'f')).toBe(256);
    expect(t5LengthFromConfig({ model_max_length: 16 }, 'f')).toBe(16);
    expect(t5LengthFromConfig({ model_max_length: 256 }, 'f')).toBe(256);
  });

  it("transformers' 'no limit' value int(1e30) reads as missing", () => {
    expect(clipLengthFromConfig({ model_max_length: 1e30 }, 'f')).toBe(77);
    expect(t5LengthFromConfig(JSON.parse('{"model_max_length": 1000000000000000019884624838656}') as Record<string, unknown>, 'f')).toBe(256);
  });

  it('rejects non-integer or too-small lengths, naming the file', () => {
    expect(() => clipLengthFromConfig({ model_max_length: 1 }, 'tok/tokenizer_config.json')).toThrow(/tok\/tokenizer_config\.json: model_max_length 1 must be an integer >= 2/);
    expect(() => clipLengthFromConfig({ model_max_length: '77' }, 'x.json')).toThrow(/x\.json: model_max_length "77"/);
    expect(() => t5LengthFromConfig({ model_max_length: 0 }, 'y.json')).toThrow(/y\.json: model_max_length 0 must be an integer >= 1/);
    expect(() => t5LengthFromConfig({ model_max_length: 2.5 }, 'y.json')).toThrow(/must be an integer/);
  });
});

describe('checkpoint lengths', () => {
  it('real-layout configs (77 / 512) and configs without model_max_length give 77 + 256 tokens', async () => {
    const real = await openCheckpoint(base);
    expect(real.textLengths).toEqual({ clip: 77, t5: 256 });
    const toks = await loadCheckpointTokenizers(real);
    expect([toks.clipL.encode('a cat').length, toks.clipG.encode('a cat').length, toks.t5!.encode('a cat').length]).toEqual([77, 77, 256]);
    await real.close();

    const bare = await variant({ tokenizer: { model_max_length: undefined }, tokenizer_2: { model_max_length: undefined }, tokenizer_3: { model_max_length: undefined } });
    const ck = await openCheckpoint(bare);
    expect(ck.textLengths).toEqual({ clip: 77, t5: 256 });
    const t = await loadCheckpointTokenizers(ck);
    expect([t.clipL.maxLength, t.clipG.maxLength, t.t5!.maxLength]).toEqual([77, 77, 256]);
    await ck.close();
    expect((await loadClipTokenizer(join(bare, 'tokenizer'))).maxLength).toBe(77);
    expect((await loadT5Tokenizer(join(bare, 'tokenizer_3'))).maxLength).toBe(256);
  });

  it('shorter configured lengths pad every prompt (and the empty one) to them, EOS kept', async () => {
    const dir = await variant({ tokenizer: { model_max_length: 12 }, tokenizer_2: { model_max_length: 12 }, tokenizer_3: { model_max_length: 9 } });
    const ck = await openCheckpoint(dir);
    expect(ck.textLengths).toEqual({ clip: 12, t5: 9 });
    const t = await loadCheckpointTokenizers(ck);
    const long = 'the quick brown fox jumps over the lazy dog and the camera moves slowly through a forest';
    for (const text of ['', 'a cat', long]) {
      const l = t.clipL.encode(text);
      const g = t.clipG.encode(text);
      const f = t.t5!.encode(text);
      expect([l.length, g.length, f.length]).toEqual([12, 12, 9]);
      expect(l[0]).toBe(t.clipL.bosId);
      expect(g.includes(t.clipG.eosId)).toBe(true);
      expect(f.includes(t.t5!.eosId)).toBe(true);
    }
    expect(t.clipL.encode(long)[11]).toBe(t.clipL.eosId); // truncated: EOS last
    expect(t.t5!.encode(long)[8]).toBe(t.t5!.eosId);
    // the same ids as the 77/256 tokenizers up to the cut
    const full = await loadCheckpointTokenizers(ck, 256);
    const fullG = await loadClipTokenizer(join(dir, 'tokenizer_2'), 77);
    expect(t.clipG.encode('a cat')).toEqual(fullG.encode('a cat').slice(0, 12));
    expect(t.t5!.encode('a cat')).toEqual(full.t5!.encode('a cat').slice(0, 9));
    await ck.close();
  });

  it('a CLIP length above max_position_embeddings is an error naming both files', async () => {
    const dir = await variant({ tokenizer_2: { model_max_length: 78 } });
    await expect(openCheckpoint(dir)).rejects.toThrow(/tokenizer_2\/tokenizer_config\.json: model_max_length 78 exceeds .*text_encoder_2\/config\.json max_position_embeddings 77.*set model_max_length <= 77/);
    await expect(readTextLengths({ store: new NodeFileStore(dir), tokenizerDirs: { tokenizer: 'tokenizer', tokenizer_2: 'tokenizer_2' } }))
      .rejects.toThrow(/tokenizer\/tokenizer_config\.json model_max_length 77 != .*tokenizer_2\/tokenizer_config\.json model_max_length 78/); // no encoders given: only the mismatch
  });

  it('two CLIP tokenizers of different lengths are an error naming both files', async () => {
    const dir = await variant({ tokenizer: { model_max_length: 20 }, tokenizer_2: { model_max_length: 24 } });
    await expect(openCheckpoint(dir)).rejects.toThrow(/tokenizer\/tokenizer_config\.json model_max_length 20 != .*tokenizer_2\/tokenizer_config\.json model_max_length 24: both CLIP tokenizers must pad to the same length/);
  });
});
