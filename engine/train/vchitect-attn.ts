// Forward/backward pair of the attention of a Vchitect block (all three parallel branches) (vchitectAttention64 in
// engine/reference/vchitect.ts; engine/model/vchitect.ts): spatial joint, frame-0 cross and temporal attention,
// llm.c style (training.md section 1). Per frame f (visual rows then text rows):
//   q = [x Wq^T + bq ; cq],  cq = c Waq^T + baq  (to_q / add_q_proj; k, v likewise with to_k/v, add_k/v_proj)
//   S = attention(q, k, v) over the L + T tokens
//   qx = [x Wqx^T + bqx ; cq] (to_q_cross);  X = attention(qx, ck[0], cv[0]) against frame 0's text keys/values
//   Hs = 1.1 S + X Wctx^T + bctx (to_out_context)
//   temporal: qt = RoPE_f([x Wqt^T + bqt ; cq]), kt = RoPE_f([x Wkt^T + bkt ; ck]), vt = [x Wvt^T + bvt ; cv]
//   (to_q/k/v_temp), Y = attention over the F frames at each token position (RoPE on the frame index, theta 1e6)
//   visual = Hs[:L] Wo^T + bo + tf (Y[:L] Wot^T + bot);  text = Hs[L:] Wao^T + bao + tf (Y[L:] Waot^T + baot)
//   (to_out.0, to_out_temporal, to_add_out, to_add_out_temporal; tf = 0 when F = 1, else 1)
// attnForward returns the outputs and what the backward needs (each attention's log-sum-exp included); attnBackward
// reads it in reverse on the existing backward ops only (linearBackward, attentionBackward with shared K/V and
// temporal views, ropeBackward, layout slice/concat/padAxis, elementwise scale/add). The reference model has no qk
// norms in these branches.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { attention, temporalView } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { add, scale } from '../ops/elementwise.js';
import { concat, padAxis, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { rope, ropeBackward } from '../ops/rope.js';
import { Tensor as T } from '../tensor.js';

/** Weight of the spatial branch in Hsum (SPATIAL_WEIGHT of engine/model/vchitect.ts). */
export const SPATIAL_FACTOR = 1.1;
/** RoPE base of the temporal branch (ROPE_THETA of engine/model/vchitect.ts). */
export const TEMPORAL_ROPE_THETA = 1e6;

export const ATTN_PARAMS = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'waq', 'baq', 'wak', 'bak', 'wav', 'bav', 'wqx', 'bqx', 'wctx', 'bctx', 'wo', 'bo', 'wao', 'bao',
  'wqt', 'bqt', 'wkt', 'bkt', 'wvt', 'bvt', 'wot', 'bot', 'waot', 'baot'] as const;
export type AttnParamName = (typeof ATTN_PARAMS)[number];
/** to_q/to_k/to_v (w*), add_q/k/v_proj (wa*), to_q_cross (wqx, bqx), to_out_context (wctx, bctx), to_q/k/v_temp (w*t), to_out_temporal (wot, bot), to_add_out_temporal (waot, baot), to_out.0 (wo, bo), to_add_out (wao, bao): weights [D, D], biases [D]. */
export type AttnParams = Record<AttnParamName, Tensor>;

/** What attnBackward needs. q, k, v, o, lse, hv, ht are owned (disposeAttnSaved); x, c, params are the caller's. */
export interface AttnSaved {
  F: number;
  L: number;
  Tn: number;
  D: number;
  heads: number;
  x: Tensor;
  c: Tensor;
  params: AttnParams;
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
  /** Temporal: RoPE'd queries/keys and values [F, L+T, D] (attended through temporalView), output, lse [L+T, heads, F]. */
  qt: Tensor;
  kt: Tensor;
  vt: Tensor;
  ot: Tensor;
  lset: Tensor;
  /** 0 when F = 1 (the model drops the temporal branch), else 1. */
  tf: number;
  /** Inputs of the two output projections: Hs split into [F, L, D] and [F, T, D]. */
  hv: Tensor;
  ht: Tensor;
}

export type AttnGrads = { dx: Tensor; dc: Tensor } & Record<`d${AttnParamName}`, Tensor>;

