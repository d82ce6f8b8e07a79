// How many text tokens a checkpoint's tokenizers produce per prompt (its text sequence lengths), from the
// tokenizer folders: CLIP (tokenizer/, tokenizer_2/) pads to tokenizer_config.json's model_max_length (77 in real
// CLIP), T5 (tokenizer_3/) to min(256, model_max_length) (real SD3/Vchitect T5 configs say 512; 256 is diffusers'
// max_sequence_length default). A missing model_max_length means 77 / 256. Browser-safe (FileStore only).
import type { FileStore } from '../io/file-store.js';
import { joinRel } from '../io/file-store.js';

/** CLIP length when tokenizer_config.json has no model_max_length (real CLIP). */
export const CLIP_DEFAULT_LENGTH = 77;
/** T5 length when tokenizer_config.json has no model_max_length, and the cap on it (diffusers' max_sequence_length). */
export const T5_DEFAULT_LENGTH = 256;

/** Per-prompt token counts: the CLIP tokens (both CLIP tokenizers pad to this) and the T5 tokens after them. */
export interface TextLengths {
  clip: number;
  t5: number;
}

/** The lengths of real checkpoints (77 CLIP + 256 T5 = 333 text tokens). */
export const DEFAULT_TEXT_LENGTHS: TextLengths = Object.freeze({ clip: CLIP_DEFAULT_LENGTH, t5: T5_DEFAULT_LENGTH });

/** Text tokens per frame of the transformer: CLIP + T5. */
export function textTokenCount(l: TextLengths = DEFAULT_TEXT_LENGTHS): number {
  return l.clip + l.t5;
}

/**
 * model_max_length of a tokenizer_config.json, or undefined when absent. transformers saves int(1e30)
 * (VERY_LARGE_INTEGER) for a tokenizer without a limit: that reads as absent too.
 */
function modelMaxLength(config: Record<string, unknown> | null, file: string, min: number): number | undefined {
  const v = config?.model_max_length;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && v > Number.MAX_SAFE_INTEGER) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`${file}: model_max_length ${JSON.stringify(v)} must be an integer >= ${min} (the tokens every prompt is padded to); fix it or remove it for the default`);
  }
  return v;
}

/** A CLIP tokenizer's length: model_max_length (at least 2: BOS and EOS), else 77. */
export function clipLengthFromConfig(config: Record<string, unknown> | null, file: string): number {
  return modelMaxLength(config, file, 2) ?? CLIP_DEFAULT_LENGTH;
}

/** The T5 tokenizer's length: min(256, model_max_length) (at least 1: EOS), else 256. */
export function t5LengthFromConfig(config: Record<string, unknown> | null, file: string): number {
  return Math.min(T5_DEFAULT_LENGTH, modelMaxLength(config, file, 1) ?? T5_DEFAULT_LENGTH);
}

async function readConfig(store: FileStore, rel: string): Promise<Record<string, unknown> | null> {
  if (!(await store.exists(rel))) return null;
  try {
    return JSON.parse(await store.readText(rel)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${joinRel(store.root, rel)}: invalid JSON (${(e as Error).message})`);
  }
}

/** A CLIP text encoder as far as the length check needs it (a SubModel<ClipTextConfig> fits). */
interface ClipEncoderInfo {
  configFile: string;
  config: { max_position_embeddings: number };
}

export interface TextLengthSources {
  store: FileStore;
  tokenizerDirs: { tokenizer?: string; tokenizer_2?: string; tokenizer_3?: string };
  /** CLIP-L / CLIP-bigG encoders, when open: their max_position_embeddings bound the CLIP length. */
  textEncoder?: ClipEncoderInfo;
  textEncoder2?: ClipEncoderInfo;
}

/**
 * Reads the text lengths of a checkpoint's tokenizer folders. Errors (naming the files) when the two CLIP
 * tokenizers disagree or a CLIP length exceeds its text encoder's max_position_embeddings. No tokenizer_3: 256 T5
 * tokens (the zeros SD3 uses without T5). No CLIP tokenizer folders: the defaults.
 */
export async function readTextLengths(src: TextLengthSources): Promise<TextLengths> {
  const { store, tokenizerDirs: d } = src;
  const file = (dir: string) => joinRel(dir, 'tokenizer_config.json');
  const clips: { file: string; length: number; enc?: ClipEncoderInfo }[] = [];
  for (const [dir, enc] of [[d.tokenizer, src.textEncoder], [d.tokenizer_2, src.textEncoder2]] as const) {
    if (dir === undefined) continue;
    const f = file(dir);
    const length = clipLengthFromConfig(await readConfig(store, f), joinRel(store.root, f));
    clips.push({ file: f, length, enc });
  }
  for (const c of clips) {
    if (c.enc && c.length > c.enc.config.max_position_embeddings) {
      throw new Error(`${joinRel(store.root, c.file)}: model_max_length ${c.length} exceeds ${joinRel(store.root, c.enc.configFile)} max_position_embeddings ${c.enc.config.max_position_embeddings} (the CLIP encoder has no positions beyond it): set model_max_length <= ${c.enc.config.max_position_embeddings}`);
    }
  }
  if (clips.length === 2 && clips[0].length !== clips[1].length) {
    throw new Error(`${joinRel(store.root, clips[0].file)} model_max_length ${clips[0].length} != ${joinRel(store.root, clips[1].file)} model_max_length ${clips[1].length}: both CLIP tokenizers must pad to the same length (their states are concatenated per token)`);
  }
  const clip = clips[0]?.length ?? CLIP_DEFAULT_LENGTH;
  const t5 = d.tokenizer_3 === undefined ? T5_DEFAULT_LENGTH
    : t5LengthFromConfig(await readConfig(store, file(d.tokenizer_3)), joinRel(store.root, file(d.tokenizer_3)));
  return { clip, t5 };
}
