// Opens a Vchitect-2.0 diffusers folder (model_index.json, sub-model configs and weights, single or
// sharded) and validates each sub-model's weights against its config and the expected key lists.
import type { FileStore } from './file-store.js';
import { joinRel } from './file-store.js';
import { openWeights, type WeightStore } from './sharded.js';
import {
  parseClipConfig, parseModelIndex, parseSchedulerConfig, parseT5Config, parseTransformerConfig, parseVaeConfig,
  type AutoencoderKLConfig, type ClipTextConfig, type FlowMatchSchedulerConfig, type ModelIndex,
  type T5EncoderConfig, type VchitectTransformerConfig,
} from './configs.js';
import { clipKeys, t5EmbeddingKey, t5Keys, transformerDim, transformerKeys, vaeKeys, type KeySpec } from './keys.js';
import { FLOAT_DTYPES } from './dtype.js';
import { readTextLengths, type TextLengths } from '../text/text-lengths.js';

export type SubModelName = 'transformer' | 'text_encoder' | 'text_encoder_2' | 'text_encoder_3' | 'vae';

export interface SubModel<C> {
  name: SubModelName;
  /** Folder relative to the checkpoint root ('' when the root is the sub-model folder itself). */
  dir: string;
  configFile: string;
  config: C;
  weights: WeightStore;
}

/**
 * What a command can need from a checkpoint: 'text' (CLIP-L, CLIP-bigG, optional T5, and their tokenizers),
 * 'transformer', 'vae', 'scheduler'. Each stage command needs one part; `generate` needs all.
 */
export type CheckpointPart = 'text' | 'transformer' | 'vae' | 'scheduler';
export const ALL_PARTS: readonly CheckpointPart[] = ['text', 'transformer', 'vae', 'scheduler'];

/**
 * Where the parts came from: a diffusers pipeline folder (model_index.json and/or sub-model folders), or a folder
 * that is itself one sub-model (config.json + weights, as `save_pretrained` of a transformer or VAE writes it).
 */
export type CheckpointLayout = 'pipeline' | 'transformer' | 'vae';

/** A checkpoint opened for some parts only: a sub-model that was not asked for (or is optional and absent) is undefined. */
export interface PartialCheckpoint {
  store: FileStore;
  root: string;
  layout: CheckpointLayout;
  /** model_index.json (no components when the folder has none). */
  modelIndex: ModelIndex;
  transformer?: SubModel<VchitectTransformerConfig>;
  /** CLIP-L. */
  textEncoder?: SubModel<ClipTextConfig>;
  /** CLIP-bigG. */
  textEncoder2?: SubModel<ClipTextConfig>;
  /** T5-XXL encoder (optional, as in SD3: absent or null in model_index.json). */
  textEncoder3?: SubModel<T5EncoderConfig>;
  vae?: SubModel<AutoencoderKLConfig>;
  scheduler?: FlowMatchSchedulerConfig;
  /** Tokenizer folders relative to the root (present ones only). */
  tokenizerDirs: { tokenizer?: string; tokenizer_2?: string; tokenizer_3?: string };
  /**
   * Text tokens per prompt from the tokenizer configs (engine/text/text-lengths.ts): 77 CLIP + 256 T5 in real
   * checkpoints. Set when the text part is opened; undefined otherwise (consumers then assume 77 + 256).
   */
  textLengths?: TextLengths;
  close(): Promise<void>;
}

/** A checkpoint with every part (what `openCheckpoint` returns and `generate` runs). */
export interface Checkpoint extends PartialCheckpoint {
  transformer: SubModel<VchitectTransformerConfig>;
  vae: SubModel<AutoencoderKLConfig>;
  scheduler: FlowMatchSchedulerConfig;
}

export const WEIGHT_BASE_NAMES = ['diffusion_pytorch_model', 'model'] as const;

