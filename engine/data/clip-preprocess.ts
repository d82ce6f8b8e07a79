// CLIP image preprocessing as Hugging Face's CLIPImageProcessor does it: resize so the shorter side is `size`
// (the longer one int(size * long / short)) with PIL's BICUBIC filter (Keys a = -0.5, support widened by the
// downscale factor: antialiased), centre crop size x size (offsets floor((in - size) / 2)), scale to 0..1 and
// normalise with CLIP's mean and std; out: float32 [3, size, size] (CHW). Float64 throughout; PIL rounds to 8 bits
// after each of its two passes, this rounds once after both (so values may differ from PIL's by one level).
// Pure TypeScript. The PIL resampler (resizePil, PIL_BICUBIC / PIL_BILINEAR) also serves watermark-model.ts.

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** PIL's bicubic kernel (a = -0.5). */
export function bicubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/** A PIL resampling filter: its kernel and support (in input pixels at scale 1). */
export interface PilFilter {
  support: number;
  fn: (x: number) => number;
}
export const PIL_BICUBIC: PilFilter = { support: 2, fn: bicubic };
/** PIL's BILINEAR (a triangle; antialiased on downscaling like every PIL filter): torchvision's Resize on PIL images. */
export const PIL_BILINEAR: PilFilter = { support: 1, fn: (x) => Math.max(0, 1 - Math.abs(x)) };

/** PIL's resampling taps for one axis: per output index the first input index and normalised weights. */
export function resampleTaps(inSize: number, outSize: number, filter: PilFilter = PIL_BICUBIC): { start: number; weights: Float64Array }[] {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const taps: { start: number; weights: Float64Array }[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const w = new Float64Array(hi - lo);
    let sum = 0;
    for (let i = lo; i < hi; i++) sum += w[i - lo] = filter.fn((i - center + 0.5) / filterScale);
    for (let i = 0; i < w.length; i++) w[i]! /= sum;
    taps.push({ start: lo, weights: w });
  }
  return taps;
}

/** HF get_resize_output_image_size(shortest_edge = size): [width, height]. */
export function clipResizeSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.trunc((size * height) / width)];
  return [Math.trunc((size * width) / height), size];
}

/** Resize of an RGB image (float64 planes kept, rounded to 0..255 at the end) with PIL's antialiased bicubic. */
export function resizeBicubic(rgb: Uint8Array, width: number, height: number, outW: number, outH: number): Float64Array {
  return resizePil(rgb, width, height, outW, outH, PIL_BICUBIC, false);
}

/**
 * Resize of an RGB image with a PIL filter: horizontal pass, then vertical, as PIL does. `roundBetween`: round and
 * clip to 0..255 after the first pass too (PIL's 8-bit images; PIL skips a pass whose size does not change, which
 * here is an exact identity either way). Weights in float64 where PIL uses 22-bit fixed point.
 */
export function resizePil(rgb: Uint8Array, width: number, height: number, outW: number, outH: number, filter: PilFilter, roundBetween: boolean): Float64Array {
  const tx = resampleTaps(width, outW, filter);
  const ty = resampleTaps(height, outH, filter);
  const clip8 = (v: number) => Math.min(255, Math.max(0, Math.round(v)));
  const mid = new Float64Array(height * outW * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outW; x++) {
      const { start, weights } = tx[x]!;
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * rgb[(y * width + start + k) * 3 + c]!;
        mid[(y * outW + x) * 3 + c] = roundBetween ? clip8(s) : s;
      }
    }
  }
  const out = new Float64Array(outH * outW * 3);
  for (let y = 0; y < outH; y++) {
    const { start, weights } = ty[y]!;
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < weights.length; k++) s += weights[k]! * mid[((start + k) * outW + x) * 3 + c]!;
        out[(y * outW + x) * 3 + c] = clip8(s);
      }
    }
  }
  return out;
}

/** The whole preprocessing of one RGB frame (width x height x 3 bytes) -> float32 [3, size, size]. */
export function clipPreprocess(rgb: Uint8Array, width: number, height: number, size: number): Float32Array {
  if (rgb.length !== width * height * 3) throw new Error(`clipPreprocess: ${rgb.length} bytes for a ${width}x${height} RGB frame`);
  const [rw, rh] = clipResizeSize(width, height, size);
  const resized = rw === width && rh === height ? Float64Array.from(rgb) : resizeBicubic(rgb, width, height, rw, rh);
  const top = Math.floor((rh - size) / 2);
  const left = Math.floor((rw - size) / 2);
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        out[(c * size + y) * size + x] = (resized[((top + y) * rw + left + x) * 3 + c]! / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
      }
    }
  }
  return out;
}
