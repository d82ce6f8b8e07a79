// SD3 tokenizers on the tiny tokenizer files: lengths, BOS/EOS/pad positions, truncation, and the CLIP
// BPE / T5 Unigram ids against small independent reference implementations.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClipTokenizerFiles, makeT5TokenizerFiles } from '../../../engine/io/tiny-tokenizers.js';
import { refClipWord as refWord } from './clip-ref.js';
import { loadCheckpointTokenizers, loadClipTokenizer, loadT5Tokenizer, type TextTokenizer } from '../../../engine/text/tokenizers.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';

let root = '';
const clipL = makeClipTokenizerFiles({ padToken: '<|endoftext|>' });
const clipG = makeClipTokenizerFiles({ padToken: '!' });
const t5 = makeT5TokenizerFiles();
let tokL: TextTokenizer;
let tokG: TextTokenizer;
let tokT5: TextTokenizer;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tok-'));
  const put = async (name: string, files: Record<string, unknown>, names: string[]) => {
    await mkdir(join(root, name));
    for (const f of names) await writeFile(join(root, name, f), files[f] as string);
  };
  const clipFiles = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];
  await put('tokenizer', clipL as unknown as Record<string, unknown>, clipFiles);
  await put('tokenizer_2', clipG as unknown as Record<string, unknown>, clipFiles);
  await put('tokenizer_3', t5 as unknown as Record<string, unknown>, ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']);
  tokL = await loadClipTokenizer(join(root, 'tokenizer'));
  tokG = await loadClipTokenizer(join(root, 'tokenizer_2'));
  tokT5 = await loadT5Tokenizer(join(root, 'tokenizer_3'));
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

const refClipWord = (word: string, vocab: Record<string, number>, merges: string[]) => refWord(word, { vocab, merges });

describe('CLIP tokenizer', () => {
  it('pads to 77 with BOS ... EOS then the folder pad token', () => {
    const vocab = JSON.parse(clipL['vocab.json']) as Record<string, number>;
    for (const [tok, files] of [[tokL, clipL], [tokG, clipG]] as const) {
      const ids = tok.encode('a photo of a cat');
      expect(ids.length).toBe(77);
      expect(ids[0]).toBe(files.bosId);
      const text = ids.slice(1, ids.indexOf(files.eosId));
      expect(text.length).toBeGreaterThan(3);
      const eosAt = 1 + text.length;
      expect(ids[eosAt]).toBe(files.eosId);
      expect(ids.slice(eosAt + 1).every((v) => v === files.padId)).toBe(true);
      expect(Math.max(...ids)).toBeLessThan(files.vocabSize);
    }
    expect(tokL.padId).toBe(tokL.eosId); // CLIP-L pads with <|endoftext|>
    expect(tokG.padId).toBe(vocab['!']); // CLIP-bigG pads with "!"
    expect(tokG.padId).toBe(0);
  });

  it('matches a reference BPE word by word, lowercases and collapses whitespace', () => {
    const vocab = JSON.parse(clipL['vocab.json']) as Record<string, number>;
    const merges = clipL['merges.txt'].split('\n').slice(1).filter((l) => l);
    expect(merges.length).toBeGreaterThan(20);
    const words = ['the', 'a', 'photo', 'sitting', 'zebra', 'quick', 'lights', 'ocean', 'qqq', 'x', 'playing', 'dog'];
    let s = 99;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20; i++) words.push(Array.from({ length: 1 + Math.floor(rnd() * 9) }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(rnd() * 26)]).join(''));
    const expected = [tokL.bosId!, ...words.flatMap((w) => refClipWord(w, vocab, merges))].slice(0, 76);
    const got = tokL.encode(words.map((w, i) => (i % 3 === 0 ? w.toUpperCase() : w)).join(' \t\n  '));
    expect(expected.length).toBe(76);
    expect(got).toEqual([...expected, tokL.eosId]);
    // punctuation and digits split as CLIP does: "cat," -> cat + ","; "42" -> 4, 2
    const want = [...refClipWord('cat', vocab, merges), vocab[',</w>'], vocab['4</w>'], vocab['2</w>'], tokL.eosId];
    expect(tokL.encode('cat, 42').slice(1, 1 + want.length)).toEqual(want);
  });

  it('truncates long prompts to BOS + 75 tokens + EOS and handles any Unicode text', () => {
    const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');
    const ids = tokL.encode(long);
    expect(ids.length).toBe(77);
    expect(ids[0]).toBe(tokL.bosId);
    expect(ids[76]).toBe(tokL.eosId);
    expect(ids.slice(1, 76).includes(tokL.eosId)).toBe(false);
    const uni = tokL.encode('Übermäßig 日本 🎥');
    const body = uni.slice(1, uni.indexOf(tokL.eosId));
    expect(tokL.inner.decode(body).replace(/\s+/g, '')).toBe('übermäßig日本🎥');
  });
});

describe('T5 tokenizer', () => {
  const pieces = () => new Map((JSON.parse(t5['tokenizer.json']).model.vocab as [string, number][]).map(([p], i) => [p, i]));

  it('pads to 256 with text, EOS, then pad 0', () => {
    const p = pieces();
    const ids = tokT5.encode('a photo of a cat');
    expect(ids.length).toBe(256);
    expect(ids.slice(0, 6)).toEqual([p.get('▁a'), p.get('▁photo'), p.get('▁of'), p.get('▁a'), p.get('▁cat'), t5.eosId]);
    expect(ids.slice(6).every((v) => v === t5.padId)).toBe(true);
    expect(t5.padId).toBe(0);
    expect(t5.eosId).toBe(1);
  });

  it('falls back to characters, maps unknown characters to <unk>, and truncates with EOS last', () => {
    const p = pieces();
    expect(tokT5.encode('Zq ü').slice(0, 6)).toEqual([p.get('▁Z'), p.get('q'), p.get('▁'), t5.unkId, t5.eosId, 0]);
    const ids = tokT5.encode(Array.from({ length: 400 }, () => 'the').join(' '));
    expect(ids.length).toBe(256);
    expect(ids[255]).toBe(t5.eosId);
    expect(ids.slice(0, 255).every((v) => v === p.get('▁the'))).toBe(true);
    expect(tokT5.encode('').slice(0, 2)).toEqual([t5.eosId, t5.padId]);
  });
});

describe('checkpoint tokenizers', () => {
  it('loads all three from a tiny checkpoint and ids fit the text encoders vocabularies', async () => {
    const tiny = await makeTinyCheckpoint(join(root, 'ckpt'));
    const ck = await openCheckpoint(tiny.dir);
    const toks = await loadCheckpointTokenizers(ck);
    const prompt = 'A cinematic shot of a red car driving on the road near the mountains, 4k';
    const l = toks.clipL.encode(prompt);
    const g = toks.clipG.encode(prompt);
    const t = toks.t5!.encode(prompt);
    expect([l.length, g.length, t.length]).toEqual([77, 77, 256]);
    expect(Math.max(...l)).toBeLessThan(tiny.textEncoder.vocab_size);
    expect(Math.max(...g)).toBeLessThan(tiny.textEncoder2.vocab_size);
    expect(Math.max(...t)).toBeLessThan(tiny.textEncoder3.vocab_size);
    expect(l[0]).toBe(tiny.textEncoder.bos_token_id);
    expect(l.indexOf(tiny.textEncoder.eos_token_id)).toBe(g.indexOf(tiny.textEncoder2.eos_token_id));
    await ck.close();
  });
});