/** What each part is, the folder layout that provides it, and the lone folder that can stand in for it (for messages). */
const PART_DESC: Record<CheckpointPart, { what: string; layout: string; alone?: string }> = {
  text: {
    what: 'the text encoders',
    layout: 'text_encoder/ and text_encoder_2/ (CLIP-L, CLIP-bigG: config.json + model.safetensors each) with tokenizer/ and tokenizer_2/, and optionally text_encoder_3/ + tokenizer_3/ (T5)',
  },
  transformer: {
    what: 'the transformer',
    layout: 'transformer/ (config.json + diffusion_pytorch_model.safetensors, or shards with diffusion_pytorch_model.safetensors.index.json)',
    alone: 'is the transformer folder itself',
  },
  vae: { what: 'the VAE', layout: 'vae/ (config.json + diffusion_pytorch_model.safetensors)', alone: 'is the VAE folder itself' },
  scheduler: { what: 'the scheduler', layout: 'scheduler/scheduler_config.json' },
};

function listWords(xs: string[]): string {
  return xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

/** Thrown when a folder lacks a part a command needs; the message names what is missing and a layout that works. */
export class MissingCheckpointPartError extends Error {
  constructor(
    readonly root: string,
    readonly missing: { part: CheckpointPart; item: string; reason: string }[],
    purpose: string,
    needed: readonly CheckpointPart[],
    layout: CheckpointLayout,
  ) {
    const parts = [...new Set(missing.map((m) => m.part))];
    const lacks = layout === 'pipeline'
      ? `${root} lacks ${missing.map((m) => `${m.item} (${m.reason})`).join(', ')}`
      : `${root} is a ${layout === 'vae' ? 'VAE' : layout} folder (config.json + weights, no model_index.json), without ${listWords(parts.map((p) => PART_DESC[p].what))}`;
    super(
      `${purpose} needs ${listWords(needed.map((p) => PART_DESC[p].what))}, but ${lacks}. ` +
      `A folder that works has ${parts.map((p) => PART_DESC[p].layout).join('; and ')}${needed.length === 1 && PART_DESC[needed[0]].alone ? `, or ${PART_DESC[needed[0]].alone}` : ''}.`,
    );
    this.name = 'MissingCheckpointPartError';
  }
}

async function readJson(store: FileStore, rel: string): Promise<unknown> {
  if (!(await store.exists(rel))) throw new Error(`${joinRel(store.root, rel)} not found: is ${store.root} a diffusers checkpoint folder?`);
  const text = await store.readText(rel);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${rel}: invalid JSON (${(e as Error).message})`);
  }
}

async function openSub<C>(store: FileStore, name: SubModelName, dir: string, parse: (j: unknown, f: string) => C): Promise<SubModel<C>> {
  const configFile = joinRel(dir, 'config.json');
  const config = parse(await readJson(store, configFile), configFile);
  const weights = await openWeights(store, dir, WEIGHT_BASE_NAMES);
  if (!weights) {
    throw new Error(`${dir ? `${dir}/` : `${store.root}/`}: no weights found (expected ${WEIGHT_BASE_NAMES.map((b) => `${b}.safetensors or ${b}.safetensors.index.json`).join(', or ')})`);
  }
  return { name, dir, configFile, config, weights };
}

/** Which sub-model a lone config.json describes (its _class_name, else its fields), or null. */
function singleModelKind(json: unknown): 'transformer' | 'vae' | null {
  if (typeof json !== 'object' || json === null) return null;
  const o = json as Record<string, unknown>;
  const cls = typeof o._class_name === 'string' ? o._class_name : '';
  if (/Transformer/i.test(cls)) return 'transformer';
  if (/AutoencoderKL/i.test(cls)) return 'vae';
  if (cls) return null;
  if ('joint_attention_dim' in o || 'pos_embed_max_size' in o) return 'transformer';
  if ('latent_channels' in o) return 'vae';
  return null;
}

/**
 * Opens only the parts of a checkpoint that `parts` names, from a diffusers folder (model_index.json optional; it may
 * list only some components) or from a folder that is itself a transformer or VAE (config.json + weights). Nothing
 * else is read. A needed part that is missing (or null in model_index.json) fails with a MissingCheckpointPartError
 * that names it, `purpose` (e.g. "parallax forward") and the layout that would work.
 */
export async function openCheckpointParts(dirOrStore: string | FileStore, parts: readonly CheckpointPart[], purpose = 'this command'): Promise<PartialCheckpoint> {
  const store = typeof dirOrStore === 'string' ? new (await import('./node-files.js')).NodeFileStore(dirOrStore) : dirOrStore;
  const want = new Set(parts);
  const hasIndex = await store.exists('model_index.json');
  const modelIndex: ModelIndex = hasIndex ? parseModelIndex(await readJson(store, 'model_index.json')) : { components: {} };
  let layout: CheckpointLayout = 'pipeline';
  if (!hasIndex && (await store.exists('config.json'))) {
    const kind = singleModelKind(await readJson(store, 'config.json'));
    if (!kind) {
      throw new Error(`${store.root}: has config.json but no model_index.json, and config.json is neither a Vchitect transformer's nor an AutoencoderKL's (_class_name): pass a diffusers folder (model_index.json, transformer/, vae/, ...) or a transformer or VAE folder`);
    }
    layout = kind;
  }
  const ckpt: PartialCheckpoint = {
    store, root: store.root, layout, modelIndex, tokenizerDirs: {},
    close: async () => {
      for (const s of [ckpt.transformer, ckpt.textEncoder, ckpt.textEncoder2, ckpt.textEncoder3, ckpt.vae]) await s?.weights.close();
    },
  };
  const missing: { part: CheckpointPart; item: string; reason: string }[] = [];
  const listed = (k: string) => modelIndex.components[k] !== undefined && modelIndex.components[k] !== null;
  /** Opens sub-folder `name` for `part`; undefined (and noted as missing unless optional) when it is not there. */
  const sub = async <C>(part: CheckpointPart, name: SubModelName, parse: (j: unknown, f: string) => C, optional = false): Promise<SubModel<C> | undefined> => {
    if (layout !== 'pipeline') {
      if (layout === name) return openSub(store, name, '', parse);
      if (!optional) missing.push({ part, item: `${name}/`, reason: `not in a ${layout} folder` });
      return undefined;
    }
    if (modelIndex.components[name] === null) {
      if (!optional) missing.push({ part, item: `${name}/`, reason: 'model_index.json marks it null' });
      return undefined;
    }
    if (!(await store.exists(joinRel(name, 'config.json')))) {
      if (!optional || listed(name)) missing.push({ part, item: `${name}/`, reason: `no ${name}/config.json${listed(name) ? ', though model_index.json lists it' : ''}` });
      return undefined;
    }
    return openSub(store, name, name, parse);
  };
  try {
    if (want.has('text')) {
      ckpt.textEncoder = await sub('text', 'text_encoder', parseClipConfig);
      ckpt.textEncoder2 = await sub('text', 'text_encoder_2', parseClipConfig);
      ckpt.textEncoder3 = await sub('text', 'text_encoder_3', parseT5Config, true);
      for (const t of ['tokenizer', 'tokenizer_2', 'tokenizer_3'] as const) {
        if (layout === 'pipeline' && modelIndex.components[t] !== null && (await store.exists(joinRel(t, 'tokenizer_config.json')))) ckpt.tokenizerDirs[t] = t;
        else if (t !== 'tokenizer_3') missing.push({ part: 'text', item: `${t}/`, reason: `no ${t}/tokenizer_config.json` });
      }
    }
    if (want.has('transformer')) ckpt.transformer = await sub('transformer', 'transformer', parseTransformerConfig);
    if (want.has('vae')) ckpt.vae = await sub('vae', 'vae', parseVaeConfig);
    if (want.has('scheduler')) {
      const f = 'scheduler/scheduler_config.json';
      if (layout === 'pipeline' && (await store.exists(f))) ckpt.scheduler = parseSchedulerConfig(await readJson(store, f), f);
      else missing.push({ part: 'scheduler', item: 'scheduler/', reason: layout === 'pipeline' ? `no ${f}` : `not in a ${layout} folder` });
    }
    if (missing.length) {
      if (!hasIndex && layout === 'pipeline' && !(await hasAnyPart(store))) {
        throw new Error(`${joinRel(store.root, 'model_index.json')} not found, and ${store.root} has no config.json nor any of ${KNOWN_CONFIGS.map((f) => f.split('/')[0] + '/').join(', ')}: is it a diffusers checkpoint folder (or a transformer or VAE folder)?`);
      }
      throw new MissingCheckpointPartError(store.root, missing, purpose, parts, layout);
    }
    if (want.has('text')) ckpt.textLengths = await readTextLengths(ckpt);
    return ckpt;
  } catch (e) {
    await ckpt.close();
    throw e;
  }
}

const KNOWN_CONFIGS = [
  'transformer/config.json', 'vae/config.json', 'text_encoder/config.json', 'text_encoder_2/config.json', 'text_encoder_3/config.json',
  'scheduler/scheduler_config.json', 'tokenizer/tokenizer_config.json', 'tokenizer_2/tokenizer_config.json',
];

async function hasAnyPart(store: FileStore): Promise<boolean> {
  for (const f of KNOWN_CONFIGS) if (await store.exists(f)) return true;
  return false;
}

/** Open every part of a checkpoint (what `generate` needs) from a local folder path (Node) or any FileStore. */
export async function openCheckpoint(dirOrStore: string | FileStore, purpose = 'text-to-video generation'): Promise<Checkpoint> {
  return (await openCheckpointParts(dirOrStore, ALL_PARTS, purpose)) as Checkpoint;
}

/** The sub-model, or an error naming the part that was not opened (a stage backend asked for a part it did not open). */
export function requirePart<T>(ckpt: PartialCheckpoint, part: CheckpointPart, sub: T | undefined): T {
  if (sub === undefined) throw new Error(`${ckpt.root}: ${PART_DESC[part].what} ${part === 'text' ? 'were' : 'was'} not opened (needs ${PART_DESC[part].layout})`);
  return sub;
}

/** Thrown by the validators; `problems` lists every issue found (the message joins them). */
export class CheckpointValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} checkpoint problems:\n  ${problems.join('\n  ')}`);
    this.name = 'CheckpointValidationError';
  }
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

