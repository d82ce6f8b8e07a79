// Cheap latent -> RGB preview: a fixed 16x3 linear projection + bias per latent pixel (no VAE), and PNG
// encoding of the result. Used by the engine to show progress while denoising.
import { encode as encodePng } from 'fast-png';
import type { RgbaImage } from './generator.js';

/**
 * Projection coefficients for the SD3 16-channel VAE latent space, which Vchitect-2.0 uses.
 * Numbers taken from the published `SD3.latent_rgb_factors` / `latent_rgb_factors_bias` in ComfyUI,
 * file comfy/latent_formats.py (github.com/comfyanonymous/ComfyUI). Row c gives the (R, G, B) weight
 * of latent channel c. They apply to the latent in model space (the scaled latent the transformer
 * denoises, before `z/scaling_factor + shift_factor`), and the result lies roughly in [-1, 1].
 * They are an approximation fitted on SD3 images; refit on Vchitect decoded frames if previews look off
 * (least squares of decoded-frame RGB, downsampled x8, against latent pixels).
 */
export const SD3_LATENT_RGB_FACTORS: readonly (readonly [number, number, number])[] = [
  [-0.0922, -0.0175, 0.0749],
  [0.0311, 0.0633, 0.0954],
  [0.1994, 0.0927, 0.0458],
  [0.0856, 0.0339, 0.0902],
  [0.0587, 0.0272, -0.0496],
  [-0.0006, 0.1104, 0.0309],
  [0.0978, 0.0306, 0.0427],
  [-0.0042, 0.1038, 0.1358],
  [-0.0194, 0.002, 0.0669],
  [-0.0488, 0.013, -0.0268],
  [0.0922, 0.0988, 0.0951],
  [-0.0278, 0.0524, -0.0542],
  [0.0332, 0.0456, 0.0895],
  [-0.0069, -0.003, -0.081],
  [-0.0596, -0.0465, -0.0293],
  [-0.1448, -0.1463, -0.1189],
];
export const SD3_LATENT_RGB_BIAS: readonly [number, number, number] = [0.2394, 0.2135, 0.1925];

export interface LatentPreviewOptions {
  /** Which frame of the [F, C, h, w] block to project (default 0). */
  frame?: number;
  /** C x 3 weights (default SD3_LATENT_RGB_FACTORS). */
  factors?: readonly (readonly [number, number, number])[];
  bias?: readonly [number, number, number];
}

/**
 * Projects one frame of latents laid out [F, C, h, w] (C = factors.length, 16 for SD3) to an RGBA image of
 * size w x h: rgb = factors^T * latent + bias, mapped from [-1, 1] to [0, 255] with clamping, alpha 255.
 * Pass the current x0 estimate (for flow matching x0 = x_t - sigma_t * v) for the clearest preview.
 */
export function latentPreview(
  latents: Float32Array,
  shape: { frames: number; channels: number; height: number; width: number },
  options: LatentPreviewOptions = {},
): RgbaImage {
  const factors = options.factors ?? SD3_LATENT_RGB_FACTORS;
  const bias = options.bias ?? SD3_LATENT_RGB_BIAS;
  const { frames, channels, height, width } = shape;
  const frame = options.frame ?? 0;
  if (channels !== factors.length) {
    throw new Error(`latentPreview: latents have ${channels} channels but the projection has ${factors.length} rows; pass matching factors`);
  }
  if (latents.length !== frames * channels * height * width) {
    throw new Error(
      `latentPreview: latents length ${latents.length} does not match shape [${frames}, ${channels}, ${height}, ${width}] = ${frames * channels * height * width}`,
    );
  }
  if (!Number.isInteger(frame) || frame < 0 || frame >= frames) {
    throw new Error(`latentPreview: frame ${frame} out of range 0..${frames - 1}`);
  }
  const plane = height * width;
  const base = frame * channels * plane;
  const rgba = new Uint8Array(plane * 4);
  for (let p = 0; p < plane; p++) {
    let r = bias[0];
    let g = bias[1];
    let b = bias[2];
    for (let c = 0; c < channels; c++) {
      const v = latents[base + c * plane + p];
      const f = factors[c];
      r += v * f[0];
      g += v * f[1];
      b += v * f[2];
    }
    rgba[p * 4] = toByte(r);
    rgba[p * 4 + 1] = toByte(g);
    rgba[p * 4 + 2] = toByte(b);
    rgba[p * 4 + 3] = 255;
  }
  return { width, height, rgba };
}

function toByte(x: number): number {
  const t = Math.min(Math.max((x + 1) / 2, 0), 1);
  return Math.round(t * 255);
}

/** Encodes an RGBA image as an 8-bit RGBA PNG (fast-png). */
export function encodeRgbaPng(img: RgbaImage): Uint8Array {
  if (img.rgba.length !== img.width * img.height * 4) {
    throw new Error(`encodeRgbaPng: rgba has ${img.rgba.length} bytes, expected ${img.width}x${img.height}x4 = ${img.width * img.height * 4}`);
  }
  return encodePng({ width: img.width, height: img.height, data: img.rgba, channels: 4, depth: 8 });
}
