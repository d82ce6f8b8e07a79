// Forward/backward pair of the PER-FRAME branches of a Vchitect block's attention (vchitectAttention64 in
// engine/reference/vchitect.ts; engine/model/vchitect.ts): the spatial joint attention and the frame-0 cross attention,
// llm.c style (training.md section 1). Per frame f (visual rows then text rows):
//   q = [x Wq^T + bq ; cq],  cq = c Waq^T + baq  (to_q / add_q_proj; k, v likewise with to_k/v, add_k/v_proj)
//   S = attention(q, k, v) over the L + T tokens
//   qx = [x Wqx^T + bqx ; cq] (to_q_cross);  X = attention(qx, ck[0], cv[0]) against frame 0's text keys/values
//   Hs = 1.1 S + X Wctx^T + bctx (to_out_context)
//   visual = Hs[:L] Wo^T + bo (to_out.0);  text = Hs[L:] Wao^T + bao (to_add_out)
// frameAttnForward returns the outputs and what the backward needs (both attentions' log-sum-exp included);
// frameAttnBackward reads it in reverse on the existing backward ops only (linearBackward, attentionBackward with
// shared K/V, layout slice/concat/padAxis, elementwise scale/add). NOT covered here: the temporal attention over
// frames (with RoPE) and its output projections to_out_temporal / to_add_out_temporal, which a full block adds to
// the visual/text outputs. The reference model has no qk norms in these branches.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { attention } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { add, scale } from '../ops/elementwise.js';
import { concat, padAxis, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { Tensor as T } from '../tensor.js';

/** Weight of the spatial branch in Hsum (SPATIAL_WEIGHT of engine/model/vchitect.ts). */
export const SPATIAL_FACTOR = 1.1;

export const FRAME_ATTN_PARAMS = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'waq', 'baq', 'wak', 'bak', 'wav', 'bav', 'wqx', 'bqx', 'wctx', 'bctx', 'wo', 'bo', 'wao', 'bao'] as const;
export type FrameAttnParamName = (typeof FRAME_ATTN_PARAMS)[number];
/** to_q/to_k/to_v (w*), add_q/k/v_proj (wa*), to_q_cross (wqx, bqx), to_out_context (wctx, bctx), to_out.0 (wo, bo), to_add_out (wao, bao): weights [D, D], biases [D]. */
export type FrameAttnParams = Record<FrameAttnParamName, Tensor>;

/** What frameAttnBackward needs. q, k, v, o, lse, hv, ht are owned (disposeFrameAttnSaved); x, c, params are the caller's. */
export interface FrameAttnSaved {
  F: number;
  L: number;
  Tn: number;
  D: number;
  heads: number;
  x: Tensor;
  c: Tensor;
  params: FrameAttnParams;
  /** Joint projections [F, L+T, D]. */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** Attention output [F, L+T, D] and its log-sum-exp [F, heads, L+T]. */
  o: Tensor;
  lse: Tensor;
  /** Cross attention: queries [F, L+T, D], frame 0's text keys/values [1, T, D], output and log-sum-exp. */
  qx: Tensor;
  k0: Tensor;
  v0: Tensor;
  ox: Tensor;
  lsex: Tensor;
  /** Inputs of the two output projections: Hs split into [F, L, D] and [F, T, D]. */
  hv: Tensor;
  ht: Tensor;
}

export type FrameAttnGrads = { dx: Tensor; dc: Tensor } & Record<`d${FrameAttnParamName}`, Tensor>;

