// Token ids pinned against the reference tokenizers' rules (docs/encoders.md "Tokenizers"): special and added
// tokens written inside the prompt (CLIP-G's pad "!", bos/eos, added_tokens_decoder / added_tokens.json entries,
// T5's </s> <pad> <unk> <extra_id_N>) and the slow CLIPTokenizer's clean-up without ftfy. Expected ids come from
// the tiny vocab/merges through the test-side reference BPE (clip-ref.ts), never from engine/text.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeClipTokenizerFiles, makeT5TokenizerFiles } from '../../../engine/io/tiny-tokenizers.js';
import { loadCheckpointTokenizers, loadClipTokenizer, loadT5Tokenizer, type TextTokenizer } from '../../../engine/text/tokenizers.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { parseClipFiles, refClipWords } from './clip-ref.js';

let root = '';
const clipL = makeClipTokenizerFiles({ padToken: '<|endoftext|>' });
const clipG = makeClipTokenizerFiles({ padToken: '!' });
const t5 = makeT5TokenizerFiles();
const V = parseClipFiles(clipL); // both CLIP folders share vocab and merges; only the pad token differs
const BOS = clipL.bosId;
const EOS = clipL.eosId;
const BANG = V.vocab['!']; // "!" as a word piece (id 0 as in the real CLIP vocab): CLIP-G's pad token
const BANG_END = V.vocab['!</w>']; // "!" ending a word: what CLIP-L (where "!" is not special) produces
const W = (...words: string[]) => refClipWords(words, V);
let tokL: TextTokenizer;
let tokG: TextTokenizer;
let tokT5: TextTokenizer;

/** Added tokens of the custom folders, numbered after the tiny vocab. */
const SKS = clipL.vocabSize;
const X = clipL.vocabSize + 1;
const XY = clipL.vocabSize + 2;
const STRIP = clipL.vocabSize + 3;
const NEW = clipL.vocabSize + 4;
const EXTRA = [t5.vocabSize, t5.vocabSize + 1, t5.vocabSize + 2]; // <extra_id_0>, <extra_id_1>, <extra_id_10>

const token = (content: string, more: Record<string, boolean> = {}) => ({
  content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true, ...more,
});

