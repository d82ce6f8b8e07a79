// Float64 references of patchify / unpatchify (engine/ops/patch.ts), written from Vchitect's definitions; and their backwards.

/** x [F, C, H, W] -> [F, h*w, C*P*P] with channel (c*P + p)*P + q. */
export function patchifyRef(x: ArrayLike<number>, F: number, C: number, H: number, W: number, P = 2): Float64Array {
  const h = H / P, w = W / P;
  const out = new Float64Array(F * C * H * W);
  let o = 0;
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let s = 0; s < w; s++)
        for (let c = 0; c < C; c++)
          for (let p = 0; p < P; p++)
            for (let q = 0; q < P; q++) out[o++] = x[((f * C + c) * H + r * P + p) * W + s * P + q]!;
  return out;
}

/** tokens [F, h, w, P, P, C] -> einsum nhwpqc->nchpwq -> [F, C, h*P, w*P]. */
export function unpatchifyRef(x: ArrayLike<number>, F: number, h: number, w: number, C: number, P = 2): Float64Array {
  const H = h * P, W = w * P;
  const out = new Float64Array(F * C * H * W);
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let s = 0; s < w; s++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++)
            for (let c = 0; c < C; c++) {
              const src = ((((f * h + r) * w + s) * P + p) * P + q) * C + c;
              out[((f * C + c) * H + r * P + p) * W + s * P + q] = x[src]!;
            }
  return out;
}

// Backwards: both ops move each value to exactly one place, so each backward moves the gradient back.

/** Backward of patchifyRef: dy [F, h*w, C*P*P] -> dx [F, C, H, W]. */
export function patchifyBackwardRef(dy: ArrayLike<number>, F: number, C: number, H: number, W: number, P = 2): Float64Array {
  const h = H / P, w = W / P;
  const dx = new Float64Array(F * C * H * W);
  let o = 0;
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let s = 0; s < w; s++)
        for (let c = 0; c < C; c++)
          for (let p = 0; p < P; p++)
            for (let q = 0; q < P; q++) dx[((f * C + c) * H + r * P + p) * W + s * P + q] = dy[o++]!;
  return dx;
}

/** Backward of unpatchifyRef: dy [F, C, h*P, w*P] -> dx [F, h, w, P, P, C]. */
export function unpatchifyBackwardRef(dy: ArrayLike<number>, F: number, h: number, w: number, C: number, P = 2): Float64Array {
  const H = h * P, W = w * P;
  const dx = new Float64Array(F * C * H * W);
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let s = 0; s < w; s++)
        for (let p = 0; p < P; p++)
          for (let q = 0; q < P; q++)
            for (let c = 0; c < C; c++) dx[((((f * h + r) * w + s) * P + p) * P + q) * C + c] = dy[((f * C + c) * H + r * P + p) * W + s * P + q]!;
  return dx;
}
