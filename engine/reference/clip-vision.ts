// Float64 reference of the HF CLIPVisionModelWithProjection image tower: patch conv (no bias), class token,
// position embedding, pre_layrnorm, pre-LN encoder layers (full self-attention), post_layernorm of the class token,
// visual_projection (no bias). Input: one preprocessed image [3, S, S] (CLIP-normalised), S = image_size.
import { clipEncoderLayer64, type ClipActivation } from './clip.js';
import { add64, concatRows64, conv2d64, index0, layerNorm64, linear64, reshape64, tensor64, transpose2d64, type Tensor64 } from './tensor64.js';
import { getWeight64, type WeightSource64 } from './weights64.js';

export interface ClipVisionConfig64 {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  heads: number;
  imageSize: number;
  patchSize: number;
  projectionDim: number;
  hiddenAct: ClipActivation;
  layerNormEps: number;
}

export interface ClipVisionOutput64 {
  /** post_layernorm(last layer)[class token] [hidden]. */
  pooled: Tensor64;
  /** visual_projection(pooled) [projectionDim] (not normalised). */
  imageEmbeds: Tensor64;
}

export function clipVisionForward64(w: WeightSource64, cfg: ClipVisionConfig64, pixels: Tensor64): ClipVisionOutput64 {
  const d = cfg.hiddenSize;
  const S = cfg.imageSize;
  const P = cfg.patchSize;
  const g = S / P;
  if (pixels.shape.join() !== [3, S, S].join()) throw new Error(`clipVisionForward64: pixels [${pixels.shape}], expected [3, ${S}, ${S}]`);
  const conv = conv2d64(pixels, getWeight64(w, 'vision_model.embeddings.patch_embedding.weight', [d, 3, P, P]), undefined, { stride: P });
  const patches = transpose2d64(reshape64(conv, [d, g * g])); // [g*g, d], row-major patches
  const cls = reshape64(getWeight64(w, 'vision_model.embeddings.class_embedding', [d]), [1, d]);
  const pos = getWeight64(w, 'vision_model.embeddings.position_embedding.weight', [g * g + 1, d]);
  const ln = (name: string, x: Tensor64) => layerNorm64(x, cfg.layerNormEps, getWeight64(w, `${name}.weight`, [d]), getWeight64(w, `${name}.bias`, [d]));
  let x = ln('vision_model.pre_layrnorm', add64(concatRows64([cls, patches]), pos));
  for (let i = 0; i < cfg.numLayers; i++) x = clipEncoderLayer64(w, cfg, i, x, { model: 'vision_model', causal: false });
  const pooled = ln('vision_model.post_layernorm', tensor64([1, d], index0(x, 0).data.slice()));
  const imageEmbeds = linear64(pooled, getWeight64(w, 'visual_projection.weight', [cfg.projectionDim, d]));
  return { pooled: reshape64(pooled, [d]), imageEmbeds: reshape64(imageEmbeds, [cfg.projectionDim]) };
}