function check(x: Tensor, c: Tensor, p: FrameAttnParams, heads: number): { F: number; L: number; Tn: number; D: number } {
  if (x.shape.length !== 3 || c.shape.length !== 3) {
    throw new ShapeError(`vchitect frame attention: x [${x.shape.join(', ')}] and c [${c.shape.join(', ')}] must be [F, L, D] and [F, T, D]`);
  }
  const [F, L, D] = x.shape as [number, number, number];
  const Tn = c.shape[1]!;
  if (c.shape[0] !== F || c.shape[2] !== D) {
    throw new ShapeError(`vchitect frame attention: c [${c.shape.join(', ')}] must be [${F}, T, ${D}] (one text row set per frame of x; broadcast a shared [1, T, D] first)`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads) throw new ShapeError(`vchitect frame attention: heads ${heads} must be a positive integer dividing D = ${D}`);
  for (const n of FRAME_ATTN_PARAMS) {
    const want = n.startsWith('w') ? `${D},${D}` : `${D}`;
    if (!p[n] || p[n].shape.join(',') !== want) throw new ShapeError(`vchitect frame attention: ${n} [${p[n]?.shape.join(', ') ?? 'missing'}] must be [${want.replace(',', ', ')}]`);
  }
  return { F, L, Tn, D };
}

/** The forward: visual [F, L, D] and text [F, T, D] outputs plus the saved activations. Caller disposes them and the saved. */
export function frameAttnForward(x: Tensor, c: Tensor, p: FrameAttnParams, heads: number): { visual: Tensor; text: Tensor; saved: FrameAttnSaved } {
  const { F, L, Tn, D } = check(x, c, p, heads);
  const cq = linear(c, p.waq, p.baq), ck = linear(c, p.wak, p.bak), cv = linear(c, p.wav, p.bav);
  const joint = (w: Tensor, b: Tensor, t: Tensor): Tensor => {
    const a = linear(x, w, b);
    const j = concat([a, t], 1);
    a.dispose();
    return j;
  };
  const q = joint(p.wq, p.bq, cq), k = joint(p.wk, p.bk, ck), v = joint(p.wv, p.bv, cv);
  const lse = T.empty(x.device, [F, heads, L + Tn], 'f32', 'spatial attention lse');
  const o = attention(q, k, v, { heads, lse });
  const qx = joint(p.wqx, p.bqx, cq);
  const k0 = slice(ck, 0, 0, 1), v0 = slice(cv, 0, 0, 1);
  const lsex = T.empty(x.device, [F, heads, L + Tn], 'f32', 'cross attention lse');
  const ox = attention(qx, k0, v0, { heads, lse: lsex });
  const so = scale(o, SPATIAL_FACTOR);
  const hs = linear(ox, p.wctx, p.bctx, { residual: { x: so } });
  const hv = slice(hs, 1, 0, L), ht = slice(hs, 1, L, L + Tn);
  for (const t of [cq, ck, cv, so, hs]) t.dispose();
  const visual = linear(hv, p.wo, p.bo);
  const text = linear(ht, p.wao, p.bao);
  return { visual, text, saved: { F, L, Tn, D, heads, x, c, params: p, q, k, v, o, lse, qx, k0, v0, ox, lsex, hv, ht } };
}

export function disposeFrameAttnSaved(s: FrameAttnSaved): void {
  for (const t of [s.q, s.k, s.v, s.o, s.lse, s.qx, s.k0, s.v0, s.ox, s.lsex, s.hv, s.ht]) t.dispose();
}

/** The backward for dVisual [F, L, D] and dText [F, T, D]: dx, dc and every parameter gradient (f32), new tensors. */
export function frameAttnBackward(s: FrameAttnSaved, dVisual: Tensor, dText: Tensor): FrameAttnGrads {
  const { F, L, Tn, D, heads, params: p } = s;
  if (dVisual.shape.join(',') !== `${F},${L},${D}`) throw new ShapeError(`vchitect frame attention backward: dVisual [${dVisual.shape.join(', ')}] must be [${F}, ${L}, ${D}] like the visual output`);
  if (dText.shape.join(',') !== `${F},${Tn},${D}`) throw new ShapeError(`vchitect frame attention backward: dText [${dText.shape.join(', ')}] must be [${F}, ${Tn}, ${D}] like the text output (zeros when the text output is unused)`);
  const lo = linearBackward(s.hv, p.wo, dVisual);
  const lt = linearBackward(s.ht, p.wao, dText);
  const dhs = concat([lo.dx, lt.dx], 1);
  // Hs = 1.1 S + to_out_context(X).
  const dO = scale(dhs, SPATIAL_FACTOR);
  const lc = linearBackward(s.ox, p.wctx, dhs);
  const ag = attentionBackward(s.q, s.k, s.v, dO, { heads, out: s.o, lse: s.lse });
  // Cross: K/V are frame 0's text rows shared by every frame (their gradient comes back summed, [1, T, D]).
  const ax = attentionBackward(s.qx, s.k0, s.v0, lc.dx, { heads, out: s.ox, lse: s.lsex });
  const temp: Tensor[] = [lo.dx, lt.dx, dhs, dO, lc.dx, ag.dq, ag.dk, ag.dv, ax.dq, ax.dk, ax.dv];
  const g = { dwo: lo.dw, dbo: lo.db!, dwao: lt.dw, dbao: lt.db!, dwctx: lc.dw, dbctx: lc.db! } as Partial<FrameAttnGrads>;
  const dxs: Tensor[] = [], dcs: Tensor[] = [];
  const t = <X extends Tensor>(x: X): X => { temp.push(x); return x; };
  const visualPart = (dj: Tensor) => t(slice(dj, 1, 0, L));
  const textPart = (dj: Tensor) => t(slice(dj, 1, L, L + Tn));
  const back = (inp: Tensor, dy: Tensor, w: FrameAttnParamName, b: FrameAttnParamName) => {
    const gr = linearBackward(inp, p[w], dy);
    g[`d${w}`] = gr.dw; g[`d${b}`] = gr.db!;
    (inp === s.x ? dxs : dcs).push(t(gr.dx));
  };
  // Visual rows of each query / key / value projection.
  back(s.x, visualPart(ag.dq), 'wq', 'bq');
  back(s.x, visualPart(ag.dk), 'wk', 'bk');
  back(s.x, visualPart(ag.dv), 'wv', 'bv');
  back(s.x, visualPart(ax.dq), 'wqx', 'bqx');
  // Text rows: cq feeds both attentions' queries; ck[0], cv[0] also feed the cross attention (zero for frames > 0).
  back(s.c, t(add(textPart(ag.dq), textPart(ax.dq))), 'waq', 'baq');
  back(s.c, t(add(textPart(ag.dk), t(padAxis(ax.dk, 0, F)))), 'wak', 'bak');
  back(s.c, t(add(textPart(ag.dv), t(padAxis(ax.dv, 0, F)))), 'wav', 'bav');
  const sumAll = (ts: Tensor[]): Tensor => ts.slice(1).reduce((acc, x, i) => { const r = add(acc, x); if (i) acc.dispose(); return r; }, ts[0]!);
  g.dx = sumAll(dxs);
  g.dc = sumAll(dcs);
  for (const x of temp) x.dispose();
  return g as FrameAttnGrads;
}
