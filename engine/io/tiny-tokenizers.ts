// Generates small but complete tokenizer files for tiny checkpoints: a byte-level CLIP BPE
// (vocab.json + merges.txt, any text tokenizes) and a T5 Unigram tokenizer.json (chars + common words), both
// learned from a small corpus (TINY_CORPUS by default) and padding to a given model_max_length.

/** GPT-2/CLIP byte -> printable unicode character table (byte-level BPE alphabet). */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return table;
}

/** Small built-in English corpus the tiny BPE merges and T5 pieces are learned from. */
export const TINY_CORPUS = [
  'a photo of a cat sitting on the table in the kitchen',
  'the quick brown fox jumps over the lazy dog',
  'a beautiful sunset over the ocean with waves and clouds',
  'an astronaut riding a horse on the moon, high quality, detailed',
  'a video of people walking in the city street at night with lights',
  'the camera moves slowly through a forest of tall trees and flowers',
  'two dogs are playing with a ball in the green park',
  'a red car driving fast on the road near the mountains',
  'cinematic shot of a woman smiling, soft light, 4k',
  'there is a small boat on the river and the water is calm',
];

/** CLIP pre-tokenizer split (same pattern as the Hugging Face CLIP tokenizer). */
export const CLIP_SPLIT_REGEX = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

export interface ClipTokenizerFiles {
  'vocab.json': string;
  'merges.txt': string;
  'tokenizer_config.json': string;
  'special_tokens_map.json': string;
  vocabSize: number;
  bosId: number;
  eosId: number;
  padId: number;
}

function specialToken(content: string) {
  return { content, lstrip: false, normalized: true, rstrip: false, single_word: false };
}

/** Learn `numMerges` BPE merges on the corpus words (CLIP style: last symbol carries `</w>`). */
function learnMerges(words: string[][], numMerges: number): [string, string][] {
  const merges: [string, string][] = [];
  let seqs = words.map((w) => [...w]);
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map<string, number>();
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) {
      const k = `${s[i]} ${s[i + 1]}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    let best = '';
    let bestN = 1; // only merge pairs seen at least twice
    for (const [k, n] of [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) if (n > bestN) { best = k; bestN = n; }
    if (!best) break;
    const [a, b] = best.split(' ');
    merges.push([a, b]);
    seqs = seqs.map((s) => {
      const out: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) { out.push(a + b); i++; } else out.push(s[i]);
      }
      return out;
    });
  }
  return merges;
}

/**
 * Byte-level CLIP BPE files: 256 byte symbols, 256 byte+`</w>` symbols, learned merges, then
 * `<|startoftext|>` and `<|endoftext|>` last (as in the real CLIP vocab). `padToken` "<|endoftext|>"
 * (CLIP-L in SD3) or "!" (CLIP-bigG in SD3).
 */
export function makeClipTokenizerFiles(opts: {
  numMerges?: number;
  padToken?: string;
  /** Lines the merges are learned from (default TINY_CORPUS). */
  corpus?: readonly string[];
  /** tokenizer_config.json model_max_length (default 77, as real CLIP). */
  maxLength?: number;
} = {}): ClipTokenizerFiles {
  const b2u = bytesToUnicode();
  const enc = new TextEncoder();
  const words: string[][] = [];
  for (const line of opts.corpus ?? TINY_CORPUS) {
    for (const w of line.toLowerCase().match(/[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/gu) ?? []) {
      const syms = [...enc.encode(w)].map((b) => b2u[b]);
      syms[syms.length - 1] += '</w>';
      words.push(syms);
    }
  }
  const merges = learnMerges(words, opts.numMerges ?? 120);
  // GPT-2/CLIP vocab order: printable bytes first (so "!" is id 0), then the remapped ones.
  const order = [...b2u.filter((c) => c.codePointAt(0)! < 256), ...b2u.filter((c) => c.codePointAt(0)! >= 256)];
  const vocab: Record<string, number> = {};
  let id = 0;
  for (const ch of order) vocab[ch] = id++;
  for (const ch of order) vocab[`${ch}</w>`] = id++;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = id++;
  const bosId = id++;
  vocab['<|startoftext|>'] = bosId;
  const eosId = id++;
  vocab['<|endoftext|>'] = eosId;
  const padToken = opts.padToken ?? '<|endoftext|>';
  const padId = vocab[padToken];
  if (padId === undefined) throw new Error(`pad token ${padToken} is not in the tiny CLIP vocab`);
  const config = {
    add_prefix_space: false,
    bos_token: '<|startoftext|>',
    clean_up_tokenization_spaces: true,
    do_lower_case: true,
    eos_token: '<|endoftext|>',
    errors: 'replace',
    model_max_length: opts.maxLength ?? 77,
    pad_token: padToken,
    tokenizer_class: 'CLIPTokenizer',
    unk_token: '<|endoftext|>',
  };
  const special = {
    bos_token: specialToken('<|startoftext|>'),
    eos_token: specialToken('<|endoftext|>'),
    pad_token: specialToken(padToken),
    unk_token: specialToken('<|endoftext|>'),
  };
  return {
    'vocab.json': JSON.stringify(vocab),
    'merges.txt': `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`,
    'tokenizer_config.json': JSON.stringify(config, null, 2),
    'special_tokens_map.json': JSON.stringify(special, null, 2),
    vocabSize: id,
    bosId,
    eosId,
    padId,
  };
}

export interface T5TokenizerFiles {
  'tokenizer.json': string;
  'tokenizer_config.json': string;
  'special_tokens_map.json': string;
  /** Number of pieces (ids 0..vocabSize-1). */
  vocabSize: number;
  padId: number;
  eosId: number;
  unkId: number;
}

/**
 * T5 Unigram tokenizer: <pad>=0, </s>=1, <unk>=2, then "▁", printable ASCII characters (alone and
 * with the "▁" word prefix) and the corpus words (default TINY_CORPUS), scored so whole words win over characters.
 * `maxLength`: tokenizer_config.json model_max_length (default 512, as the real SD3 T5 tokenizer; read as 256).
 */
export function makeT5TokenizerFiles(opts: { corpus?: readonly string[]; maxLength?: number } = {}): T5TokenizerFiles {
  const pieces: [string, number][] = [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2]];
  const seen = new Set(pieces.map((p) => p[0]));
  const add = (p: string, score: number) => {
    if (!seen.has(p)) { seen.add(p); pieces.push([p, score]); }
  };
  const words = [...new Set((opts.corpus ?? TINY_CORPUS).join(' ').split(/\s+/).map((w) => w.replace(/[^A-Za-z]/g, '')).filter((w) => w.length > 1))].sort();
  for (const w of words) add(`▁${w}`, -3 - w.length * 0.01);
  for (let c = 0x21; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    add(`▁${ch}`, -8);
    add(ch, -9);
  }
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: 0, content: '<pad>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 1, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      { id: 2, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
  const config = {
    eos_token: '</s>',
    pad_token: '<pad>',
    unk_token: '<unk>',
    extra_ids: 0,
    additional_special_tokens: [],
    model_max_length: opts.maxLength ?? 512,
    clean_up_tokenization_spaces: true,
    tokenizer_class: 'T5Tokenizer',
  };
  const special = { eos_token: specialToken('</s>'), pad_token: specialToken('<pad>'), unk_token: specialToken('<unk>') };
  return {
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': JSON.stringify(config, null, 2),
    'special_tokens_map.json': JSON.stringify(special, null, 2),
    vocabSize: pieces.length,
    padId: 0,
    eosId: 1,
    unkId: 2,
  };
}
