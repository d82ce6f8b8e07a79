// Shared helpers of the GPU model tests: float64 weights of a checkpoint sub-model (f16-rounded when the GPU model
// stores f16) and the checkpoint configs mapped to the float64 references' config types.

import { roundToF16, type DType } from '../../../engine/dtype.js';
import type { SubModel } from '../../../engine/io/checkpoint.js';
import type { ClipTextConfig, T5EncoderConfig } from '../../../engine/io/configs.js';
import type { ClipActivation, ClipTextConfig64 } from '../../../engine/reference/clip.js';
import type { T5EncoderConfig64 } from '../../../engine/reference/t5.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';

export async function weights64(sub: SubModel<unknown>, dtype: DType): Promise<Map<string, Tensor64>> {
  const m = new Map<string, Tensor64>();
  for (const k of sub.weights.keys()) {
    const f = await sub.weights.readFloat32(k);
    const data = dtype === 'f16' ? Float64Array.from(f, roundToF16) : Float64Array.from(f);
    m.set(k, { shape: [...sub.weights.info(k).shape], data });
  }
  return m;
}

export function clipConfig64(c: ClipTextConfig): ClipTextConfig64 {
  return {
    vocabSize: c.vocab_size, hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numLayers: c.num_hidden_layers,
    heads: c.num_attention_heads, maxPositionEmbeddings: c.max_position_embeddings, hiddenAct: c.hidden_act as ClipActivation,
    layerNormEps: c.layer_norm_eps, projectionDim: c.projection_dim, eosTokenId: c.eos_token_id,
  };
}

export function t5Config64(c: T5EncoderConfig): T5EncoderConfig64 {
  return {
    vocabSize: c.vocab_size, dModel: c.d_model, dKv: c.d_kv, dFf: c.d_ff, numLayers: c.num_layers, heads: c.num_heads,
    relativeAttentionNumBuckets: c.relative_attention_num_buckets, relativeAttentionMaxDistance: c.relative_attention_max_distance,
    layerNormEpsilon: c.layer_norm_epsilon, feedForwardProj: c.feed_forward_proj as 'gated-gelu' | 'relu',
  };
}