function check(x: Tensor, c: Tensor, p: AttnParams, heads: number): { F: number; L: number; Tn: number; D: number } {
  if (x.shape.length !== 3 || c.shape.length !== 3) {
    throw new ShapeError(`vchitect attention: x [${x.shape.join(', ')}] and c [${c.shape.join(', ')}] must be [F, L, D] and [F, T, D]`);
  }
  const [F, L, D] = x.shape as [number, number, number];
  const Tn = c.shape[1]!;
  if (c.shape[0] !== F || c.shape[2] !== D) {
    throw new ShapeError(`vchitect attention: c [${c.shape.join(', ')}] must be [${F}, T, ${D}] (one text row set per frame of x; broadcast a shared [1, T, D] first)`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads) throw new ShapeError(`vchitect attention: heads ${heads} must be a positive integer dividing D = ${D}`);
  if ((D / heads) % 2) throw new ShapeError(`vchitect attention: head dim ${D / heads} (D ${D} / ${heads} heads) must be even for the temporal RoPE`);
  for (const n of ATTN_PARAMS) {
    const want = n.startsWith('w') ? `${D},${D}` : `${D}`;
    if (!p[n] || p[n].shape.join(',') !== want) throw new ShapeError(`vchitect attention: ${n} [${p[n]?.shape.join(', ') ?? 'missing'}] must be [${want.replace(',', ', ')}]`);
  }
  return { F, L, Tn, D };
}

/** The forward: visual [F, L, D] and text [F, T, D] outputs plus the saved activations. Caller disposes them and the saved. */
export function attnForward(x: Tensor, c: Tensor, p: AttnParams, heads: number): { visual: Tensor; text: Tensor; saved: AttnSaved } {
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
  const hd = D / heads;
  const frames = Array.from({ length: F }, (_, f) => f);
  const ropeF = (t: Tensor) => { const r = rope(t, { headDim: hd, positions: frames, axis: 0, theta: TEMPORAL_ROPE_THETA }); t.dispose(); return r; };
  const qt = ropeF(joint(p.wqt, p.bqt, cq)), kt = ropeF(joint(p.wkt, p.bkt, ck)), vt = joint(p.wvt, p.bvt, cv);
  const ot = T.empty(x.device, [F, L + Tn, D], 'f32', 'temporal out');
  const lset = T.empty(x.device, [L + Tn, heads, F], 'f32', 'temporal attention lse');
  attention(temporalView(qt), temporalView(kt), temporalView(vt), { heads, headDim: hd, out: temporalView(ot), lse: lset });
  const tf = F === 1 ? 0 : 1;
  const otv = slice(ot, 1, 0, L), ott = slice(ot, 1, L, L + Tn);
  const yv = linear(otv, p.wot, p.bot), yt = linear(ott, p.waot, p.baot);
  const yvs = scale(yv, tf), yts = scale(yt, tf);
  for (const t of [cq, ck, cv, so, hs, otv, ott, yv, yt]) t.dispose();
  const visual = linear(hv, p.wo, p.bo, { residual: { x: yvs } });
  const text = linear(ht, p.wao, p.bao, { residual: { x: yts } });
  yvs.dispose(); yts.dispose();
  return { visual, text, saved: { F, L, Tn, D, heads, x, c, params: p, q, k, v, o, lse, qx, k0, v0, ox, lsex, qt, kt, vt, ot, lset, tf, hv, ht } };
}

export function disposeAttnSaved(s: AttnSaved): void {
  for (const t of [s.q, s.k, s.v, s.o, s.lse, s.qx, s.k0, s.v0, s.ox, s.lsex, s.qt, s.kt, s.vt, s.ot, s.lset, s.hv, s.ht]) t.dispose();
}

/** The backward for dVisual [F, L, D] and dText [F, T, D]: dx, dc and every parameter gradient (f32), new tensors. */
export function attnBackward(s: AttnSaved, dVisual: Tensor, dText: Tensor): AttnGrads {
  const { F, L, Tn, D, heads, params: p } = s;
  if (dVisual.shape.join(',') !== `${F},${L},${D}`) throw new ShapeError(`vchitect attention backward: dVisual [${dVisual.shape.join(', ')}] must be [${F}, ${L}, ${D}] like the visual output`);
  if (dText.shape.join(',') !== `${F},${Tn},${D}`) throw new ShapeError(`vchitect attention backward: dText [${dText.shape.join(', ')}] must be [${F}, ${Tn}, ${D}] like the text output (zeros when the text output is unused)`);
  const lo = linearBackward(s.hv, p.wo, dVisual);
  const lt = linearBackward(s.ht, p.wao, dText);
  const dhs = concat([lo.dx, lt.dx], 1);
  // Hs = 1.1 S + to_out_context(X).
  const dO = scale(dhs, SPATIAL_FACTOR);
  const lc = linearBackward(s.ox, p.wctx, dhs);
  const ag = attentionBackward(s.q, s.k, s.v, dO, { heads, out: s.o, lse: s.lse });
  // Cross: K/V are frame 0's text rows shared by every frame (their gradient comes back summed, [1, T, D]).
  const ax = attentionBackward(s.qx, s.k0, s.v0, lc.dx, { heads, out: s.ox, lse: s.lsex });
  // Temporal: outputs scaled by tf; attention over frames through temporal views; RoPE undone on dq, dk.
  const dVs = scale(dVisual, s.tf), dTs = scale(dText, s.tf);
  const otv = slice(s.ot, 1, 0, L), ott = slice(s.ot, 1, L, L + Tn);
  const lot = linearBackward(otv, p.wot, dVs), ltt = linearBackward(ott, p.waot, dTs);
  const dot = concat([lot.dx, ltt.dx], 1);
  const hd = D / heads;
  const dqr = T.empty(s.x.device, [F, L + Tn, D], 'f32', 'temporal dq'), dkr = T.empty(s.x.device, [F, L + Tn, D], 'f32', 'temporal dk');
  const dvt = T.empty(s.x.device, [F, L + Tn, D], 'f32', 'temporal dv');
  attentionBackward(temporalView(s.qt), temporalView(s.kt), temporalView(s.vt), temporalView(dot), {
    heads, headDim: hd, out: temporalView(s.ot), lse: s.lset, dq: temporalView(dqr), dk: temporalView(dkr), dv: temporalView(dvt),
  });
  const frames = Array.from({ length: F }, (_, f) => f);
  const ropeOpts = { headDim: hd, positions: frames, axis: 0, theta: TEMPORAL_ROPE_THETA };
  const dqt = ropeBackward(dqr, ropeOpts), dkt = ropeBackward(dkr, ropeOpts);
  const temp: Tensor[] = [lo.dx, lt.dx, dhs, dO, lc.dx, ag.dq, ag.dk, ag.dv, ax.dq, ax.dk, ax.dv,
    dVs, dTs, otv, ott, lot.dx, ltt.dx, dot, dqr, dkr, dvt, dqt, dkt];
  const g = {
    dwo: lo.dw, dbo: lo.db!, dwao: lt.dw, dbao: lt.db!, dwctx: lc.dw, dbctx: lc.db!, dwot: lot.dw, dbot: lot.db!, dwaot: ltt.dw, dbaot: ltt.db!,
  } as Partial<AttnGrads>;
  const dxs: Tensor[] = [], dcs: Tensor[] = [];
  const t = <X extends Tensor>(x: X): X => { temp.push(x); return x; };
  const visualPart = (dj: Tensor) => t(slice(dj, 1, 0, L));
  const textPart = (dj: Tensor) => t(slice(dj, 1, L, L + Tn));
  const back = (inp: Tensor, dy: Tensor, w: AttnParamName, b: AttnParamName) => {
    const gr = linearBackward(inp, p[w], dy);
    g[`d${w}`] = gr.dw; g[`d${b}`] = gr.db!;
    (inp === s.x ? dxs : dcs).push(t(gr.dx));
  };
  // Visual rows of each query / key / value projection.
  back(s.x, visualPart(ag.dq), 'wq', 'bq');
  back(s.x, visualPart(ag.dk), 'wk', 'bk');
  back(s.x, visualPart(ag.dv), 'wv', 'bv');
  back(s.x, visualPart(ax.dq), 'wqx', 'bqx');
  back(s.x, visualPart(dqt), 'wqt', 'bqt');
  back(s.x, visualPart(dkt), 'wkt', 'bkt');
  back(s.x, visualPart(dvt), 'wvt', 'bvt');
  // Text rows: cq feeds both attentions' queries; ck[0], cv[0] also feed the cross attention (zero for frames > 0).
  // Text rows: cq, ck, cv feed the spatial and temporal attentions; cq the cross queries; ck[0], cv[0] the cross
  // keys/values (zero for frames > 0).
  const sum3 = (a: Tensor, b: Tensor, c: Tensor) => t(add(t(add(a, b)), c));
  back(s.c, sum3(textPart(ag.dq), textPart(ax.dq), textPart(dqt)), 'waq', 'baq');
  back(s.c, sum3(textPart(ag.dk), t(padAxis(ax.dk, 0, F)), textPart(dkt)), 'wak', 'bak');
  back(s.c, sum3(textPart(ag.dv), t(padAxis(ax.dv, 0, F)), textPart(dvt)), 'wav', 'bav');
  const sumAll = (ts: Tensor[]): Tensor => ts.slice(1).reduce((acc, x, i) => { const r = add(acc, x); if (i) acc.dispose(); return r; }, ts[0]!);
  g.dx = sumAll(dxs);
  g.dc = sumAll(dcs);
  for (const x of temp) x.dispose();
  return g as AttnGrads;
}
