// Float64 reference of shaders/flow.wgsl (engine/ops/flow.ts): pyramidal Lucas-Kanade dense optical flow, the same
// steps (2x2 mean downsampling, nearest x2 flow upsampling, regularised LK iterations with clamped borders).

export interface FlowParams {
  levels: number;
  iters: number;
  radius: number;
  lambda: number;
}

/** lambda regularises the 2x2 systems (gray levels squared, summed over the window): flat and occluded areas keep the coarser estimate. */
export const DEFAULT_FLOW: FlowParams = { levels: 3, iters: 3, radius: 3, lambda: 100 };

export const half = (n: number) => Math.max(1, Math.ceil(n / 2));

export function downsampleRef(src: Float64Array, w: number, h: number): Float64Array {
  const W = half(w), H = half(h);
  const at = (x: number, y: number) => src[Math.min(y, h - 1) * w + Math.min(x, w - 1)]!;
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = 0.25 * ((at(2 * x, 2 * y) + at(2 * x + 1, 2 * y)) + (at(2 * x, 2 * y + 1) + at(2 * x + 1, 2 * y + 1)));
  return out;
}

export function upsampleFlowRef(c: Float64Array, wc: number, hc: number, w: number, h: number): Float64Array {
  const out = new Float64Array(w * h * 2);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const s = (Math.min(y >> 1, hc - 1) * wc + Math.min(x >> 1, wc - 1)) * 2;
      out[(y * w + x) * 2] = 2 * c[s]!;
      out[(y * w + x) * 2 + 1] = 2 * c[s + 1]!;
    }
  return out;
}

export function lkStepRef(i0: Float64Array, i1: Float64Array, flow: Float64Array, w: number, h: number, radius: number, lambda: number): Float64Array {
  const cl = (v: number, n: number) => Math.min(Math.max(v, 0), n - 1);
  const im0 = (x: number, y: number) => i0[cl(y, h) * w + cl(x, w)]!;
  const im1 = (x: number, y: number) => i1[cl(y, h) * w + cl(x, w)]!;
  const bil = (x: number, y: number) => {
    const cx = Math.min(Math.max(x, 0), w - 1), cy = Math.min(Math.max(y, 0), h - 1);
    const x0 = Math.floor(cx), y0 = Math.floor(cy), fx = cx - x0, fy = cy - y0;
    const top = im1(x0, y0) * (1 - fx) + im1(x0 + 1, y0) * fx;
    const bot = im1(x0, y0 + 1) * (1 - fx) + im1(x0 + 1, y0 + 1) * fx;
    return top * (1 - fy) + bot * fy;
  };
  const out = new Float64Array(w * h * 2);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 2;
      const u = flow[o]!, v = flow[o + 1]!;
      let sxx = 0, sxy = 0, syy = 0, sxt = 0, syt = 0;
      for (let dy = -radius; dy <= radius; dy++)
        for (let dx = -radius; dx <= radius; dx++) {
          const px = cl(x + dx, w), py = cl(y + dy, h);
          const ix = 0.5 * (im0(px + 1, py) - im0(px - 1, py));
          const iy = 0.5 * (im0(px, py + 1) - im0(px, py - 1));
          const it = bil(px + u, py + v) - im0(px, py);
          sxx += ix * ix; sxy += ix * iy; syy += iy * iy; sxt += ix * it; syt += iy * it;
        }
      const a = sxx + lambda, d = syy + lambda, det = a * d - sxy * sxy;
      out[o] = u + (-d * sxt + sxy * syt) / det;
      out[o + 1] = v + (sxy * sxt - a * syt) / det;
    }
  return out;
}

/** Flow from i0 to i1 (w x h gray images): [h, w, 2] (u, v) in pixels. */
export function opticalFlowRef(i0: Float64Array, i1: Float64Array, w: number, h: number, o: Partial<FlowParams> = {}): Float64Array {
  const q = { ...DEFAULT_FLOW, ...o };
  const pyr: { a: Float64Array; b: Float64Array; w: number; h: number }[] = [{ a: i0, b: i1, w, h }];
  for (let l = 1; l < q.levels; l++) {
    const p = pyr[l - 1]!;
    pyr.push({ a: downsampleRef(p.a, p.w, p.h), b: downsampleRef(p.b, p.w, p.h), w: half(p.w), h: half(p.h) });
  }
  let flow: Float64Array | null = null;
  for (let l = q.levels - 1; l >= 0; l--) {
    const p = pyr[l]!;
    flow = flow ? upsampleFlowRef(flow, pyr[l + 1]!.w, pyr[l + 1]!.h, p.w, p.h) : new Float64Array(p.w * p.h * 2);
    for (let k = 0; k < q.iters; k++) flow = lkStepRef(p.a, p.b, flow, p.w, p.h, q.radius, q.lambda);
  }
  return flow!;
}
