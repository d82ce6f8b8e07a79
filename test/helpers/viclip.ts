// Float64 reference helpers for the ViCLIP tests: the config in the reference's shape, and the reference's unit
// embedding of 8 RGB frames (ImageNet mean/std computed here in float64, not by the code under test).
import type { ViclipVisionConfig } from '../../engine/io/configs.js';
import { viclipVisionForward64, type ViclipVisionConfig64 } from '../../engine/reference/viclip-vision.js';
import type { Tensor64 } from '../../engine/reference/tensor64.js';

export const viclipConfig64 = (c: ViclipVisionConfig): ViclipVisionConfig64 => ({
  width: c.hidden_size, layers: c.num_hidden_layers, heads: c.num_attention_heads, imageSize: c.image_size,
  patchSize: c.patch_size, frames: c.num_frames, outputDim: c.projection_dim,
});

/** ViCLIP's frames2tensor normalisation of S x S RGB frames -> [T, 3, S, S] in float64. */
export function imagenet64(frames: readonly Uint8Array[], S: number): Tensor64 {
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  const data = new Float64Array(frames.length * 3 * S * S);
  frames.forEach((f, t) => {
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let c = 0; c < 3; c++) data[((t * 3 + c) * S + y) * S + x] = (f[(y * S + x) * 3 + c]! / 255 - mean[c]!) / std[c]!;
  });
  return { shape: [frames.length, 3, S, S], data };
}

/** The reference's L2-normalised embedding of num_frames RGB frames of image_size x image_size. */
export function viclipUnit64(w: Map<string, Tensor64>, c: ViclipVisionConfig, frames: readonly Uint8Array[]): Float64Array {
  const e = viclipVisionForward64(w, viclipConfig64(c), imagenet64(frames, c.image_size)).embeds.data;
  const n = Math.hypot(...e);
  return e.map((v) => v / n);
}
