// Maps the checkpoint's config.json values (engine/io/configs.ts) onto the float64 reference models' configs.
import type { AutoencoderKLConfig, ClipTextConfig, T5EncoderConfig, VchitectTransformerConfig } from '../io/configs.js';
import type { ClipActivation, ClipTextConfig64 } from '../reference/clip.js';
import type { T5EncoderConfig64 } from '../reference/t5.js';
import type { VaeConfig64 } from '../reference/vae.js';
import type { VchitectConfig64 } from '../reference/vchitect.js';

const CLIP_ACTS: readonly string[] = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'];

export function clipConfig64(c: ClipTextConfig, file: string): ClipTextConfig64 {
  if (!CLIP_ACTS.includes(c.hidden_act)) throw new Error(`${file}: hidden_act "${c.hidden_act}" not supported (expected one of ${CLIP_ACTS.join(', ')})`);
  return {
    vocabSize: c.vocab_size, hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numLayers: c.num_hidden_layers,
    heads: c.num_attention_heads, maxPositionEmbeddings: c.max_position_embeddings, hiddenAct: c.hidden_act as ClipActivation,
    layerNormEps: c.layer_norm_eps, projectionDim: c.projection_dim, eosTokenId: c.eos_token_id,
  };
}

export function t5Config64(c: T5EncoderConfig, file: string): T5EncoderConfig64 {
  const ff = c.is_gated ? 'gated-gelu' : c.feed_forward_proj;
  if (ff !== 'gated-gelu' && ff !== 'relu') throw new Error(`${file}: feed_forward_proj "${c.feed_forward_proj}" not supported (gated-gelu or relu)`);
  return {
    vocabSize: c.vocab_size, dModel: c.d_model, dKv: c.d_kv, dFf: c.d_ff, numLayers: c.num_layers, heads: c.num_heads,
    relativeAttentionNumBuckets: c.relative_attention_num_buckets, relativeAttentionMaxDistance: c.relative_attention_max_distance,
    layerNormEpsilon: c.layer_norm_epsilon, feedForwardProj: ff,
  };
}

export function vaeConfig64(c: AutoencoderKLConfig): VaeConfig64 {
  return {
    inChannels: c.in_channels, outChannels: c.out_channels, latentChannels: c.latent_channels, blockOutChannels: [...c.block_out_channels],
    layersPerBlock: c.layers_per_block, normNumGroups: c.norm_num_groups, scalingFactor: c.scaling_factor,
    shiftFactor: c.shift_factor ?? 0, useQuantConv: c.use_quant_conv, usePostQuantConv: c.use_post_quant_conv,
  };
}

export function vchitectConfig64(c: VchitectTransformerConfig): VchitectConfig64 {
  return {
    numLayers: c.num_layers, heads: c.num_attention_heads, headDim: c.attention_head_dim, patchSize: c.patch_size,
    inChannels: c.in_channels, outChannels: c.out_channels, posEmbedMaxSize: c.pos_embed_max_size,
    jointAttentionDim: c.joint_attention_dim, pooledProjectionDim: c.pooled_projection_dim,
  };
}

/** Spatial factor of the VAE decoder: one x2 upsampler per up block except the last. */
export function vaeScaleFactor(c: AutoencoderKLConfig): number {
  return 2 ** (c.block_out_channels.length - 1);
}
