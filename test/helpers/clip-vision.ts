// Float64 reference helpers for the CLIP image tower tests: a safetensors file read into float64 tensors, the
// config in the reference's shape, and one frame's L2-normalised reference embedding (preprocessing included).
import { clipPreprocess } from '../../engine/data/clip-preprocess.js';
import type { ClipVisionConfig } from '../../engine/io/configs.js';
import { openSafetensors } from '../../engine/io/safetensors.js';
import { clipVisionForward64, type ClipVisionConfig64 } from '../../engine/reference/clip-vision.js';
import type { ClipActivation } from '../../engine/reference/clip.js';
import type { Tensor64 } from '../../engine/reference/tensor64.js';

export async function weights64(path: string): Promise<Map<string, Tensor64>> {
  const r = await openSafetensors(path);
  const m = new Map<string, Tensor64>();
  for (const k of r.keys()) if (r.info(k).dtype !== 'I64') m.set(k, { shape: [...r.info(k).shape], data: Float64Array.from(await r.readFloat32(k)) });
  await r.close();
  return m;
}

export const config64 = (c: ClipVisionConfig): ClipVisionConfig64 => ({
  hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numLayers: c.num_hidden_layers, heads: c.num_attention_heads,
  imageSize: c.image_size, patchSize: c.patch_size, projectionDim: c.projection_dim, hiddenAct: c.hidden_act as ClipActivation, layerNormEps: c.layer_norm_eps,
});

/** The reference's unit-length image embedding of one RGB frame (width x height), preprocessed as CLIPImageProcessor. */
export function unitEmbedding64(w: Map<string, Tensor64>, c: ClipVisionConfig, rgb: Uint8Array, width: number, height: number): Float64Array {
  const S = c.image_size;
  const e = clipVisionForward64(w, config64(c), { shape: [3, S, S], data: Float64Array.from(clipPreprocess(rgb, width, height, S)) }).imageEmbeds.data;
  const n = Math.hypot(...e);
  return e.map((v) => v / n);
}
