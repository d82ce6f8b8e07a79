// Forward/backward pair of the SPATIAL JOINT ATTENTION path of a Vchitect block's attention (vchitectAttention64 in
// engine/reference/vchitect.ts, the spatial branch of engine/model/vchitect.ts), llm.c style (training.md section 1):
//   q = [x Wq^T + bq ; c Waq^T + baq]  (per frame, visual rows then text rows; same for k, v)
//   S = attention(q, k, v) per frame over the L + T tokens;  Hs = 1.1 S
//   visual = Hs[:L] Wo^T + bo (to_out.0);  text = Hs[L:] Wao^T + bao (to_add_out)
// spatialAttnForward returns the outputs and what the backward needs (attention's log-sum-exp included);
// spatialAttnBackward reads it in reverse on the existing backward ops only (linearBackward, attentionBackward,
// layout slice/concat, elementwise scale/add). NOT covered here: the temporal attention over frames (with RoPE),
// the frame-0 cross attention and to_out_context, the temporal output projections; a full block adds their
// contributions to Hs and to the visual/text outputs. The reference model has no qk norms in this path.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { attention } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { add, scale } from '../ops/elementwise.js';
import { concat, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { Tensor as T } from '../tensor.js';

/** Weight of the spatial branch in Hsum (SPATIAL_WEIGHT of engine/model/vchitect.ts). */
export const SPATIAL_FACTOR = 1.1;

export const SPATIAL_ATTN_PARAMS = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'waq', 'baq', 'wak', 'bak', 'wav', 'bav', 'wo', 'bo', 'wao', 'bao'] as const;
export type SpatialAttnParamName = (typeof SPATIAL_ATTN_PARAMS)[number];
/** to_q/to_k/to_v (w*), add_q/k/v_proj (wa*), to_out.0 (wo, bo), to_add_out (wao, bao): weights [D, D], biases [D]. */
export type SpatialAttnParams = Record<SpatialAttnParamName, Tensor>;

/** What spatialAttnBackward needs. q, k, v, o, lse, hv, ht are owned (disposeSpatialAttnSaved); x, c, params are the caller's. */
export interface SpatialAttnSaved {
  F: number;
  L: number;
  Tn: number;
  D: number;
  heads: number;
  x: Tensor;
  c: Tensor;
  params: SpatialAttnParams;
  /** Joint projections [F, L+T, D]. */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** Attention output [F, L+T, D] and its log-sum-exp [F, heads, L+T]. */
  o: Tensor;
  lse: Tensor;
  /** Inputs of the two output projections: 1.1 o split into [F, L, D] and [F, T, D]. */
  hv: Tensor;
  ht: Tensor;
}

export type SpatialAttnGrads = { dx: Tensor; dc: Tensor } & Record<`d${SpatialAttnParamName}`, Tensor>;

