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

export type SubModelName = 'transformer' | 'text_encoder' | 'text_encoder_2' | 'text_encoder_3' | 'vae';

export interface SubModel<C> {
  name: SubModelName;
  /** Folder relative to the checkpoint root. */
  dir: string;
  configFile: string;
  config: C;
  weights: WeightStore;
}

export interface Checkpoint {
  store: FileStore;
  root: string;
  modelIndex: ModelIndex;
  transformer: SubModel<VchitectTransformerConfig>;
  /** CLIP-L; undefined only when model_index.json marks it null. */
  textEncoder?: SubModel<ClipTextConfig>;
  /** CLIP-bigG. */
  textEncoder2?: SubModel<ClipTextConfig>;
  /** T5-XXL encoder. */
  textEncoder3?: SubModel<T5EncoderConfig>;
  vae: SubModel<AutoencoderKLConfig>;
  scheduler: FlowMatchSchedulerConfig;
  /** Tokenizer folders relative to the root (present ones only). */
  tokenizerDirs: { tokenizer?: string; tokenizer_2?: string; tokenizer_3?: string };
  close(): Promise<void>;
}

export const WEIGHT_BASE_NAMES = ['diffusion_pytorch_model', 'model'] as const;

async function readJson(store: FileStore, rel: string): Promise<unknown> {
  if (!(await store.exists(rel))) throw new Error(`${joinRel(store.root, rel)} not found: is ${store.root} a diffusers checkpoint folder?`);
  const text = await store.readText(rel);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${rel}: invalid JSON (${(e as Error).message})`);
  }
}

async function openSub<C>(store: FileStore, name: SubModelName, parse: (j: unknown, f: string) => C): Promise<SubModel<C>> {
  const configFile = joinRel(name, 'config.json');
  const config = parse(await readJson(store, configFile), configFile);
  const weights = await openWeights(store, name, WEIGHT_BASE_NAMES);
  if (!weights) {
    throw new Error(`${name}/: no weights found (expected ${WEIGHT_BASE_NAMES.map((b) => `${b}.safetensors or ${b}.safetensors.index.json`).join(', or ')})`);
  }
  return { name, dir: name, configFile, config, weights };
}

/** Open a checkpoint from a local folder path (Node) or any FileStore (e.g. HttpFileStore in the browser). */
export async function openCheckpoint(dirOrStore: string | FileStore): Promise<Checkpoint> {
  const store = typeof dirOrStore === 'string' ? new (await import('./node-files.js')).NodeFileStore(dirOrStore) : dirOrStore;
  const modelIndex = parseModelIndex(await readJson(store, 'model_index.json'));
  const wanted = (k: string) => modelIndex.components[k] !== null; // absent from the index counts as wanted
  const opened: SubModel<unknown>[] = [];
  const track = async <C>(p: Promise<SubModel<C>>): Promise<SubModel<C>> => {
    const s = await p;
    opened.push(s as SubModel<unknown>);
    return s;
  };
  try {
    const transformer = await track(openSub(store, 'transformer', parseTransformerConfig));
    const textEncoder = wanted('text_encoder') ? await track(openSub(store, 'text_encoder', parseClipConfig)) : undefined;
    const textEncoder2 = wanted('text_encoder_2') ? await track(openSub(store, 'text_encoder_2', parseClipConfig)) : undefined;
    const textEncoder3 = wanted('text_encoder_3') ? await track(openSub(store, 'text_encoder_3', parseT5Config)) : undefined;
    const vae = await track(openSub(store, 'vae', parseVaeConfig));
    const scheduler = parseSchedulerConfig(await readJson(store, 'scheduler/scheduler_config.json'), 'scheduler/scheduler_config.json');
    const tokenizerDirs: Checkpoint['tokenizerDirs'] = {};
    for (const t of ['tokenizer', 'tokenizer_2', 'tokenizer_3'] as const) {
      if (wanted(t) && (await store.exists(joinRel(t, 'tokenizer_config.json')))) tokenizerDirs[t] = t;
    }
    return {
      store, root: store.root, modelIndex, transformer, textEncoder, textEncoder2, textEncoder3, vae, scheduler, tokenizerDirs,
      async close() {
        for (const s of opened) await s.weights.close();
      },
    };
  } catch (e) {
    for (const s of opened) await s.weights.close();
    throw e;
  }
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
function countIndexed(w: WeightStore, prefix: string): number {
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
 * Validate every sub-model and the cross-model sizes (text encoder widths vs the transformer's
 * joint_attention_dim / pooled_projection_dim, VAE latent channels vs transformer in_channels).
 */
export function validateCheckpoint(ckpt: Checkpoint, opts: ValidateOptions = {}): CheckpointSummaryDims {
  const problems: string[] = [];
  const run = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof CheckpointValidationError) problems.push(...e.problems);
      else problems.push((e as Error).message);
      return undefined;
    }
  };
  const transformer = run(() => validateTransformer(ckpt, opts));
  const textEncoder = ckpt.textEncoder ? run(() => validateClip(ckpt.textEncoder!, 'text_encoder', opts)) : undefined;
  const textEncoder2 = ckpt.textEncoder2 ? run(() => validateClip(ckpt.textEncoder2!, 'text_encoder_2', opts)) : undefined;
  const textEncoder3 = ckpt.textEncoder3 ? run(() => validateT5(ckpt.textEncoder3!, opts)) : undefined;
  const vae = run(() => validateVae(ckpt, opts));
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
  return { transformer: transformer!, textEncoder, textEncoder2, textEncoder3, vae: vae! };
}
