// CLIPTextModelWithProjection (HF text tower) on the GPU, composed of engine ops: token + position embedding,
// pre-LN layers with causal self-attention, final LayerNorm, pooled EOS state projected by text_projection.
// Returns what SD3 conditioning needs: hidden_states[-2] (penultimate layer, before the final LN) and text_embeds.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateClip, type SubModel } from '../io/checkpoint.js';
import type { ClipTextConfig } from '../io/configs.js';
import { attention } from '../ops/attention.js';
import { add, geluErf, quickGelu } from '../ops/elementwise.js';
import { gatherRows, slice } from '../ops/layout.js';
import { linear, type LinearOptions } from '../ops/linear.js';
import { layerNorm } from '../ops/norm.js';
import { Tensor } from '../tensor.js';
import { Scratch } from './scratch.js';
import { GpuWeights, type LoadProgress } from './weights.js';

export interface ClipLoadOptions {
  /** Weights and activations dtype (f16 needs shader-f16). Default f32. */
  dtype?: DType;
  onProgress?: (p: LoadProgress) => void;
}

export interface ClipTextOutput {
  /** hidden_states[-2]: output of layer numLayers-1, before the final LayerNorm: [S, hidden]. */
  penultimate: Tensor;
  /** text_projection(final_layer_norm(last layer)[eos]): [projectionDim]. */
  textEmbeds: Tensor;
  /** Token index the pooled state was taken from. */
  eosIndex: number;
}

/** HF pooling rule: eos_token_id == 2 (legacy configs) -> argmax(ids), first max; else first id == eos (0 if none). */
export function clipPoolingIndex(ids: readonly number[], eosTokenId: number): number {
  if (eosTokenId === 2) {
    let best = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i]! > ids[best]!) best = i;
    return best;
  }
  const i = ids.indexOf(eosTokenId);
  return i < 0 ? 0 : i;
}

export type ClipActivation = { kind: 'epilogue'; epilogue: 'gelu_tanh' } | { kind: 'op'; f: (x: Tensor) => Tensor };
type Activation = ClipActivation;

/** The MLP activation of a CLIP config's hidden_act (`where` names the config in errors). */
export function activationOf(name: string, where: string): Activation {
  switch (name) {
    case 'quick_gelu':
      return { kind: 'op', f: (x) => quickGelu(x) };
    case 'gelu':
      return { kind: 'op', f: (x) => geluErf(x) };
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return { kind: 'epilogue', epilogue: 'gelu_tanh' };
    default:
      throw new Error(`${where}: hidden_act "${name}" is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)`);
  }
}

export interface ClipLayerOptions {
  heads: number;
  eps: number;
  act: ClipActivation;
  causal: boolean;
}

/**
 * One pre-LN CLIP encoder layer (text and vision towers): x + out_proj(attn(LN1 x)), then + fc2(act(fc1(LN2 x))).
 * x [S, hidden]; `w` looks weights up by name; prefix ends with '.' (e.g. 'vision_model.encoder.layers.3.').
 */
export function clipEncoderLayer(x: Tensor, w: (name: string) => Tensor, prefix: string, o: ClipLayerOptions): Tensor {
  const p = prefix;
  const s = new Scratch();
  const lin = (t: Tensor, name: string, opts?: LinearOptions) => linear(t, w(`${name}.weight`), w(`${name}.bias`), opts);
  const h = s.t(layerNorm(x, { eps: o.eps, weight: w(`${p}layer_norm1.weight`), bias: w(`${p}layer_norm1.bias`) }));
  const [q, k, v] = ['q_proj', 'k_proj', 'v_proj'].map((n) => s.t(lin(h, `${p}self_attn.${n}`)));
  const att3 = s.t(attention(q!, k!, v!, { heads: o.heads, causal: o.causal })); // [1, S, hidden]
  const att = s.t(att3.reshape(x.shape));
  const x1 = s.t(lin(att, `${p}self_attn.out_proj`, { residual: { x } }));
  const h2 = s.t(layerNorm(x1, { eps: o.eps, weight: w(`${p}layer_norm2.weight`), bias: w(`${p}layer_norm2.bias`) }));
  let f1: Tensor;
  if (o.act.kind === 'epilogue') {
    f1 = s.t(lin(h2, `${p}mlp.fc1`, { epilogue: o.act.epilogue }));
  } else {
    f1 = s.t(o.act.f(s.t(lin(h2, `${p}mlp.fc1`))));
  }
  const out = lin(f1, `${p}mlp.fc2`, { residual: { x: x1 } });
  s.release();
  return out;
}