function check(x: Tensor, c: Tensor, p: SpatialAttnParams, heads: number): { F: number; L: number; Tn: number; D: number } {
  if (x.shape.length !== 3 || c.shape.length !== 3) {
    throw new ShapeError(`vchitect spatial attention: x [${x.shape.join(', ')}] and c [${c.shape.join(', ')}] must be [F, L, D] and [F, T, D]`);
  }
  const [F, L, D] = x.shape as [number, number, number];
  const Tn = c.shape[1]!;
  if (c.shape[0] !== F || c.shape[2] !== D) {
    throw new ShapeError(`vchitect spatial attention: c [${c.shape.join(', ')}] must be [${F}, T, ${D}] (one text row set per frame of x; broadcast a shared [1, T, D] first)`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads) throw new ShapeError(`vchitect spatial attention: heads ${heads} must be a positive integer dividing D = ${D}`);
  for (const n of SPATIAL_ATTN_PARAMS) {
    const want = n.startsWith('w') ? `${D},${D}` : `${D}`;
    if (!p[n] || p[n].shape.join(',') !== want) throw new ShapeError(`vchitect spatial attention: ${n} [${p[n]?.shape.join(', ') ?? 'missing'}] must be [${want.replace(',', ', ')}]`);
  }
  return { F, L, Tn, D };
}

/** The forward: visual [F, L, D] and text [F, T, D] outputs plus the saved activations. Caller disposes them and the saved. */
export function spatialAttnForward(x: Tensor, c: Tensor, p: SpatialAttnParams, heads: number): { visual: Tensor; text: Tensor; saved: SpatialAttnSaved } {
  const { F, L, Tn, D } = check(x, c, p, heads);
  const joint = (w: Tensor, b: Tensor, wa: Tensor, ba: Tensor): Tensor => {
    const a = linear(x, w, b), t = linear(c, wa, ba);
    const j = concat([a, t], 1);
    a.dispose(); t.dispose();
    return j;
  };
  const q = joint(p.wq, p.bq, p.waq, p.baq), k = joint(p.wk, p.bk, p.wak, p.bak), v = joint(p.wv, p.bv, p.wav, p.bav);
  const lse = T.empty(x.device, [F, heads, L + Tn], 'f32', 'spatial attention lse');
  const o = attention(q, k, v, { heads, lse });
  const hs = scale(o, SPATIAL_FACTOR);
  const hv = slice(hs, 1, 0, L), ht = slice(hs, 1, L, L + Tn);
  hs.dispose();
  const visual = linear(hv, p.wo, p.bo);
  const text = linear(ht, p.wao, p.bao);
  return { visual, text, saved: { F, L, Tn, D, heads, x, c, params: p, q, k, v, o, lse, hv, ht } };
}

export function disposeSpatialAttnSaved(s: SpatialAttnSaved): void {
  for (const t of [s.q, s.k, s.v, s.o, s.lse, s.hv, s.ht]) t.dispose();
}

/** The backward for dVisual [F, L, D] and dText [F, T, D]: dx, dc and every parameter gradient (f32), new tensors. */
export function spatialAttnBackward(s: SpatialAttnSaved, dVisual: Tensor, dText: Tensor): SpatialAttnGrads {
  const { F, L, Tn, D, heads, params: p } = s;
  if (dVisual.shape.join(',') !== `${F},${L},${D}`) throw new ShapeError(`vchitect spatial attention backward: dVisual [${dVisual.shape.join(', ')}] must be [${F}, ${L}, ${D}] like the visual output`);
  if (dText.shape.join(',') !== `${F},${Tn},${D}`) throw new ShapeError(`vchitect spatial attention backward: dText [${dText.shape.join(', ')}] must be [${F}, ${Tn}, ${D}] like the text output (zeros when the text output is unused)`);
  const lo = linearBackward(s.hv, p.wo, dVisual);
  const lt = linearBackward(s.ht, p.wao, dText);
  const dhs = concat([lo.dx, lt.dx], 1);
  const dO = scale(dhs, SPATIAL_FACTOR);
  const ag = attentionBackward(s.q, s.k, s.v, dO, { heads, out: s.o, lse: s.lse });
  const temp: Tensor[] = [lo.dx, lt.dx, dhs, dO, ag.dq, ag.dk, ag.dv];
  const g = { dwo: lo.dw, dbo: lo.db!, dwao: lt.dw, dbao: lt.db! } as Partial<SpatialAttnGrads>;
  const dxs: Tensor[] = [], dcs: Tensor[] = [];
  const proj = (dj: Tensor, w: 'wq' | 'wk' | 'wv', wa: 'waq' | 'wak' | 'wav') => {
    const dxv = slice(dj, 1, 0, L), dtv = slice(dj, 1, L, L + Tn);
    const gx = linearBackward(s.x, p[w], dxv), gc = linearBackward(s.c, p[wa], dtv);
    g[`d${w}`] = gx.dw; g[`d${w.replace('w', 'b') as 'bq'}`] = gx.db!;
    g[`d${wa}`] = gc.dw; g[`d${wa.replace('wa', 'ba') as 'baq'}`] = gc.db!;
    dxs.push(gx.dx); dcs.push(gc.dx);
    temp.push(dxv, dtv, gx.dx, gc.dx);
  };
  proj(ag.dq, 'wq', 'waq');
  proj(ag.dk, 'wk', 'wak');
  proj(ag.dv, 'wv', 'wav');
  const sum3 = (ts: Tensor[]): Tensor => { const a = add(ts[0]!, ts[1]!); const r = add(a, ts[2]!); a.dispose(); return r; };
  g.dx = sum3(dxs);
  g.dc = sum3(dcs);
  for (const t of temp) t.dispose();
  return g as SpatialAttnGrads;
}
