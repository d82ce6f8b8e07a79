// Float64 reference of depthwiseConv2d (engine/ops/depthwise-conv2d.ts): channels last, one kernel per channel,
// zero padding, bias and optional SiLU.

export interface DepthwiseRefArgs {
  N: number; H: number; W: number; C: number; KH: number; KW: number;
  stride: number; top: number; bottom: number; left: number; right: number;
  bias?: ArrayLike<number>; act?: 'none' | 'silu';
}

/** x [N, H, W, C], w [KH, KW, C] -> [N, Ho, Wo, C]. */
export function depthwiseConv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, a: DepthwiseRefArgs): Float64Array {
  const Ho = Math.floor((a.H + a.top + a.bottom - a.KH) / a.stride) + 1;
  const Wo = Math.floor((a.W + a.left + a.right - a.KW) / a.stride) + 1;
  const out = new Float64Array(a.N * Ho * Wo * a.C);
  for (let n = 0; n < a.N; n++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++)
        for (let c = 0; c < a.C; c++) {
          let s = a.bias ? a.bias[c]! : 0;
          for (let ky = 0; ky < a.KH; ky++) {
            const iy = oy * a.stride - a.top + ky;
            if (iy < 0 || iy >= a.H) continue;
            for (let kx = 0; kx < a.KW; kx++) {
              const ix = ox * a.stride - a.left + kx;
              if (ix < 0 || ix >= a.W) continue;
              s += w[(ky * a.KW + kx) * a.C + c]! * x[((n * a.H + iy) * a.W + ix) * a.C + c]!;
            }
          }
          out[((n * Ho + oy) * Wo + ox) * a.C + c] = a.act === 'silu' ? s / (1 + Math.exp(-s)) : s;
        }
  return out;
}
