// cv2.resize(..., interpolation=INTER_LINEAR) of an 8-bit RGB image, as ViCLIP's frames2tensor and Panda-70M's event
// stitching call it, in OpenCV's own integer arithmetic: half-pixel centres (fx = float((dst + 0.5) * in/out - 0.5)),
// two taps per axis without antialiasing, coordinates before the first pixel or from the last one clamped to it,
// weights rounded to 11 bits, the horizontal sums exact, the vertical pass as OpenCV's SIMD loop does it
// (((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2. OpenCV finishes the last few bytes of a row that do not
// fill a vector with a scalar formula ((b0 S0 + b1 S1 + 2^21) >> 22) whose result can be one level apart; where that
// happens depends on the CPU's vector width, so this uses the vector formula everywhere (tested against opencv-js:
// at most one level apart, equal on the downscales). A same-size call returns a copy, as OpenCV does. Pure TypeScript.

/** OpenCV's fixed-point scale of the interpolation weights (INTER_RESIZE_COEF_BITS = 11). */
const COEF = 2048;

/** cvRound: to nearest, ties to even (lrint). */
function cvRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per output index the first input index and the two weights in OpenCV's fixed point (sum about 2048), computed
 * as resizeGeneric does: fx = float((o + 0.5) * in/out - 0.5), sx = floor(fx), clamped at the borders.
 */
export function linearTaps(inSize: number, outSize: number): { start: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = 1 / (outSize / inSize);
  const start = new Int32Array(outSize);
  const w0 = new Int32Array(outSize);
  const w1 = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let f = Math.fround((o + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) [s, f] = [0, 0];
    if (s >= inSize - 1) [s, f] = [inSize - 1, 0];
    start[o] = s;
    w0[o] = cvRound(Math.fround(1 - f) * COEF);
    w1[o] = cvRound(f * COEF);
  }
  return { start, w0, w1 };
}

/** RGB (width x height x 3 bytes) -> RGB (outW x outH x 3 bytes), cv2.INTER_LINEAR. */
export function resizeLinear(rgb: Uint8Array, width: number, height: number, outW: number, outH: number): Uint8Array {
  if (rgb.length !== width * height * 3) throw new Error(`resizeLinear: ${rgb.length} bytes for a ${width}x${height} RGB frame`);
  if (width === outW && height === outH) return rgb.slice();
  const tx = linearTaps(width, outW);
  const ty = linearTaps(height, outH);
  const out = new Uint8Array(outW * outH * 3);
  const row = (y: number, x: number, c: number) => {
    const x0 = tx.start[x]!;
    const x1 = Math.min(x0 + 1, width - 1);
    return rgb[(y * width + x0) * 3 + c]! * tx.w0[x]! + rgb[(y * width + x1) * 3 + c]! * tx.w1[x]!;
  };
  for (let y = 0; y < outH; y++) {
    const y0 = ty.start[y]!;
    const y1 = Math.min(y0 + 1, height - 1);
    for (let x = 0; x < outW; x++) {
      for (let c = 0; c < 3; c++) {
        const v = ((((row(y0, x, c) >> 4) * ty.w0[y]!) >> 16) + (((row(y1, x, c) >> 4) * ty.w1[y]!) >> 16) + 2) >> 2;
        out[(y * outW + x) * 3 + c] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return out;
}
