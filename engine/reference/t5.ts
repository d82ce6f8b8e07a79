// Float64 reference of the HF T5EncoderModel (T5 v1.1 style): shared embedding, RMSNorm, unscaled attention with a
// bucketed relative position bias computed by block 0 and reused by every layer, gated-GELU feed-forward.
import {
  type Tensor64,
  add64,
  embedding64,
  geluTanh64,
  linear64,
  mul64,
  relu64,
  rmsNorm64,
  sdpa64,
} from './tensor64.js';
import { type WeightSource64, getWeight64, hasWeight64 } from './weights64.js';

export interface T5EncoderConfig64 {
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numLayers: number;
  heads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  layerNormEpsilon: number;
  /** feed_forward_proj: 'gated-gelu' (v1.1: gelu_new(wi_0 x) * wi_1 x) or 'relu' (original T5: relu(wi x)). */
  feedForwardProj: 'gated-gelu' | 'relu';
}

/**
 * Bidirectional T5 bucket of relativePosition = key - query (published formula, HF _relative_position_bucket):
 * half the buckets per sign; |n| < maxExact exact, else maxExact + floor(log(n/maxExact)/log(maxDistance/maxExact)
 * * (half - maxExact)) capped at half-1. The log term is evaluated in float32 like torch does.
 */
export function t5RelativePositionBucket(relativePosition: number, numBuckets: number, maxDistance: number): number {
  const half = Math.floor(numBuckets / 2);
  let bucket = relativePosition > 0 ? half : 0;
  const n = Math.abs(relativePosition);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return bucket + n;
  const f = Math.fround;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (half - maxExact)));
  bucket += Math.min(large, half - 1);
  return bucket;
}

/** Position bias [heads, q, k] from relative_attention_bias [numBuckets, heads]. */
export function t5PositionBias64(table: Tensor64, cfg: T5EncoderConfig64, qLen: number, kLen: number): Tensor64 {
  const h = cfg.heads;
  const out = new Float64Array(h * qLen * kLen);
  for (let i = 0; i < qLen; i++) {
    for (let j = 0; j < kLen; j++) {
      const b = t5RelativePositionBucket(j - i, cfg.relativeAttentionNumBuckets, cfg.relativeAttentionMaxDistance);
      for (let hh = 0; hh < h; hh++) out[(hh * qLen + i) * kLen + j] = table.data[b * h + hh];
    }
  }
  return { shape: [h, qLen, kLen], data: out };
}

const noBias = (w: WeightSource64, name: string, outF: number, inF: number, x: Tensor64) =>
  linear64(x, getWeight64(w, name, [outF, inF]));

/** One encoder block: x + o(attn(RMS x)) with bias, then x + FF(RMS x). */
export function t5EncoderBlock64(w: WeightSource64, cfg: T5EncoderConfig64, layer: number, x: Tensor64, bias: Tensor64): Tensor64 {
  const d = cfg.dModel;
  const inner = cfg.heads * cfg.dKv;
  const p = `encoder.block.${layer}.layer`;
  const h = rmsNorm64(x, getWeight64(w, `${p}.0.layer_norm.weight`, [d]), cfg.layerNormEpsilon);
  const q = noBias(w, `${p}.0.SelfAttention.q.weight`, inner, d, h);
  const k = noBias(w, `${p}.0.SelfAttention.k.weight`, inner, d, h);
  const v = noBias(w, `${p}.0.SelfAttention.v.weight`, inner, d, h);
  const att = sdpa64(q, k, v, cfg.heads, { scale: 1, bias });
  const x1 = add64(x, noBias(w, `${p}.0.SelfAttention.o.weight`, d, inner, att));
  const h2 = rmsNorm64(x1, getWeight64(w, `${p}.1.layer_norm.weight`, [d]), cfg.layerNormEpsilon);
  const ff = `${p}.1.DenseReluDense`;
  let hidden: Tensor64;
  if (cfg.feedForwardProj === 'gated-gelu') {
    hidden = mul64(geluTanh64(noBias(w, `${ff}.wi_0.weight`, cfg.dFf, d, h2)), noBias(w, `${ff}.wi_1.weight`, cfg.dFf, d, h2));
  } else {
    hidden = relu64(noBias(w, `${ff}.wi.weight`, cfg.dFf, d, h2));
  }
  return add64(x1, noBias(w, `${ff}.wo.weight`, d, cfg.dFf, hidden));
}

/** T5 encoder last_hidden_state [S, dModel] for one token sequence (no attention mask). */
export function t5EncoderForward64(w: WeightSource64, cfg: T5EncoderConfig64, ids: readonly number[]): Tensor64 {
  const d = cfg.dModel;
  const embName = hasWeight64(w, 'shared.weight') ? 'shared.weight' : 'encoder.embed_tokens.weight';
  let x = embedding64(getWeight64(w, embName, [cfg.vocabSize, d]), ids);
  const table = getWeight64(w, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [
    cfg.relativeAttentionNumBuckets,
    cfg.heads,
  ]);
  const bias = t5PositionBias64(table, cfg, ids.length, ids.length);
  for (let i = 0; i < cfg.numLayers; i++) x = t5EncoderBlock64(w, cfg, i, x, bias);
  return rmsNorm64(x, getWeight64(w, 'encoder.final_layer_norm.weight', [d]), cfg.layerNormEpsilon);
}