export class ClipTextModel {
  private readonly act: Activation;

  constructor(
    readonly device: Device,
    readonly config: ClipTextConfig,
    readonly weights: GpuWeights,
    readonly dtype: DType,
    readonly name = 'text_encoder',
  ) {
    this.act = activationOf(config.hidden_act, `${name}/config.json`);
    if (config.hidden_size % config.num_attention_heads !== 0) {
      throw new Error(`${name}/config.json: hidden_size ${config.hidden_size} is not a multiple of num_attention_heads ${config.num_attention_heads}`);
    }
  }

  /** Validates the sub-model against its config, then streams its weights to the GPU. */
  static async load(device: Device, sub: SubModel<ClipTextConfig>, opts: ClipLoadOptions = {}): Promise<ClipTextModel> {
    const which = sub.name === 'text_encoder_2' ? 'text_encoder_2' : 'text_encoder';
    const config = validateClip(sub, which);
    const dtype = opts.dtype ?? 'f32';
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress);
    return new ClipTextModel(device, config, weights, dtype, sub.name);
  }

  /** Runs the tower on one token sequence (1 <= length <= max_position_embeddings). */
  forward(ids: readonly number[]): ClipTextOutput {
    const cfg = this.config;
    const S = ids.length;
    if (S < 1 || S > cfg.max_position_embeddings) {
      throw new Error(`${this.name}: ${S} tokens; expected 1..${cfg.max_position_embeddings} (max_position_embeddings)`);
    }
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab_size) throw new Error(`${this.name}: token id ${id} outside the vocabulary 0..${cfg.vocab_size - 1}`);
    }
    if (cfg.num_hidden_layers < 1) throw new Error(`${this.name}: num_hidden_layers must be >= 1 for hidden_states[-2]`);
    const s = new Scratch();
    const idT = s.t(Tensor.from(this.device, Uint32Array.from(ids), [S], 'u32', 'clip ids'));
    const tok = s.t(gatherRows(this.w('text_model.embeddings.token_embedding.weight'), idT));
    const posTable = this.w('text_model.embeddings.position_embedding.weight');
    const pos = S === cfg.max_position_embeddings ? posTable : s.t(slice(posTable, 0, 0, S));
    let x = add(tok, pos);
    s.release(x);
    let penultimate: Tensor | null = cfg.num_hidden_layers === 1 ? x : null;
    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      const next = this.layer(i, x);
      if (x !== penultimate) x.dispose();
      x = next;
      if (i === cfg.num_hidden_layers - 2) penultimate = x;
    }
    const eosIndex = clipPoolingIndex(ids, cfg.eos_token_id);
    const row = s.t(slice(x, 0, eosIndex, eosIndex + 1));
    const pooled = s.t(layerNorm(row, { eps: cfg.layer_norm_eps, weight: this.w('text_model.final_layer_norm.weight'), bias: this.w('text_model.final_layer_norm.bias') }));
    const proj = s.t(linear(pooled, this.w('text_projection.weight')));
    const textEmbeds = proj.reshape([proj.numel]);
    if (x !== penultimate) x.dispose();
    s.release();
    return { penultimate: penultimate!, textEmbeds, eosIndex };
  }

  /** Pre-LN layer i (causal self-attention). */
  private layer(i: number, x: Tensor): Tensor {
    const cfg = this.config;
    return clipEncoderLayer(x, (n) => this.w(n), `text_model.encoder.layers.${i}.`, { heads: cfg.num_attention_heads, eps: cfg.layer_norm_eps, act: this.act, causal: true });
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  dispose(): void {
    this.weights.dispose();
  }
}
