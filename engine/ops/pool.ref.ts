// Float64 reference of maxPool2d (engine/ops/pool.ts): PyTorch MaxPool2d on R planes of H x W (padding skipped).

import { poolSize } from './pool.js';

export function maxPool2dRef(x: ArrayLike<number>, R: number, H: number, W: number, k: number, s: number, p: number): Float64Array {
  const Ho = poolSize(H, k, s, p), Wo = poolSize(W, k, s, p);
  const out = new Float64Array(R * Ho * Wo);
  for (let r = 0; r < R; r++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        let m = -Infinity;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - p + ky;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - p + kx;
            if (ix >= 0 && ix < W) m = Math.max(m, x[(r * H + iy) * W + ix]!);
          }
        }
        out[(r * Ho + oy) * Wo + ox] = m;
      }
  return out;
}
