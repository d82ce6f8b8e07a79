// SD3-style text tokenizers over Hugging Face tokenizer folders (via @huggingface/tokenizers, offline):
// CLIP BPE (vocab.json + merges.txt) padded/truncated to 77, T5 Unigram (tokenizer.json) to 256 with EOS.
import { Tokenizer } from '@huggingface/tokenizers';
import type { FileStore } from '../io/file-store.js';
import { joinRel } from '../io/file-store.js';
import { CLIP_SPLIT_REGEX } from '../io/tiny-tokenizers.js';

export interface TextTokenizer {
  /** Token ids of exactly `maxLength` entries (special tokens and padding included). */
  encode(text: string): number[];
  readonly maxLength: number;
  readonly padId: number;
  readonly eosId: number;
  /** CLIP only. */
  readonly bosId?: number;
  /** The underlying @huggingface/tokenizers instance. */
  readonly inner: Tokenizer;
}

/** A tokenizer folder: a local path (Node) or a folder inside a FileStore (browser/HTTP). */
export type TokenizerLocation = string | { store: FileStore; dir: string };

async function resolve(loc: TokenizerLocation): Promise<{ store: FileStore; dir: string }> {
  if (typeof loc !== 'string') return loc;
  const { NodeFileStore } = await import('../io/node-files.js');
  return { store: new NodeFileStore(loc), dir: '' };
}