export interface ValidateOptions {
  /** Ignore tensors that are not in the expected key list (default false: they are errors). */
  allowUnexpected?: boolean;
}

/** Compare weights against expected keys: missing, unexpected, wrong shape, non-float dtype. */
export function checkKeys(weights: WeightStore, expected: readonly KeySpec[], note = '', opts: ValidateOptions = {}): string[] {
  const problems: string[] = [];
  const suffix = note ? ` (${note})` : '';
  const want = new Map(expected.map((k) => [k.key, k]));
  for (const spec of expected) {
    if (!weights.has(spec.key)) {
      if (!spec.optional) problems.push(`${weights.name}: missing key ${spec.key} (expected shape ${fmt(spec.shape)})${suffix}`);
      continue;
    }
    const info = weights.info(spec.key);
    const file = weights.fileOf(spec.key);
    if (info.shape.length !== spec.shape.length || info.shape.some((d, i) => d !== spec.shape[i])) {
      problems.push(`${file}: key ${spec.key} has shape ${fmt(info.shape)}, expected ${fmt(spec.shape)}${suffix}`);
    }
    if (!spec.integer && !FLOAT_DTYPES.includes(info.dtype)) {
      problems.push(`${file}: key ${spec.key} has dtype ${info.dtype}, expected one of ${FLOAT_DTYPES.join('/')}`);
    }
  }
  for (const key of opts.allowUnexpected ? [] : weights.keys()) {
    if (!want.has(key)) problems.push(`${weights.fileOf(key)}: unexpected key ${key} (not part of this model for its config.json)`);
  }
  return problems;
}

