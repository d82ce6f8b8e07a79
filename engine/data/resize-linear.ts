// cv2.resize(..., interpolation=INTER_LINEAR) of an 8-bit RGB image, as ViCLIP's frames2tensor and Panda-70M's event
// stitching call it, in OpenCV's own integer arithmetic: half-pixel centres (fx = float((dst + 0.5) * in/out - 0.5)),
// two taps per axis without antialiasing, columns before the first pixel or from the last one clamped to it (rows
// clamp the index and keep the weights, as OpenCV does), weights rounded to 11 bits, the horizontal sums exact (once
// per source row), the vertical pass as OpenCV's SIMD loop does it
// (((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2. OpenCV finishes the last few bytes of a row that do not
// fill a vector with a scalar formula ((b0 S0 + b1 S1 + 2^21) >> 22) whose result can be one level apart; where that
// happens depends on the CPU's vector width, so this uses the vector formula everywhere (tested against opencv-js,
// which equals it). A same-size call returns a copy, as OpenCV does. Pure TypeScript. Used by ViCLIP's frames and
// CRAFT's input (craft-detector.ts).

/** OpenCV's fixed-point scale of the interpolation weights (INTER_RESIZE_COEF_BITS = 11). */
const COEF = 2048;

/** cvRound: to nearest, ties to even (lrint). */
function cvRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Per output index the first input index and the two weights in OpenCV's fixed point (sum about 2048), computed
 * as resizeGeneric does: fx = float((o + 0.5) * in/out - 0.5), sx = floor(fx). Columns clamp the position at the
 * borders (`clampEdges`); rows keep it (the caller clamps the row index, so an edge row mixes with itself).
 */
function linearTaps(inSize: number, outSize: number, clampEdges: boolean): { start: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = 1 / (outSize / inSize);
  const start = new Int32Array(outSize);
  const w0 = new Int32Array(outSize);
  const w1 = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let f = Math.fround((o + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampEdges && s < 0) [s, f] = [0, 0];
    if (clampEdges && s >= inSize - 1) [s, f] = [inSize - 1, 0];
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
  const tx = linearTaps(width, outW, true);
  const ty = linearTaps(height, outH, false);
  const out = new Uint8Array(outW * outH * 3);
  // Horizontally resized source rows (exact integer sums), each computed once and dropped when no longer needed.
  const rows = new Map<number, Int32Array>();
  const row = (y: number) => {
    let r = rows.get(y);
    if (!r) {
      r = new Int32Array(outW * 3);
      for (let x = 0; x < outW; x++) {
        const x0 = tx.start[x]!;
        const x1 = Math.min(x0 + 1, width - 1);
        for (let c = 0; c < 3; c++) r[x * 3 + c] = rgb[(y * width + x0) * 3 + c]! * tx.w0[x]! + rgb[(y * width + x1) * 3 + c]! * tx.w1[x]!;
      }
      rows.set(y, r);
    }
    return r;
  };
  const n = outW * 3;
  for (let y = 0; y < outH; y++) {
    const s = ty.start[y]!;
    const r0 = row(Math.min(Math.max(s, 0), height - 1));
    const r1 = row(Math.min(Math.max(s + 1, 0), height - 1));
    const b0 = ty.w0[y]!, b1 = ty.w1[y]!;
    for (let k = 0; k < n; k++) out[y * n + k] = Math.min(255, Math.max(0, ((((r0[k]! >> 4) * b0) >> 16) + (((r1[k]! >> 4) * b1) >> 16) + 2) >> 2));
    if (s > 1) rows.delete(s - 2);
  }
  return out;
}
