// CPU reference of shaders/scene.wgsl (engine/ops/scene.ts), written the way OpenCV does it (float64 division
// tables rounded like saturate_cast<int>): 8-bit RGB -> HSV (H 0..179) and gray (OpenCV 4's 15-bit weights), then
// per-frame sums of absolute differences. Integers throughout, so GPU and CPU agree exactly. Also the CPU implementation of the stage.

const HSV_SHIFT = 12;
const SDIV = new Int32Array(256);
const HDIV = new Int32Array(256);
for (let i = 1; i < 256; i++) {
  SDIV[i] = Math.round((255 << HSV_SHIFT) / i);
  HDIV[i] = Math.round((180 << HSV_SHIFT) / (6 * i));
}

/** OpenCV cvtColor(COLOR_RGB2HSV) for one 8-bit pixel: [H 0..179, S, V]. */
export function rgbToHsvRef(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b);
  const vmin = Math.min(r, g, b);
  const diff = v - vmin;
  const vr = v === r ? -1 : 0;
  const vg = v === g ? -1 : 0;
  const s = (diff * SDIV[v]! + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
  let h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
  h = (h * HDIV[diff]! + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
  if (h < 0) h += 180;
  return [h, s, v];
}

/**
 * OpenCV 4's cvtColor(COLOR_RGB2GRAY) for one 8-bit pixel: 15-bit coefficients (RY15, GY15, BY15 of color.hpp).
 * OpenCV 3's 14-bit form (4899 R + 9617 G + 1868 B + 8192) >> 14, which the spec quotes, differs by one level on
 * 43864 of the 2^24 colours; test/engine/ops/scene.opencv.test.ts checks every colour against opencv-js.
 */
export function rgbToGrayRef(r: number, g: number, b: number): number {
  return (9798 * r + 19235 * g + 3735 * b + 16384) >> 15;
}

/** The packed per-pixel output of the CONVERT stage: H | S << 8 | V << 16 | GRAY << 24 (as an unsigned number). */
export function sceneConvertRef(rgb: Uint8Array, pixels: number): Uint32Array {
  const out = new Uint32Array(pixels);
  for (let i = 0; i < pixels; i++) {
    const r = rgb[3 * i]!, g = rgb[3 * i + 1]!, b = rgb[3 * i + 2]!;
    const [h, s, v] = rgbToHsvRef(r, g, b);
    out[i] = (h | (s << 8) | (v << 16) | (rgbToGrayRef(r, g, b) << 24)) >>> 0;
  }
  return out;
}

/** Per-frame sums over the pixels; the diffs compare frame t with frame t-1 of the same call (0 for the first). */
export interface SceneSums {
  frames: number;
  pixels: number;
  dh: Float64Array;
  ds: Float64Array;
  dv: Float64Array;
  dgray: Float64Array;
  /** Sum of R+G+B (PySceneDetect's ThresholdDetector average is sumRgb / (3 P)). */
  sumRgb: Float64Array;
  sumGray: Float64Array;
}

export function emptySums(frames: number, pixels: number): SceneSums {
  const a = () => new Float64Array(frames);
  return { frames, pixels, dh: a(), ds: a(), dv: a(), dgray: a(), sumRgb: a(), sumGray: a() };
}

/** `frames` frames of `pixels` RGB pixels each, contiguous. */
export function sceneSumsRef(rgb: Uint8Array, frames: number, pixels: number): SceneSums {
  if (rgb.length < frames * pixels * 3) throw new Error(`sceneSumsRef: ${rgb.length} bytes for ${frames} frames of ${pixels} pixels`);
  const out = emptySums(frames, pixels);
  let prev: Uint32Array | null = null;
  for (let t = 0; t < frames; t++) {
    const cur = sceneConvertRef(rgb.subarray(t * pixels * 3, (t + 1) * pixels * 3), pixels);
    let dh = 0, ds = 0, dv = 0, dg = 0, srgb = 0, sg = 0;
    for (let i = 0; i < pixels; i++) {
      const c = cur[i]!;
      if (prev) {
        const q = prev[i]!;
        dh += Math.abs((c & 255) - (q & 255));
        ds += Math.abs(((c >>> 8) & 255) - ((q >>> 8) & 255));
        dv += Math.abs(((c >>> 16) & 255) - ((q >>> 16) & 255));
        dg += Math.abs((c >>> 24) - (q >>> 24));
      }
      const k = (t * pixels + i) * 3;
      srgb += rgb[k]! + rgb[k + 1]! + rgb[k + 2]!;
      sg += c >>> 24;
    }
    out.dh[t] = dh; out.ds[t] = ds; out.dv[t] = dv; out.dgray[t] = dg; out.sumRgb[t] = srgb; out.sumGray[t] = sg;
    prev = cur;
  }
  return out;
}