function shapeOf(w: WeightStore, key: string, problems: string[]): number[] | null {
  if (!w.has(key)) {
    problems.push(`${w.name}: missing key ${key}, needed to derive the model size`);
    return null;
  }
  return w.info(key).shape;
}

/** Count of consecutive indices i for which `${prefix}.${i}.` keys exist. */
export function countIndexed(w: WeightStore, prefix: string): number {
  const seen = new Set<number>();
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)\\.`);
  for (const k of w.keys()) {
    const m = re.exec(k);
    if (m) seen.add(Number(m[1]));
  }
  return seen.size === 0 ? 0 : Math.max(...seen) + 1;
}

function compare(problems: string[], sub: SubModel<unknown>, field: string, cfgValue: unknown, got: number | number[], from: string): void {
  const same = Array.isArray(got) ? JSON.stringify(got) === JSON.stringify(cfgValue) : got === cfgValue;
  if (!same) {
    problems.push(`${sub.configFile}: ${field} is ${JSON.stringify(cfgValue)} but the weights say ${JSON.stringify(got)} (from ${from}); fix config.json or use matching weights`);
  }
}

function subOf<C>(x: Checkpoint | SubModel<C>, pick: (c: Checkpoint) => SubModel<C> | undefined, what: string): SubModel<C> {
  if ('weights' in x) return x;
  const s = pick(x);
  if (!s) throw new Error(`checkpoint ${x.root} has no ${what} (model_index.json marks it null)`);
  return s;
}

export interface TransformerDims {
  D: number;
  numLayers: number;
  /** pos_embed_max_size. */
  M: number;
  heads: number;
  headDim: number;
  patchSize: number;
  inChannels: number;
  outChannels: number;
  jointAttentionDim: number;
  pooledProjectionDim: number;
}

/** Derive D, layers and M from the transformer weights, compare with config.json and check every key. */
export function validateTransformer(x: Checkpoint | SubModel<VchitectTransformerConfig>, opts: ValidateOptions = {}): TransformerDims {
  const sub = subOf(x, (c) => c.transformer, 'transformer');
  const w = sub.weights;
  const cfg = sub.config;
  const problems: string[] = [];
  const pe = shapeOf(w, 'pos_embed.proj.weight', problems);
  const table = shapeOf(w, 'pos_embed.pos_embed', problems);
  const ctx = shapeOf(w, 'context_embedder.weight', problems);
  const pooled = shapeOf(w, 'time_text_embed.text_embedder.linear_1.weight', problems);
  const out = shapeOf(w, 'proj_out.weight', problems);
  if (problems.length) throw new CheckpointValidationError(problems);
  const D = pe![0];
  const numLayers = countIndexed(w, 'transformer_blocks');
  const M = Math.round(Math.sqrt(table![1]));
  if (M * M !== table![1]) problems.push(`${w.fileOf('pos_embed.pos_embed')}: pos_embed.pos_embed has ${table![1]} positions, not a square M*M`);
  compare(problems, sub, 'num_attention_heads*attention_head_dim', transformerDim(cfg), D, 'pos_embed.proj.weight');
  compare(problems, sub, 'caption_projection_dim', cfg.caption_projection_dim, D, 'pos_embed.proj.weight');
  compare(problems, sub, 'num_layers', cfg.num_layers, numLayers, 'count of transformer_blocks.{i}');
  compare(problems, sub, 'pos_embed_max_size', cfg.pos_embed_max_size, M, 'pos_embed.pos_embed');
  compare(problems, sub, 'in_channels', cfg.in_channels, pe![1], 'pos_embed.proj.weight');
  compare(problems, sub, 'patch_size', cfg.patch_size, pe![2], 'pos_embed.proj.weight');
  compare(problems, sub, 'joint_attention_dim', cfg.joint_attention_dim, ctx![1], 'context_embedder.weight');
  compare(problems, sub, 'pooled_projection_dim', cfg.pooled_projection_dim, pooled![1], 'time_text_embed.text_embedder.linear_1.weight');
  compare(problems, sub, 'out_channels', cfg.out_channels, out![0] / (cfg.patch_size * cfg.patch_size), 'proj_out.weight');
  if (problems.length === 0) {
    problems.push(...checkKeys(w, transformerKeys(cfg), `D=${D} from pos_embed.proj.weight`, opts));
  }
  if (problems.length) throw new CheckpointValidationError(problems);
  return {
    D, numLayers, M, heads: cfg.num_attention_heads, headDim: cfg.attention_head_dim, patchSize: cfg.patch_size,
    inChannels: cfg.in_channels, outChannels: cfg.out_channels, jointAttentionDim: cfg.joint_attention_dim,
    pooledProjectionDim: cfg.pooled_projection_dim,
  };
}

/** Validate a CLIPTextModelWithProjection (pass the sub-model, or a checkpoint plus which encoder). */
export function validateClip(
  x: Checkpoint | SubModel<ClipTextConfig>,
  which: 'text_encoder' | 'text_encoder_2' = 'text_encoder',
  opts: ValidateOptions = {},
): ClipTextConfig {
  const sub = subOf(x, (c) => (which === 'text_encoder' ? c.textEncoder : c.textEncoder2), which);
  const w = sub.weights;
  const cfg = sub.config;
  const problems: string[] = [];
  const tok = shapeOf(w, 'text_model.embeddings.token_embedding.weight', problems);
  const proj = shapeOf(w, 'text_projection.weight', problems);
  if (problems.length) throw new CheckpointValidationError(problems);
  compare(problems, sub, 'hidden_size', cfg.hidden_size, tok![1], 'text_model.embeddings.token_embedding.weight');
  compare(problems, sub, 'vocab_size', cfg.vocab_size, tok![0], 'text_model.embeddings.token_embedding.weight');
  compare(problems, sub, 'num_hidden_layers', cfg.num_hidden_layers, countIndexed(w, 'text_model.encoder.layers'), 'count of text_model.encoder.layers.{i}');
  compare(problems, sub, 'projection_dim', cfg.projection_dim, proj![0], 'text_projection.weight');
  if (problems.length === 0) problems.push(...checkKeys(w, clipKeys(cfg), `hidden_size=${tok![1]} from token_embedding`, opts));
  if (problems.length) throw new CheckpointValidationError(problems);
  return cfg;
}

export function validateT5(x: Checkpoint | SubModel<T5EncoderConfig>, opts: ValidateOptions = {}): T5EncoderConfig {
  const sub = subOf(x, (c) => c.textEncoder3, 'text_encoder_3');
  const w = sub.weights;
  const cfg = sub.config;
  const problems: string[] = [];
  const embKey = t5EmbeddingKey(w);
  if (!embKey) problems.push(`${w.name}: missing token embedding: neither shared.weight nor encoder.embed_tokens.weight is present`);
  const shared = embKey ? w.info(embKey).shape : null;
  const rel = shapeOf(w, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', problems);
  if (problems.length) throw new CheckpointValidationError(problems);
  compare(problems, sub, 'd_model', cfg.d_model, shared![1], embKey!);
  compare(problems, sub, 'vocab_size', cfg.vocab_size, shared![0], embKey!);
  compare(problems, sub, 'num_layers', cfg.num_layers, countIndexed(w, 'encoder.block'), 'count of encoder.block.{i}');
  compare(problems, sub, 'relative_attention_num_buckets', cfg.relative_attention_num_buckets, rel![0], 'relative_attention_bias.weight');
  compare(problems, sub, 'num_heads', cfg.num_heads, rel![1], 'relative_attention_bias.weight');
  if (problems.length === 0) problems.push(...checkKeys(w, t5Keys(cfg), `d_model=${shared![1]} from ${embKey}`, opts));
  if (problems.length) throw new CheckpointValidationError(problems);
  return cfg;
}

export function validateVae(x: Checkpoint | SubModel<AutoencoderKLConfig>, opts: ValidateOptions = {}): AutoencoderKLConfig {
  const sub = subOf(x, (c) => c.vae, 'vae');
  const w = sub.weights;
  const cfg = sub.config;
  const problems: string[] = [];
  const cin = shapeOf(w, 'decoder.conv_in.weight', problems);
  const cout = shapeOf(w, 'decoder.conv_out.weight', problems);
  if (problems.length) throw new CheckpointValidationError(problems);
  const nUp = countIndexed(w, 'decoder.up_blocks');
  const boc: number[] = [];
  for (let i = nUp - 1; i >= 0; i--) {
    const k = `decoder.up_blocks.${i}.resnets.0.conv1.weight`;
    boc.push(w.has(k) ? w.info(k).shape[0] : -1);
  }
  compare(problems, sub, 'latent_channels', cfg.latent_channels, cin![1], 'decoder.conv_in.weight');
  compare(problems, sub, 'out_channels', cfg.out_channels, cout![0], 'decoder.conv_out.weight');
  compare(problems, sub, 'block_out_channels', cfg.block_out_channels, boc, 'decoder.up_blocks.{i}.resnets.0.conv1.weight');
  compare(problems, sub, 'layers_per_block', cfg.layers_per_block, countIndexed(w, 'decoder.up_blocks.0.resnets') - 1, 'count of decoder.up_blocks.0.resnets.{j} minus 1');
  if (problems.length === 0) problems.push(...checkKeys(w, vaeKeys(cfg), `block_out_channels=${fmt(boc)} from decoder.up_blocks`, opts));
  if (problems.length) throw new CheckpointValidationError(problems);
  return cfg;
}

export interface CheckpointSummaryDims {
  transformer: TransformerDims;
  textEncoder?: ClipTextConfig;
  textEncoder2?: ClipTextConfig;
  textEncoder3?: T5EncoderConfig;
  vae: AutoencoderKLConfig;
}

/**
 * Validate the sub-models of the given parts, and the cross-model sizes between the parts validated (text encoder
 * widths vs the transformer's joint_attention_dim / pooled_projection_dim, VAE latent channels vs transformer
 * in_channels). Sub-models of other parts are not looked at: a stage command checks exactly what it uses.
 */
export function validateCheckpointParts(ckpt: PartialCheckpoint, parts: readonly CheckpointPart[], opts: ValidateOptions = {}): Partial<CheckpointSummaryDims> {
  const want = new Set(parts);
  const problems: string[] = [];
  const run = <T>(sub: SubModel<unknown> | undefined, f: () => T): T | undefined => {
    if (!sub) return undefined;
    try {
      return f();
    } catch (e) {
      if (e instanceof CheckpointValidationError) problems.push(...e.problems);
      else problems.push((e as Error).message);
      return undefined;
    }
  };
  const text = want.has('text');
  const transformer = want.has('transformer') ? run(ckpt.transformer, () => validateTransformer(ckpt.transformer!, opts)) : undefined;
  const textEncoder = text ? run(ckpt.textEncoder, () => validateClip(ckpt.textEncoder!, 'text_encoder', opts)) : undefined;
  const textEncoder2 = text ? run(ckpt.textEncoder2, () => validateClip(ckpt.textEncoder2!, 'text_encoder_2', opts)) : undefined;
  const textEncoder3 = text ? run(ckpt.textEncoder3, () => validateT5(ckpt.textEncoder3!, opts)) : undefined;
  const vae = want.has('vae') ? run(ckpt.vae, () => validateVae(ckpt.vae!, opts)) : undefined;
  if (transformer && textEncoder && textEncoder2) {
    const pooled = textEncoder.projection_dim + textEncoder2.projection_dim;
    if (pooled !== transformer.pooledProjectionDim) {
      problems.push(`transformer pooled_projection_dim ${transformer.pooledProjectionDim} != text_encoder projection_dim ${textEncoder.projection_dim} + text_encoder_2 projection_dim ${textEncoder2.projection_dim}`);
    }
    const clipWidth = textEncoder.hidden_size + textEncoder2.hidden_size;
    const ctx = Math.max(clipWidth, textEncoder3?.d_model ?? 0);
    if (ctx !== transformer.jointAttentionDim) {
      problems.push(`transformer joint_attention_dim ${transformer.jointAttentionDim} != max(CLIP-L+CLIP-G hidden ${clipWidth}, T5 d_model ${textEncoder3?.d_model ?? 0}) = ${ctx}`);
    }
  }
  if (transformer && vae && vae.latent_channels !== transformer.inChannels) {
    problems.push(`vae latent_channels ${vae.latent_channels} != transformer in_channels ${transformer.inChannels}`);
  }
  if (problems.length) throw new CheckpointValidationError(problems);
  return { transformer, textEncoder, textEncoder2, textEncoder3, vae };
}

/** Validate every sub-model and the cross-model sizes (validateCheckpointParts over all parts). */
export function validateCheckpoint(ckpt: Checkpoint, opts: ValidateOptions = {}): CheckpointSummaryDims {
  const d = validateCheckpointParts(ckpt, ALL_PARTS, opts);
  return { ...d, transformer: d.transformer!, vae: d.vae! };
}
