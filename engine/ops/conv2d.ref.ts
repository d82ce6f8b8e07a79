// Float64 references of conv2d (NCHW, zero padding, optional nearest-2x input upsampling and residual) and of
// nearest 2x upsampling (engine/ops/conv2d.ts).

export interface Conv2dRefArgs {
  N: number; Cin: number; H: number; W: number; Cout: number; KH: number; KW: number;
  stride: number; top: number; bottom: number; left: number; right: number;
  bias?: ArrayLike<number>; residual?: ArrayLike<number>; upsample?: boolean;
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
  const Ho = Math.floor((H + a.top + a.bottom - a.KH) / a.stride) + 1;
  const Wo = Math.floor((W + a.left + a.right - a.KW) / a.stride) + 1;
  const out = new Float64Array(a.N * a.Cout * Ho * Wo);
  for (let n = 0; n < a.N; n++)
    for (let co = 0; co < a.Cout; co++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let s = a.bias ? a.bias[co]! : 0;
          for (let ci = 0; ci < a.Cin; ci++)
            for (let ky = 0; ky < a.KH; ky++) {
              const iy = oy * a.stride - a.top + ky;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < a.KW; kx++) {
                const ix = ox * a.stride - a.left + kx;
                if (ix < 0 || ix >= W) continue;
                s += w[((co * a.Cin + ci) * a.KH + ky) * a.KW + kx]! * x[((n * a.Cin + ci) * H + iy) * W + ix]!;
              }
            }
          const o = ((n * a.Cout + co) * Ho + oy) * Wo + ox;
          out[o] = s + (a.residual ? a.residual[o]! : 0);
        }
  return out;
}
