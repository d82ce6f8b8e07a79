// Float64 reference of resizeBilinear (engine/ops/interpolate.ts): align_corners=False bilinear on R planes, written
// from PyTorch's definition (source = max(scale (dst + 0.5) - 0.5, 0), the upper neighbour clamped to the edge).

export function resizeBilinearRef(x: ArrayLike<number>, R: number, H: number, W: number, Ho: number, Wo: number): Float64Array {
  const out = new Float64Array(R * Ho * Wo);
  const src = (o: number, n: number, m: number) => {
    const s = Math.max((n / m) * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(s), n - 1);
    return { i0, i1: Math.min(i0 + 1, n - 1), l: s - i0 };
  };
  for (let r = 0; r < R; r++)
    for (let oy = 0; oy < Ho; oy++) {
      const y = src(oy, H, Ho);
      for (let ox = 0; ox < Wo; ox++) {
        const xx = src(ox, W, Wo);
        const v = (yy: number, xi: number) => x[(r * H + yy) * W + xi]!;
        out[(r * Ho + oy) * Wo + ox] = (1 - y.l) * ((1 - xx.l) * v(y.i0, xx.i0) + xx.l * v(y.i0, xx.i1)) + y.l * ((1 - xx.l) * v(y.i1, xx.i0) + xx.l * v(y.i1, xx.i1));
      }
    }
  return out;
}
