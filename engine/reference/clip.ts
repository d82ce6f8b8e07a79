// Float64 reference of the HF CLIPTextModelWithProjection text tower (pre-LN, causal self-attention).
// Returns every hidden state (HF order: [0] embeddings, [i] output of layer i), the final-LN output,
// the pooled EOS state and its projection (text_embeds).
import {
  type Tensor64,
  add64,
  embedding64,
  geluErf64,
  geluTanh64,
  index0,
  layerNorm64,
  linear64,
  quickGelu64,
  reshape64,
  sdpa64,
} from './tensor64.js';
import { type WeightSource64, getWeight64 } from './weights64.js';

export type ClipActivation = 'quick_gelu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh';

export interface ClipTextConfig64 {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  heads: number;
  maxPositionEmbeddings: number;
  hiddenAct: ClipActivation;
  layerNormEps: number;
  projectionDim: number;
  /** HF: 2 means "legacy config", pool at argmax(input_ids); otherwise the first position holding this id. */
  eosTokenId: number;
}

export interface ClipTextOutput64 {
  /** numLayers+1 tensors [S, hidden]; hiddenStates.at(-2) is the SD3 penultimate-layer feature. */
  hiddenStates: Tensor64[];
  /** Final-LayerNorm output [S, hidden]. */
  lastHiddenState: Tensor64;
  /** Final-LN state at the EOS position [hidden]. */
  pooled: Tensor64;
  /** text_projection(pooled) [projectionDim] (no bias). */
  textEmbeds: Tensor64;
  /** Position the pooled state was taken from. */
  eosIndex: number;
}

export function clipActivation64(name: ClipActivation): (t: Tensor64) => Tensor64 {
  switch (name) {
    case 'quick_gelu':
      return quickGelu64;
    case 'gelu':
      return geluErf64;
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh64;
    default:
      throw new Error(`CLIP hidden_act "${String(name)}" not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)`);
  }
}

/** HF pooling rule: eos_token_id == 2 -> argmax(ids) (first max); else first index equal to eos id (0 if none). */
export function clipEosIndex(ids: readonly number[], eosTokenId: number): number {
  if (eosTokenId === 2) {
    let best = 0;
    for (let i = 1; i < ids.length; i++) if (ids[i] > ids[best]) best = i;
    return best;
  }
  const i = ids.indexOf(eosTokenId);
  return i < 0 ? 0 : i;
}

function lin(w: WeightSource64, prefix: string, x: Tensor64, outF: number, inF: number): Tensor64 {
  return linear64(x, getWeight64(w, `${prefix}.weight`, [outF, inF]), getWeight64(w, `${prefix}.bias`, [outF]));
}

function ln(w: WeightSource64, prefix: string, x: Tensor64, cfg: Pick<ClipTextConfig64, 'hiddenSize' | 'layerNormEps'>): Tensor64 {
  const d = cfg.hiddenSize;
  return layerNorm64(x, cfg.layerNormEps, getWeight64(w, `${prefix}.weight`, [d]), getWeight64(w, `${prefix}.bias`, [d]));
}

/**
 * One pre-LN encoder layer: x + attn(LN1 x), then + mlp(LN2 x). x [S, hidden]. The text tower's defaults (causal,
 * text_model.*); the vision tower passes 'vision_model' and causal false.
 */
export function clipEncoderLayer64(
  w: WeightSource64,
  cfg: Pick<ClipTextConfig64, 'hiddenSize' | 'intermediateSize' | 'heads' | 'hiddenAct' | 'layerNormEps'>,
  layer: number,
  x: Tensor64,
  tower: { model: 'text_model' | 'vision_model'; causal: boolean } = { model: 'text_model', causal: true },
): Tensor64 {
  const d = cfg.hiddenSize;
  const p = `${tower.model}.encoder.layers.${layer}`;
  const h = ln(w, `${p}.layer_norm1`, x, cfg);
  const q = lin(w, `${p}.self_attn.q_proj`, h, d, d);
  const k = lin(w, `${p}.self_attn.k_proj`, h, d, d);
  const v = lin(w, `${p}.self_attn.v_proj`, h, d, d);
  const att = sdpa64(q, k, v, cfg.heads, { causal: tower.causal });
  const x1 = add64(x, lin(w, `${p}.self_attn.out_proj`, att, d, d));
  const h2 = ln(w, `${p}.layer_norm2`, x1, cfg);
  const act = clipActivation64(cfg.hiddenAct);
  const m = lin(w, `${p}.mlp.fc2`, act(lin(w, `${p}.mlp.fc1`, h2, cfg.intermediateSize, d)), d, cfg.intermediateSize);
  return add64(x1, m);
}

/** CLIP text tower on one token sequence (length <= maxPositionEmbeddings). */
export function clipTextForward64(w: WeightSource64, cfg: ClipTextConfig64, ids: readonly number[]): ClipTextOutput64 {
  const d = cfg.hiddenSize;
  const s = ids.length;
  if (s > cfg.maxPositionEmbeddings) throw new Error(`CLIP: ${s} tokens exceed max_position_embeddings ${cfg.maxPositionEmbeddings}`);
  const tok = embedding64(getWeight64(w, 'text_model.embeddings.token_embedding.weight', [cfg.vocabSize, d]), ids);
  const posTable = getWeight64(w, 'text_model.embeddings.position_embedding.weight', [cfg.maxPositionEmbeddings, d]);
  const pos = embedding64(posTable, Array.from({ length: s }, (_, i) => i));
  let x = add64(tok, pos);
  const hiddenStates = [x];
  for (let i = 0; i < cfg.numLayers; i++) {
    x = clipEncoderLayer64(w, cfg, i, x);
    hiddenStates.push(x);
  }
  const lastHiddenState = ln(w, 'text_model.final_layer_norm', x, cfg);
  const eosIndex = clipEosIndex(ids, cfg.eosTokenId);
  const pooled = reshape64({ shape: [1, d], data: index0(lastHiddenState, eosIndex).data.slice() }, [d]);
  const textEmbeds = linear64(pooled, getWeight64(w, 'text_projection.weight', [cfg.projectionDim, d]));
  return { hiddenStates, lastHiddenState, pooled, textEmbeds, eosIndex };
}
