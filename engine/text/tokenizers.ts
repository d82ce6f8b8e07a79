// SD3-style text tokenizers over Hugging Face tokenizer folders (via @huggingface/tokenizers, offline):
// CLIP BPE (vocab.json + merges.txt) with the slow CLIPTokenizer's text rules, padded/truncated to model_max_length
// (77 in real CLIP); T5 Unigram (tokenizer.json, as T5TokenizerFast) to min(256, model_max_length) with EOS
// (lengths: text-lengths.ts). Reference rules: docs/encoders.md.
import { Tokenizer } from '@huggingface/tokenizers';
import type { FileStore } from '../io/file-store.js';
import { joinRel } from '../io/file-store.js';
import { CLIP_SPLIT_REGEX } from '../io/tiny-tokenizers.js';
import { AddedTokenSplitter, type AddedTokenSpec } from './added-tokens.js';
import { clipBasicClean } from './clip-clean.js';
import { clipLengthFromConfig, readTextLengths, t5LengthFromConfig, type TextLengths } from './text-lengths.js';

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

type Json = Record<string, unknown>;
const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** AddedToken flags from a tokenizer_config / special_tokens_map entry (plain strings: all false). */
function flagsOf(v: unknown): { lstrip: boolean; rstrip: boolean; singleWord: boolean; normalized?: boolean } {
  const o = v && typeof v === 'object' ? (v as Json) : {};
  const normalized = typeof o.normalized === 'boolean' ? o.normalized : undefined;
  return { lstrip: o.lstrip === true, rstrip: o.rstrip === true, singleWord: o.single_word === true, normalized };
}

/**
 * The special tokens by role and the added tokens of a slow-tokenizer folder, as transformers'
 * PreTrainedTokenizerBase._from_pretrained reads them: with `added_tokens_decoder` in tokenizer_config.json
 * (transformers >= 4.34 files) the roles come from tokenizer_config.json alone; otherwise (legacy files)
 * special_tokens_map.json overrides tokenizer_config.json and added_tokens.json lists the added tokens.
 * Every special token (and additional_special_tokens) is an added token too (PreTrainedTokenizer.__init__).
 */
async function readAddedTokens(
  store: FileStore, dir: string, config: Json, vocabId: (content: string) => number | undefined, where: string,
  defaults: Partial<Record<(typeof SPECIAL_KEYS)[number], string>>,
): Promise<{ roles: Map<string, string>; added: AddedTokenSpec[] }> {
  const decoder = config.added_tokens_decoder as Record<string, unknown> | undefined;
  const legacy = !decoder || typeof decoder !== 'object';
  const specialMap = legacy ? ((await readJson(store, joinRel(dir, 'special_tokens_map.json'), false)) ?? {}) : {};
  const added = new Map<string, AddedTokenSpec>();
  const put = (content: string, id: number | undefined, v: unknown) => {
    if (added.has(content)) return; // the first definition wins (_add_tokens skips known tokens)
    if (id === undefined) throw new Error(`${where}: added token ${JSON.stringify(content)} has no id (not in the vocabulary and not in added_tokens_decoder)`);
    added.set(content, { content, id, ...flagsOf(v) });
  };
  if (!legacy) {
    for (const [idx, v] of Object.entries(decoder!)) {
      const content = tokenContent(v);
      if (content !== undefined) put(content, Number(idx), v);
    }
  }
  const roles = new Map<string, string>();
  for (const key of SPECIAL_KEYS) {
    const v = specialMap[key] ?? config[key];
    const content = tokenContent(v) ?? defaults[key];
    if (content === undefined) continue;
    roles.set(key, content);
    put(content, vocabId(content), v);
  }
  const extra = specialMap.additional_special_tokens ?? config.additional_special_tokens;
  if (Array.isArray(extra)) {
    for (const v of extra) {
      const content = tokenContent(v);
      if (content !== undefined) put(content, vocabId(content), v);
    }
  }
  if (legacy) {
    const file = (await readJson(store, joinRel(dir, 'added_tokens.json'), false)) ?? {};
    for (const [content, id] of Object.entries(file)) if (typeof id === 'number') put(content, id, null);
  }
  return { roles, added: [...added.values()] };
}

/**
 * A @huggingface/tokenizers BPE over the CLIP vocab/merges that only does the byte-level mapping and the merges
 * of one pre-split word (`</w>` on its last symbol); clean-up, splitting and added tokens are done outside.
 */
function clipBpeJson(vocab: Record<string, number>, merges: string[], unk: string): object {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: '', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
}

/** CLIPTokenizer reads at most this many merges (merges.txt lines 1 .. 49152 - 256 - 2). */
const CLIP_MAX_MERGES = 49152 - 256 - 2;
/** Words CLIPTokenizer.bpe maps to themselves through its initial cache (so to their own vocab ids). */
const CLIP_CACHED_WORDS = ['<|startoftext|>', '<|endoftext|>'];