async function writeFolder(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  return dir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tokrules-'));
  const clipFiles = (f: typeof clipL) => ({
    'vocab.json': f['vocab.json'], 'merges.txt': f['merges.txt'],
    'tokenizer_config.json': f['tokenizer_config.json'], 'special_tokens_map.json': f['special_tokens_map.json'],
  });
  tokL = await loadClipTokenizer(await writeFolder('tokenizer', clipFiles(clipL)));
  tokG = await loadClipTokenizer(await writeFolder('tokenizer_2', clipFiles(clipG)));
  tokT5 = await loadT5Tokenizer(await writeFolder('tokenizer_3', {
    'tokenizer.json': t5['tokenizer.json'], 'tokenizer_config.json': t5['tokenizer_config.json'], 'special_tokens_map.json': t5['special_tokens_map.json'],
  }));
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** A 77-long CLIP encoding is BOS, exactly the `want` text ids, then EOS (padding is checked elsewhere). */
const expectBody = (ids: number[], want: number[]) => {
  expect(ids.length).toBe(77);
  expect(ids.slice(0, want.length + 2)).toEqual([BOS, ...want, EOS]);
};

describe('"!" inside the prompt (CLIP-G pad token, an ordinary character for CLIP-L)', () => {
  // [prompt, CLIP-G text ids, CLIP-L text ids]
  const cases: [string, number[], number[]][] = [
    ['fox!', [...W('fox'), BANG], W('fox', '!')],
    ['!fox', [BANG, ...W('fox')], W('!', 'fox')],
    ['fox!dog', [...W('fox'), BANG, ...W('dog')], W('fox', '!', 'dog')],
    ['fox ! dog', [...W('fox'), BANG, ...W('dog')], W('fox', '!', 'dog')],
    ['wow!!!', [...W('wow'), BANG, BANG, BANG], W('wow', '!!!')],
    ['really?!', [...W('really', '?'), BANG], W('really', '?!')],
    ['!?', [BANG, ...W('?')], W('!?')],
    ['"hi!", she said.', [...W('"', 'hi'), BANG, ...W('",', 'she', 'said', '.')], W('"', 'hi', '!",', 'she', 'said', '.')],
    ['A red car driving fast on the road!', [...W('a', 'red', 'car', 'driving', 'fast', 'on', 'the', 'road'), BANG],
      W('a', 'red', 'car', 'driving', 'fast', 'on', 'the', 'road', '!')],
    ['!\u200b!', [BANG, BANG], W('!!')],
  ];
  for (const [prompt, g, l] of cases) {
    it(JSON.stringify(prompt), () => {
      const idsG = tokG.encode(prompt);
      expectBody(idsG, g);
      expect(idsG.slice(g.length + 2).every((v) => v === BANG)).toBe(true); // CLIP-G pads with "!" (id 0)
      const idsL = tokL.encode(prompt);
      expectBody(idsL, l);
      expect(idsL.slice(l.length + 2).every((v) => v === EOS)).toBe(true);
    });
  }

  it('pins the ids of the issue report (tiny checkpoint tokenizer_2, "fox!")', async () => {
    const tiny = await makeTinyCheckpoint(join(root, 'ckpt'));
    const ck = await openCheckpoint(tiny.dir);
    const toks = await loadCheckpointTokenizers(ck);
    expect(toks.clipG.encode('fox!')).toEqual([562, 548, 343, 0, 563, ...new Array(72).fill(0)]);
    expect(toks.clipL.encode('fox!')).toEqual([562, 548, 343, 256, 563, ...new Array(72).fill(563)]);
    expect([BANG, BANG_END, BOS, EOS]).toEqual([0, 256, 562, 563]);
    await ck.close();
  });
});

describe('bos/eos written in the prompt', () => {
  it('are single tokens wherever they stand (cut out before clean-up and BPE)', () => {
    for (const tok of [tokL, tokG]) {
      expectBody(tok.encode('x<|endoftext|>y'), [...W('x'), EOS, ...W('y')]);
      expectBody(tok.encode('<|startoftext|>cat'), [BOS, ...W('cat')]);
    }
  });

  it('match case-sensitively; an upper-case one reaches the BPE and stays special only as a whole regex word', () => {
    // lower-cased by the clean-up, then CLIPTokenizer.pat matches "<|endoftext|>" and bpe()'s cache maps it to itself
    expectBody(tokL.encode('cat <|ENDOFTEXT|> dog'), [...W('cat'), EOS, ...W('dog')]);
    // after "?" the punctuation run "?<|" swallows the "<": no special token
    expectBody(tokL.encode('?<|ENDOFTEXT|>'), W('?<|', 'endoftext', '|>'));
  });
});

describe('added tokens from the tokenizer folder', () => {
  let modern: TextTokenizer;
  let legacy: TextTokenizer;
  beforeAll(async () => {
    const base = { 'vocab.json': clipG['vocab.json'], 'merges.txt': clipG['merges.txt'] };
    const config = JSON.parse(clipG['tokenizer_config.json']) as Record<string, unknown>;
    // transformers >= 4.34 files: added_tokens_decoder present, so special_tokens_map.json is not read
    modern = await loadClipTokenizer(await writeFolder('clip-modern', {
      ...base,
      'tokenizer_config.json': JSON.stringify({
        ...config,
        added_tokens_decoder: {
          [BANG]: token('!'), [BOS]: token('<|startoftext|>', { normalized: true }), [EOS]: token('<|endoftext|>'),
          [SKS]: token('<sks>', { special: false, single_word: true }), [X]: token('<x>', { special: false }),
          [XY]: token('<x>y', { special: false }), [STRIP]: token('<l>', { lstrip: true, rstrip: true }),
        },
      }),
      'special_tokens_map.json': JSON.stringify({ pad_token: '<|endoftext|>' }),
    }));
    // legacy files: special_tokens_map.json overrides tokenizer_config.json, added_tokens.json adds tokens
    legacy = await loadClipTokenizer(await writeFolder('clip-legacy', {
      ...base,
      'tokenizer_config.json': JSON.stringify({ ...config, pad_token: '<|endoftext|>' }),
      'special_tokens_map.json': JSON.stringify({ pad_token: '!' }),
      'added_tokens.json': JSON.stringify({ '<new>': NEW }),
    }));
  });

  it('modern files: roles from tokenizer_config.json, added_tokens_decoder tokens cut out leftmost-longest', () => {
    expect(modern.padId).toBe(BANG);
    expectBody(modern.encode('a <sks> dog!'), [...W('a'), SKS, ...W('dog'), BANG]);
    expectBody(modern.encode('<x>yz <x>z'), [XY, ...W('z'), X, ...W('z')]);
    expectBody(modern.encode('a <l> b'), [...W('a'), STRIP, ...W('b')]);
  });

  it('single_word: a token glued to a word stays text', () => {
    const want = W('a', '<', 'sks', '>', 'dog');
    expectBody(modern.encode('a<sks>dog'), want);
    const want2 = [...W('a'), ...W('<', 'sks', '>', 'dog')];
    expectBody(modern.encode('a <sks>dog'), want2);
  });

  it('legacy files: special_tokens_map.json pad wins, added_tokens.json tokens are single tokens', () => {
    expect(legacy.padId).toBe(BANG);
    expectBody(legacy.encode('fox<new>!'), [...W('fox'), NEW, BANG]);
  });
});

describe('CLIP clean-up without ftfy (BasicTokenizer)', () => {
  const same = (a: string, b: string) => {
    for (const tok of [tokL, tokG]) expect(tok.encode(a)).toEqual(tok.encode(b));
  };

  it('splits CJK ideographs into single-character words', () => {
    const want = W('東', '京');
    expect(want).not.toEqual(W('東京'));
    expectBody(tokL.encode('東京'), want);
    expectBody(tokG.encode('東京!'), [...want, BANG]);
    const kana = W('ひらがな'); // Hiragana is not in the CJK ranges: one word
    expectBody(tokL.encode('ひらがな'), kana);
  });

  it('drops control, format (zero-width) and replacement characters, NUL included', () => {
    expectBody(tokL.encode('a\u200bb'), W('ab'));
    same('a\u200bb', 'ab');
    same('c\u0000a\u0007t\u00ad\ufffd\u2060\ufeff', 'cat');
    same('\u200d\u200c', '');
    expectBody(tokL.encode(''), []);
  });

  it('maps whitespace (tabs, newlines, NBSP, ideographic space, line separator) to word breaks', () => {
    same('a\tb\nc\u00a0d\u3000e\u2028f\u2029g', 'a b c d e f g');
    expectBody(tokL.encode('a\u00a0b'), W('a', 'b'));
  });

  it('composes (NFC) and lowercases but keeps accents', () => {
    same('Cafe\u0301', 'café');
    expect(W('café')).not.toEqual(W('cafe'));
    expectBody(tokL.encode('CAFÉ'), W('café'));
    same('ＡＢ', 'ａｂ'); // full-width letters are lowercased, not NFKC-folded
  });
});

describe('T5 special tokens inside the prompt (T5TokenizerFast: added tokens cut out first)', () => {
  const pieces = new Map((JSON.parse(t5['tokenizer.json']).model.vocab as [string, number][]).map(([p], i) => [p, i]));
  const P = (...ps: string[]) => ps.map((p) => pieces.get(p)!);
  const enc = (tok: TextTokenizer, text: string, n: number) => {
    const ids = tok.encode(text);
    expect(ids[n]).toBe(t5.eosId);
    expect(ids.slice(n + 1).every((v) => v === t5.padId)).toBe(true);
    return ids.slice(0, n);
  };

  it('</s>, <pad>, <unk> are single tokens; each text piece around them is a new word', () => {
    expect(enc(tokT5, 'a</s>b', 3)).toEqual([P('▁a')[0], t5.eosId, P('▁b')[0]]);
    expect(enc(tokT5, 'the cat<pad>', 3)).toEqual([...P('▁the', '▁cat'), t5.padId]);
    expect(enc(tokT5, '<unk>fox!', 3)).toEqual([t5.unkId, ...P('▁fox', '!')]);
    expect(enc(tokT5, 'the  </s>  cat', 3)).toEqual([P('▁the')[0], t5.eosId, P('▁cat')[0]]);
  });

  it('adds tokenizer_config added_tokens_decoder entries missing from tokenizer.json (<extra_id_N>), leftmost-longest', async () => {
    const config = JSON.parse(t5['tokenizer_config.json']) as Record<string, unknown>;
    const names = ['<extra_id_0>', '<extra_id_1>', '<extra_id_10>'];
    const tok = await loadT5Tokenizer(await writeFolder('t5-extra', {
      'tokenizer.json': t5['tokenizer.json'],
      'tokenizer_config.json': JSON.stringify({
        ...config,
        additional_special_tokens: names,
        added_tokens_decoder: {
          0: token('<pad>'), 1: token('</s>'), 2: token('<unk>'),
          ...Object.fromEntries(names.map((n, i) => [EXTRA[i], token(n)])),
        },
      }),
    }));
    expect(enc(tok, 'x<extra_id_10>y <extra_id_1>z', 5)).toEqual([P('▁x')[0], EXTRA[2], P('▁y')[0], EXTRA[1], P('▁z')[0]]);
    expect(enc(tok, '<extra_id_0></s>', 2)).toEqual([EXTRA[0], t5.eosId]);
  });
});