async function readJson(store: FileStore, rel: string, required: boolean): Promise<Record<string, unknown> | null> {
  if (!(await store.exists(rel))) {
    if (required) throw new Error(`${joinRel(store.root, rel)} not found (tokenizer folder incomplete)`);
    return null;
  }
  try {
    return JSON.parse(await store.readText(rel)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${joinRel(store.root, rel)}: invalid JSON (${(e as Error).message})`);
  }
}

/** Special token content from tokenizer_config / special_tokens_map (string or AddedToken object). */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

function idOf(tok: Tokenizer, content: string, where: string): number {
  const id = tok.token_to_id(content);
  if (id === undefined) throw new Error(`${where}: special token ${JSON.stringify(content)} is not in the vocabulary`);
  return id;
}

/** Build the Hugging Face tokenizer.json equivalent of a CLIP slow-tokenizer folder. */
function clipTokenizerJson(vocab: Record<string, number>, merges: string[], bos: string, eos: string, unk: string): object {
  const special = [bos, eos].map((content) => ({
    id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special,
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

/**
 * Load a CLIP tokenizer folder (vocab.json + merges.txt + tokenizer_config.json [+ special_tokens_map.json]).
 * encode(): BOS, up to maxLength-2 text tokens, EOS, then the folder's pad token up to maxLength (77).
 */
export async function loadClipTokenizer(loc: TokenizerLocation, maxLength = 77): Promise<TextTokenizer> {
  const { store, dir } = await resolve(loc);
  const where = joinRel(store.root, dir) || store.root;
  const config = (await readJson(store, joinRel(dir, 'tokenizer_config.json'), true))!;
  const specialMap = (await readJson(store, joinRel(dir, 'special_tokens_map.json'), false)) ?? {};
  const pick = (k: string, def: string) => tokenContent(specialMap[k]) ?? tokenContent(config[k]) ?? def;
  const bos = pick('bos_token', '<|startoftext|>');
  const eos = pick('eos_token', '<|endoftext|>');
  const unk = pick('unk_token', '<|endoftext|>');
  const pad = pick('pad_token', eos);
  let tokJson: object;
  if (await store.exists(joinRel(dir, 'tokenizer.json'))) {
    tokJson = (await readJson(store, joinRel(dir, 'tokenizer.json'), true))!;
  } else {
    const vocab = (await readJson(store, joinRel(dir, 'vocab.json'), true)) as Record<string, number>;
    const mergesRel = joinRel(dir, 'merges.txt');
    if (!(await store.exists(mergesRel))) throw new Error(`${joinRel(store.root, mergesRel)} not found (CLIP tokenizer needs vocab.json + merges.txt)`);
    const lines = (await store.readText(mergesRel)).split('\n');
    const merges = lines.filter((l, i) => l.trim() !== '' && !(i === 0 && l.startsWith('#version')));
    tokJson = clipTokenizerJson(vocab, merges, bos, eos, unk);
  }
  const inner = new Tokenizer(tokJson, { ...config, model_max_length: maxLength });
  const bosId = idOf(inner, bos, where);
  const eosId = idOf(inner, eos, where);
  const padId = idOf(inner, pad, where);
  return {
    maxLength, padId, eosId, bosId, inner,
    encode(text: string): number[] {
      const ids = inner.encode(text, { add_special_tokens: false }).ids.slice(0, maxLength - 2);
      const out = [bosId, ...ids, eosId];
      while (out.length < maxLength) out.push(padId);
      return out;
    },
  };
}

/**
 * Load a T5 tokenizer folder (tokenizer.json + tokenizer_config.json). encode(): text tokens truncated to
 * maxLength-1, EOS appended, padded with the pad token (id 0 in T5) to maxLength (256 in SD3).
 */
export async function loadT5Tokenizer(loc: TokenizerLocation, maxLength = 256): Promise<TextTokenizer> {
  const { store, dir } = await resolve(loc);
  const where = joinRel(store.root, dir) || store.root;
  const config = (await readJson(store, joinRel(dir, 'tokenizer_config.json'), true))!;
  const tokRel = joinRel(dir, 'tokenizer.json');
  if (!(await store.exists(tokRel))) {
    throw new Error(`${joinRel(store.root, tokRel)} not found: the T5 tokenizer needs tokenizer.json (spiece.model alone is not supported; convert it with transformers' T5TokenizerFast.save_pretrained)`);
  }
  const tokJson = (await readJson(store, tokRel, true))!;
  const specialMap = (await readJson(store, joinRel(dir, 'special_tokens_map.json'), false)) ?? {};
  const pick = (k: string, def: string) => tokenContent(specialMap[k]) ?? tokenContent(config[k]) ?? def;
  const inner = new Tokenizer(tokJson, { ...config, model_max_length: maxLength });
  const eosId = idOf(inner, pick('eos_token', '</s>'), where);
  const padId = idOf(inner, pick('pad_token', '<pad>'), where);
  return {
    maxLength, padId, eosId, inner,
    encode(text: string): number[] {
      const ids = inner.encode(text, { add_special_tokens: false }).ids.slice(0, maxLength - 1);
      const out = [...ids, eosId];
      while (out.length < maxLength) out.push(padId);
      return out;
    },
  };
}

export interface Sd3Tokenizers {
  /** CLIP-L (tokenizer/), 77 tokens. */
  clipL: TextTokenizer;
  /** CLIP-bigG (tokenizer_2/), 77 tokens. */
  clipG: TextTokenizer;
  /** T5 (tokenizer_3/), 256 tokens; undefined when the checkpoint has no tokenizer_3. */
  t5?: TextTokenizer;
}

/** Load the three tokenizers of an opened checkpoint (works for Node folders and HTTP stores). */
export async function loadCheckpointTokenizers(
  ckpt: { store: FileStore; tokenizerDirs: { tokenizer?: string; tokenizer_2?: string; tokenizer_3?: string } },
  t5MaxLength = 256,
): Promise<Sd3Tokenizers> {
  const { store, tokenizerDirs: d } = ckpt;
  if (!d.tokenizer || !d.tokenizer_2) {
    throw new Error(`${store.root}: tokenizer/ and tokenizer_2/ (with tokenizer_config.json) are required for the CLIP encoders`);
  }
  return {
    clipL: await loadClipTokenizer({ store, dir: d.tokenizer }),
    clipG: await loadClipTokenizer({ store, dir: d.tokenizer_2 }),
    t5: d.tokenizer_3 ? await loadT5Tokenizer({ store, dir: d.tokenizer_3 }, t5MaxLength) : undefined,
  };
}
