// Float64 references of conv2d (NCHW, zero padding, kernel dilation (forward), optional nearest-2x input upsampling and residual) and of
// nearest 2x upsampling (engine/ops/conv2d.ts); and their backwards.

export interface Conv2dRefArgs {
  N: number; Cin: number; H: number; W: number; Cout: number; KH: number; KW: number;
  stride: number; top: number; bottom: number; left: number; right: number;
  bias?: ArrayLike<number>; residual?: ArrayLike<number>; upsample?: boolean;
  /** Kernel dilation (forward only; default 1). */
  dilation?: number;
}

export function upsampleNearest2xRef(x: ArrayLike<number>, R: number, H: number, W: number): Float64Array {
  const out = new Float64Array(R * 4 * H * W);
  for (let r = 0; r < R; r++)
    for (let y = 0; y < 2 * H; y++)
      for (let xx = 0; xx < 2 * W; xx++) out[(r * 2 * H + y) * 2 * W + xx] = x[(r * H + (y >> 1)) * W + (xx >> 1)]!;
  return out;
}

export function conv2dRef(xIn: ArrayLike<number>, w: ArrayLike<number>, a: Conv2dRefArgs): Float64Array {
  const x = a.upsample ? upsampleNearest2xRef(xIn, a.N * a.Cin, a.H, a.W) : xIn;
  const H = a.upsample ? 2 * a.H : a.H, W = a.upsample ? 2 * a.W : a.W;
  const d = a.dilation ?? 1;
  const Ho = Math.floor((H + a.top + a.bottom - d * (a.KH - 1) - 1) / a.stride) + 1;
  const Wo = Math.floor((W + a.left + a.right - d * (a.KW - 1) - 1) / a.stride) + 1;
  const out = new Float64Array(a.N * a.Cout * Ho * Wo);
  for (let n = 0; n < a.N; n++)
    for (let co = 0; co < a.Cout; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let s = a.bias ? a.bias[co]! : 0;
          for (let ci = 0; ci < a.Cin; ci++)
            for (let ky = 0; ky < a.KH; ky++) {
              const iy = oy * a.stride - a.top + ky * d;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < a.KW; kx++) {
                const ix = ox * a.stride - a.left + kx * d;
                if (ix < 0 || ix >= W) continue;
                s += w[((co * a.Cin + ci) * a.KH + ky) * a.KW + kx]! * x[((n * a.Cin + ci) * H + iy) * W + ix]!;
              }
            }
          const o = ((n * a.Cout + co) * Ho + oy) * Wo + ox;
          out[o] = s + (a.residual ? a.residual[o]! : 0);
        }
  return out;
}

/** Backward of upsampleNearest2xRef: each input pixel receives the sum of its 2x2 block. */
export function upsampleNearest2xBackwardRef(dy: ArrayLike<number>, R: number, H: number, W: number): Float64Array {
  const dx = new Float64Array(R * H * W);
  for (let r = 0; r < R; r++)
    for (let y = 0; y < 2 * H; y++)
      for (let xx = 0; xx < 2 * W; xx++) dx[(r * H + (y >> 1)) * W + (xx >> 1)] += dy[(r * 2 * H + y) * 2 * W + xx]!;
  return dx;
}

/**
 * Backward of conv2dRef for dy [N, Cout, Ho, Wo]: dX is the transposed convolution of dy with w (then the upsample's
 * backward when the input was upsampled), dW the correlation of X with dy, db the sums of dy per channel.
 */
export function conv2dBackwardRef(xIn: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, a: Conv2dRefArgs): { dx: Float64Array; dw: Float64Array; db: Float64Array; dresidual?: Float64Array } {
  const x = a.upsample ? upsampleNearest2xRef(xIn, a.N * a.Cin, a.H, a.W) : xIn;
  const H = a.upsample ? 2 * a.H : a.H, W = a.upsample ? 2 * a.W : a.W;
  const Ho = Math.floor((H + a.top + a.bottom - a.KH) / a.stride) + 1;
  const Wo = Math.floor((W + a.left + a.right - a.KW) / a.stride) + 1;
  const dxUp = new Float64Array(a.N * a.Cin * H * W);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(a.Cout);
  for (let n = 0; n < a.N; n++)
    for (let co = 0; co < a.Cout; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          const g = dy[((n * a.Cout + co) * Ho + oy) * Wo + ox]!;
          db[co] += g;
          for (let ci = 0; ci < a.Cin; ci++)
            for (let ky = 0; ky < a.KH; ky++) {
              const iy = oy * a.stride - a.top + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < a.KW; kx++) {
                const ix = ox * a.stride - a.left + kx;
                if (ix < 0 || ix >= W) continue;
                const wi = ((co * a.Cin + ci) * a.KH + ky) * a.KW + kx;
                const xi = ((n * a.Cin + ci) * H + iy) * W + ix;
                dw[wi] += g * x[xi]!;
                dxUp[xi] += g * w[wi]!;
              }
            }
        }
  const dx = a.upsample ? upsampleNearest2xBackwardRef(dxUp, a.N * a.Cin, a.H, a.W) : dxUp;
  return { dx, dw, db, dresidual: a.residual ? Float64Array.from(dy) : undefined };
}