/** The vocab and merges of a CLIP folder: vocab.json + merges.txt (what CLIPTokenizer reads), else tokenizer.json. */
async function readClipModel(store: FileStore, dir: string): Promise<{ vocab: Record<string, number>; merges: string[] }> {
  const mergesRel = joinRel(dir, 'merges.txt');
  if (await store.exists(joinRel(dir, 'vocab.json'))) {
    const vocab = (await readJson(store, joinRel(dir, 'vocab.json'), true)) as Record<string, number>;
    if (!(await store.exists(mergesRel))) throw new Error(`${joinRel(store.root, mergesRel)} not found (CLIP tokenizer needs vocab.json + merges.txt)`);
    // CLIPTokenizer.__init__: read().strip().split("\n")[1 : 49152 - 256 - 2 + 1] (line 0 is the #version header)
    const merges = (await store.readText(mergesRel)).trim().split('\n').slice(1, 1 + CLIP_MAX_MERGES)
      .map((l) => l.trim().split(/\s+/).join(' ')).filter((l) => l !== ''); // tuple(merge.split())
    return { vocab, merges };
  }
  const tj = await readJson(store, joinRel(dir, 'tokenizer.json'), false);
  const model = tj?.model as { vocab?: Record<string, number>; merges?: (string | [string, string])[] } | undefined;
  if (!model?.vocab || !model.merges) {
    throw new Error(`${joinRel(store.root, dir) || store.root}: CLIP tokenizer needs vocab.json + merges.txt (or a BPE tokenizer.json)`);
  }
  return { vocab: model.vocab, merges: model.merges.slice(0, CLIP_MAX_MERGES).map((m) => (Array.isArray(m) ? m.join(' ') : m)) };
}

/**
 * Load a CLIP tokenizer folder (vocab.json + merges.txt + tokenizer_config.json [+ special_tokens_map.json,
 * added_tokens.json]) with the rules of transformers' slow CLIPTokenizer, which the reference pipeline loads
 * (see docs/encoders.md): added/special tokens in the text are single tokens, the rest is cleaned up as
 * BasicTokenizer does without ftfy, split by CLIP's regex and BPE-encoded word by word.
 * encode(): BOS, up to maxLength-2 text tokens, EOS, then the folder's pad token up to maxLength (default: the
 * config's model_max_length, else 77).
 */
export async function loadClipTokenizer(loc: TokenizerLocation, maxLength?: number): Promise<TextTokenizer> {
  const { store, dir } = await resolve(loc);
  const where = joinRel(store.root, dir) || store.root;
  const config = (await readJson(store, joinRel(dir, 'tokenizer_config.json'), true))!;
  maxLength ??= clipLengthFromConfig(config, joinRel(store.root, joinRel(dir, 'tokenizer_config.json')));
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new Error(`${where}: CLIP tokenizer length ${maxLength} must be an integer >= 2 (BOS and EOS)`);
  const len = maxLength;
  const { vocab, merges } = await readClipModel(store, dir);
  const defaults = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: '<|endoftext|>' };
  const vocabId = (c: string) => (Object.hasOwn(vocab, c) ? vocab[c] : undefined);
  const { roles, added } = await readAddedTokens(store, dir, config, vocabId, where, defaults);
  const unk = roles.get('unk_token')!;
  const inner = new Tokenizer(clipBpeJson(vocab, merges, unk), { ...config, model_max_length: maxLength });
  const roleId = (key: string) => {
    const content = roles.get(key)!;
    return added.find((t) => t.content === content)?.id ?? idOf(inner, content, where);
  };
  const bosId = roleId('bos_token');
  const eosId = roleId('eos_token');
  const padId = roleId('pad_token');
  const unkId = roleId('unk_token');
  const splitter = new AddedTokenSplitter(added);
  const pattern = new RegExp(CLIP_SPLIT_REGEX, 'giu'); // CLIPTokenizer.pat is compiled with re.IGNORECASE
  // _convert_token_to_id_with_added_voc: an added token's own id first, then the vocab (unk when absent)
  const addedId = new Map(added.map((t) => [t.content, t.id]));
  const cached = new Map(CLIP_CACHED_WORDS.map((w) => [w, addedId.get(w) ?? vocabId(w) ?? unkId]));
  const textIds = (text: string): number[] => {
    const ids: number[] = [];
    for (const piece of splitter.split(text)) {
      if ('token' in piece) { ids.push(piece.token.id); continue; }
      for (const m of clipBasicClean(piece.text).matchAll(pattern)) {
        const word = m[0];
        const hit = cached.get(word);
        if (hit !== undefined) ids.push(hit);
        else {
          const enc = inner.encode(word, { add_special_tokens: false });
          enc.tokens.forEach((t, k) => ids.push(addedId.get(t) ?? enc.ids[k]));
        }
      }
    }
    return ids;
  };
  return {
    maxLength: len, padId, eosId, bosId, inner,
    encode(text: string): number[] {
      const ids = textIds(text).slice(0, len - 2);
      const out = [bosId, ...ids, eosId];
      while (out.length < len) out.push(padId);
      return out;
    },
  };
}

