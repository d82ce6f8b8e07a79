// Float64 reference of the CRAFT forward pass (the ground truth for engine/model/craft.ts): the same layout
// (engine/model/craft-layout.ts) run with the checkpoint's raw tensors, each BatchNorm applied as PyTorch does in
// eval mode ((x - mean) / sqrt(var + eps) gamma + beta) rather than folded, so a test also checks the folding.

import { CRAFT_BACKBONE, CRAFT_BN_EPS, CRAFT_HEAD, CRAFT_UPCONVS, type CraftConv } from '../model/craft-layout.js';
import { conv2dRef } from '../ops/conv2d.ref.js';
import { resizeBilinearRef } from '../ops/interpolate.ref.js';
import { maxPool2dRef } from '../ops/pool.ref.js';

/** A [C, H, W] float64 image. */
export interface Image64 {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

/** The checkpoint's tensors by name (without the 'module.' prefix) with their shapes. */
export interface CraftTensors64 {
  get(key: string): { data: ArrayLike<number>; shape: readonly number[] };
}

function conv(x: Image64, c: CraftConv, t: CraftTensors64): Image64 {
  const w = t.get(`${c.key}.weight`);
  const [co, , k] = w.shape as [number, number, number];
  const pad = (c.dilation * (k - 1)) / 2;
  const data = conv2dRef(x.data, w.data, { N: 1, Cin: x.c, H: x.h, W: x.w, Cout: co, KH: k, KW: k, stride: 1, top: pad, bottom: pad, left: pad, right: pad, dilation: c.dilation, bias: t.get(`${c.key}.bias`).data });
  const y: Image64 = { c: co, h: x.h, w: x.w, data };
  const n = x.h * x.w;
  if (c.bn) {
    const g = t.get(`${c.bn}.weight`).data, b = t.get(`${c.bn}.bias`).data, m = t.get(`${c.bn}.running_mean`).data, v = t.get(`${c.bn}.running_var`).data;
    for (let o = 0; o < co; o++) for (let i = 0; i < n; i++) data[o * n + i] = ((data[o * n + i]! - m[o]!) / Math.sqrt(v[o]! + CRAFT_BN_EPS)) * g[o]! + b[o]!;
  }
  if (c.relu) reluInPlace(y);
  return y;
}

function reluInPlace(x: Image64): Image64 {
  for (let i = 0; i < x.data.length; i++) x.data[i] = Math.max(0, x.data[i]!);
  return x;
}

const cat = (a: Image64, b: Image64): Image64 => {
  const data = new Float64Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { c: a.c + b.c, h: a.h, w: a.w, data };
};

/** x [3, H, W] (normalised RGB) -> [2, floor(H/2), floor(W/2)]: region score then affinity score. */
export function craftForward64(x: Image64, t: CraftTensors64): Image64 {
  const sources: Image64[] = [];
  let h = x;
  for (const s of CRAFT_BACKBONE) {
    if (s.op === 'conv') h = conv(h, s.conv, t);
    else if (s.op === 'relu') h = reluInPlace({ ...h, data: Float64Array.from(h.data) });
    else if (s.op === 'pool') {
      const ho = Math.floor((h.h + 2 * s.p - s.k) / s.s) + 1, wo = Math.floor((h.w + 2 * s.p - s.k) / s.s) + 1;
      h = { c: h.c, h: ho, w: wo, data: maxPool2dRef(h.data, h.c, h.h, h.w, s.k, s.s, s.p) };
    } else sources.push(h);
  }
  let y = cat(sources[4]!, sources[3]!);
  CRAFT_UPCONVS.forEach((pair, i) => {
    if (i > 0) {
      const skip = sources[3 - i]!;
      y = cat({ c: y.c, h: skip.h, w: skip.w, data: resizeBilinearRef(y.data, y.c, y.h, y.w, skip.h, skip.w) }, skip);
    }
    for (const c of pair) y = conv(y, c, t);
  });
  for (const c of CRAFT_HEAD) y = conv(y, c, t);
  return y;
}