/**
 * Load a T5 tokenizer folder (tokenizer.json + tokenizer_config.json). encode(): text tokens truncated to
 * maxLength-1, EOS appended, padded with the pad token (id 0 in T5) to maxLength (default: min(256, the config's
 * model_max_length), else 256 as in SD3).
 */
export async function loadT5Tokenizer(loc: TokenizerLocation, maxLength?: number): Promise<TextTokenizer> {
  const { store, dir } = await resolve(loc);
  const where = joinRel(store.root, dir) || store.root;
  const config = (await readJson(store, joinRel(dir, 'tokenizer_config.json'), true))!;
  maxLength ??= t5LengthFromConfig(config, joinRel(store.root, joinRel(dir, 'tokenizer_config.json')));
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`${where}: T5 tokenizer length ${maxLength} must be an integer >= 1 (EOS)`);
  const len = maxLength;
  const tokRel = joinRel(dir, 'tokenizer.json');
  if (!(await store.exists(tokRel))) {
    throw new Error(`${joinRel(store.root, tokRel)} not found: the T5 tokenizer needs tokenizer.json (spiece.model alone is not supported; convert it with transformers' T5TokenizerFast.save_pretrained)`);
  }
  const tokJson = (await readJson(store, tokRel, true))!;
  // T5TokenizerFast.__init__ (PreTrainedTokenizerFast) adds the tokens of tokenizer_config.json's
  // added_tokens_decoder and the special tokens that tokenizer.json lacks; the Rust tokenizer (here its
  // @huggingface/tokenizers port) then cuts every added token out of the text (docs/encoders.md).
  const jsonAdded = (Array.isArray(tokJson.added_tokens) ? tokJson.added_tokens : []) as { id: number; content: string }[];
  const pieces = (tokJson.model as { vocab?: unknown } | undefined)?.vocab;
  const vocabId = (c: string): number | undefined => {
    const a = jsonAdded.find((t) => t.content === c);
    if (a) return a.id;
    if (Array.isArray(pieces)) {
      const i = pieces.findIndex((p) => Array.isArray(p) && p[0] === c);
      return i >= 0 ? i : undefined;
    }
    return pieces && typeof pieces === 'object' && Object.hasOwn(pieces, c) ? (pieces as Record<string, number>)[c] : undefined;
  };
  const { roles, added } = await readAddedTokens(store, dir, config, vocabId, where, { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' });
  const missing = added.filter((t) => !jsonAdded.some((a) => a.content === t.content));
  if (missing.length) {
    tokJson.added_tokens = [...jsonAdded, ...missing.map((t) => ({
      id: vocabId(t.content) ?? t.id, content: t.content, single_word: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip,
      normalized: t.normalized ?? false, special: true,
    }))];
  }
  const inner = new Tokenizer(tokJson, { ...config, model_max_length: maxLength });
  const eosId = idOf(inner, roles.get('eos_token')!, where);
  const padId = idOf(inner, roles.get('pad_token')!, where);
  return {
    maxLength: len, padId, eosId, inner,
    encode(text: string): number[] {
      const ids = inner.encode(text, { add_special_tokens: false }).ids.slice(0, len - 1);
      const out = [...ids, eosId];
      while (out.length < len) out.push(padId);
      return out;
    },
  };
}

export interface Sd3Tokenizers {
  /** CLIP-L (tokenizer/), 77 tokens in real checkpoints (its model_max_length). */
  clipL: TextTokenizer;
  /** CLIP-bigG (tokenizer_2/), the same length as CLIP-L. */
  clipG: TextTokenizer;
  /** T5 (tokenizer_3/), 256 tokens in real checkpoints; undefined when the checkpoint has no tokenizer_3. */
  t5?: TextTokenizer;
}

/**
 * Load the three tokenizers of an opened checkpoint (works for Node folders and HTTP stores) at the checkpoint's
 * text lengths (ckpt.textLengths when opened with them, else read and checked here; see text-lengths.ts).
 * `t5MaxLength` overrides the T5 length.
 */
export async function loadCheckpointTokenizers(
  ckpt: Parameters<typeof readTextLengths>[0] & { textLengths?: TextLengths },
  t5MaxLength?: number,
): Promise<Sd3Tokenizers> {
  const { store, tokenizerDirs: d } = ckpt;
  if (!d.tokenizer || !d.tokenizer_2) {
    throw new Error(`${store.root}: tokenizer/ and tokenizer_2/ (with tokenizer_config.json) are required for the CLIP encoders`);
  }
  const lengths = ckpt.textLengths ?? (await readTextLengths(ckpt));
  return {
    clipL: await loadClipTokenizer({ store, dir: d.tokenizer }, lengths.clip),
    clipG: await loadClipTokenizer({ store, dir: d.tokenizer_2 }, lengths.clip),
    t5: d.tokenizer_3 ? await loadT5Tokenizer({ store, dir: d.tokenizer_3 }, t5MaxLength ?? lengths.t5) : undefined,
  };
}
