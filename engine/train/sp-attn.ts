// Ulysses sequence-parallel forward/backward pair of a Vchitect block's attention for training (training.md
// section 4, ../shared/spec/parallel.md section 1), the SP counterpart of attnForward/attnBackward (vchitect-attn.ts):
// each rank of an SP group of P ranks holds a contiguous share of the visual rows [F, nL, D] and (separately) of the
// text rows [F, nT, D] (tokenShard: padded to a multiple of P, padding rows zero). Every projection, the output
// projections and the temporal branch (per token position) run on the local rows exactly as attnForward does. The
// spatial joint attention and the frame-0 cross attention need the whole sequence: one all-to-all trades the
// sequence split for a head split (each rank then holds all L + T tokens for H/P heads, padding dropped), the two
// attentions run (saving their log-sum-exp), and the inverse all-to-all brings the outputs back to local rows with
// every head (re-padded with zeros). The backward runs the same all-to-alls with the two dimensions swapped around
// attentionBackward: output gradients rows -> heads, then dq, dk, dv heads -> rows. When the heads do not split
// (H % P != 0) the exchange is inference's fallback instead: one all-gather of this rank's k, v, ck, cv rows, the
// local query rows attend with all H heads; its backward is the reduce-scatter of dK, dV (an all-to-all of each
// rank's contribution to every rank's rows, summed in rank order). Zero gradients on the padding rows keep them out
// of every parameter gradient.

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { attention, temporalView } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { add, scale } from '../ops/elementwise.js';
import { concat, contiguousStrides, padAxis, slice, stridedCopy } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { rope, ropeBackward } from '../ops/rope.js';
import { packing, spAttentionExchange, unpackGathered, type TokenShard } from '../parallel/ulysses.js';
import type { Stager } from '../parallel/staging.js';
import { SPATIAL_FACTOR, TEMPORAL_ROPE_THETA, type AttnGrads, type AttnParamName, type AttnParams } from './vchitect-attn.js';

/** This rank's place in its SP group: the stager over the group, its size P and the two token shards. */
export interface SpShards {
  stager: Stager;
  P: number;
  vis: TokenShard;
  txt: TokenShard;
}

/** How the SP group exchanges around the attention (spAttentionExchange of engine/parallel/ulysses.ts). */
export type SpExchange = 'ulysses' | 'kv-allgather';

/** The exchange and attention core's saved tensors (all owned). */
interface CoreSaved {
  kind: SpExchange;
  /** Spatial: q, k, v, o, lse; cross: qx, k0, v0, ox, lsex. Ulysses: head split [F, L+T, D/P] (k0/v0 [1, T, D/P]);
   *  K/V all-gather: q, qx, o, ox on local rows [F, nL+nT, D], k, v the gathered [F, L+T, D], k0/v0 [1, T, D]. */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
  lse: Tensor;
  qx: Tensor;
  k0: Tensor;
  v0: Tensor;
  ox: Tensor;
  lsex: Tensor;
}

/** What spAttnBackward needs. */
export interface SpAttnSaved {
  sh: SpShards;
  F: number;
  D: number;
  heads: number;
  x: Tensor;
  c: Tensor;
  params: AttnParams;
  core: CoreSaved;
  /** Local rows [F, nL+nT, D]: the cross output (input of to_out_context), temporal q/k/v, output, lse [nL+nT, H, F]. */
  oxL: Tensor;
  qt: Tensor;
  kt: Tensor;
  vt: Tensor;
  ot: Tensor;
  lset: Tensor;
  tf: number;
  /** Local rows of Hs: [F, nL, D], [F, nT, D]. */
  hv: Tensor;
  ht: Tensor;
}

/**
 * Local rows xs[i] [F, n_i, D] (all heads) -> [F, P*n_i, D/P] (every rank's rows, this rank's heads): one all-to-all
 * (UlyssesVchitect.sequenceToHeads' packing). The backward of headsToSequence.
 */
export async function sequenceToHeads(sh: SpShards, xs: readonly Tensor[], label: string): Promise<Tensor[]> {
  const P = sh.P;
  const Dp = xs[0]!.shape[2]! / P;
  const { offsets, total } = packing(xs.map((x) => x.shape[0]! * x.shape[1]! * Dp));
  const packed = T.empty(xs[0]!.device, [P, total], 'f32', 'sp a2a send');
  xs.forEach((x, i) => {
    const [F, n] = x.shape as [number, number];
    stridedCopy(x, packed, { shape: [F, n, P, Dp], srcStrides: contiguousStrides([F, n, P, Dp]), dstStrides: [n * Dp, Dp, total, 1], dstOffset: offsets[i] }, 'ulysses_pack');
  });
  const recv = P === 1 ? packed : await sh.stager.allToAll(packed, label);
  if (recv !== packed) packed.dispose();
  const out = xs.map((x, i) => {
    const [F, n] = x.shape as [number, number];
    const o = T.empty(x.device, [F, P * n, Dp], 'f32', 'sp heads');
    return stridedCopy(recv, o, { shape: [F, P, n, Dp], srcStrides: [n * Dp, total, Dp, 1], srcOffset: offsets[i], dstStrides: contiguousStrides([F, P, n, Dp]) }, 'ulysses_unpack');
  });
  recv.dispose();
  return out;
}

/** Inverse of sequenceToHeads: xs[i] [F, P*n_i, D/P] -> [F, n_i, D] (this rank's rows, all heads). Its backward is sequenceToHeads. */
export async function headsToSequence(sh: SpShards, xs: readonly Tensor[], label: string): Promise<Tensor[]> {
  const P = sh.P;
  const Dp = xs[0]!.shape[2]!;
  const { offsets, total } = packing(xs.map((x) => x.numel));
  const seg = total / P;
  const packed = T.empty(xs[0]!.device, [P, seg], 'f32', 'sp a2a send');
  xs.forEach((x, i) => {
    const F = x.shape[0]!;
    const n = x.shape[1]! / P;
    stridedCopy(x, packed, { shape: [F, P, n, Dp], srcStrides: contiguousStrides([F, P, n, Dp]), dstStrides: [n * Dp, seg, Dp, 1], dstOffset: offsets[i]! / P }, 'ulysses_pack');
  });
  const recv = P === 1 ? packed : await sh.stager.allToAll(packed, label);
  if (recv !== packed) packed.dispose();
  const out = xs.map((x, i) => {
    const F = x.shape[0]!;
    const n = x.shape[1]! / P;
    const o = T.empty(x.device, [F, n, P * Dp], 'f32', 'sp rows');
    return stridedCopy(recv, o, { shape: [F, n, P, Dp], srcStrides: [n * Dp, Dp, seg, 1], srcOffset: offsets[i]! / P, dstStrides: contiguousStrides([F, n, P, Dp]) }, 'ulysses_unpack');
  });
  recv.dispose();
  return out;
}

/** Tracks temporaries of one call; free() disposes them. */
class Temps {
  private readonly list: Tensor[] = [];
  t = <X extends Tensor>(x: X): X => { this.list.push(x); return x; };
  free(): void { for (const x of this.list) x.dispose(); this.list.length = 0; }
}

/** The seven projections on local rows: visual [F, nL, D], text [F, nT, D]. */
interface LocalProj { qv: Tensor; kv: Tensor; vv: Tensor; qxv: Tensor; cq: Tensor; ck: Tensor; cv: Tensor }

/** Gradients the core hands back on local rows: visual dq, dk, dv, dqx [F, nL, D]; text dcq, dck, dcv [F, nT, D]. */
interface CoreGrads { dqV: Tensor; dkV: Tensor; dvV: Tensor; dqxV: Tensor; dcq: Tensor; dck: Tensor; dcv: Tensor }

/** Ulysses core: sequence -> heads, the two attentions on H/P heads, heads -> sequence. Returns local rows oL, oxL. */
async function ulyssesCore(pr: LocalProj, F: number, heads: number, sh: SpShards, t: Temps['t']): Promise<{ oL: Tensor; oxL: Tensor; core: CoreSaved }> {
  const { P, vis, txt } = sh;
  const Hp = heads / P;
  const L = vis.n, Tn = txt.n;
  const hs7 = await sequenceToHeads(sh, [pr.qv, pr.kv, pr.vv, pr.qxv, pr.cq, pr.ck, pr.cv], 'sp attention seq->heads');
  hs7.forEach(t);
  const [qS, kS, vS, qxS, cqS, ckS, cvS] = hs7 as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  const unV = (z: Tensor) => t(slice(z, 1, 0, L));
  const unT = (z: Tensor) => t(slice(z, 1, 0, Tn));
  const cqJ = unT(cqS), ckJ = unT(ckS), cvJ = unT(cvS);
  const q = concat([unV(qS), cqJ], 1), k = concat([unV(kS), ckJ], 1), v = concat([unV(vS), cvJ], 1);
  const lse = T.empty(q.device, [F, Hp, L + Tn], 'f32', 'sp spatial lse');
  const o = attention(q, k, v, { heads: Hp, lse });
  const qx = concat([unV(qxS), cqJ], 1);
  const k0 = slice(ckJ, 0, 0, 1), v0 = slice(cvJ, 0, 0, 1);
  const lsex = T.empty(q.device, [F, Hp, L + Tn], 'f32', 'sp cross lse');
  const ox = attention(qx, k0, v0, { heads: Hp, lse: lsex });
  const repad = (z: Tensor, from: number, to: number, s: TokenShard) => t(padAxis(t(slice(z, 1, from, to)), 1, s.padded));
  const back4 = await headsToSequence(sh, [repad(o, 0, L, vis), repad(o, L, L + Tn, txt), repad(ox, 0, L, vis), repad(ox, L, L + Tn, txt)], 'sp attention heads->seq');
  back4.forEach(t);
  const [oV, oT, oxV, oxT] = back4 as [Tensor, Tensor, Tensor, Tensor];
  return { oL: t(concat([oV, oT], 1)), oxL: concat([oxV, oxT], 1), core: { kind: 'ulysses', q, k, v, o, lse, qx, k0, v0, ox, lsex } };
}

/** Ulysses core backward: output gradients rows -> heads, attentionBackward, dq/dk/dv heads -> rows. */
async function ulyssesCoreBackward(c: CoreSaved, dOL: Tensor, dOxL: Tensor, F: number, heads: number, sh: SpShards, t: Temps['t']): Promise<CoreGrads> {
  const { P, vis, txt } = sh;
  const Hp = heads / P;
  const nL = vis.per, nT = txt.per, L = vis.n, Tn = txt.n;
  const rowsV = (z: Tensor) => t(slice(z, 1, 0, nL));
  const rowsT = (z: Tensor) => t(slice(z, 1, nL, nL + nT));
  const h4 = await sequenceToHeads(sh, [rowsV(dOL), rowsT(dOL), rowsV(dOxL), rowsT(dOxL)], 'sp attention backward seq->heads');
  h4.forEach(t);
  const [dOV, dOT, dOxV, dOxT] = h4 as [Tensor, Tensor, Tensor, Tensor];
  const joint = (a: Tensor, b: Tensor) => t(concat([t(slice(a, 1, 0, L)), t(slice(b, 1, 0, Tn))], 1));
  const ag = attentionBackward(c.q, c.k, c.v, joint(dOV, dOT), { heads: Hp, out: c.o, lse: c.lse });
  const ax = attentionBackward(c.qx, c.k0, c.v0, joint(dOxV, dOxT), { heads: Hp, out: c.ox, lse: c.lsex });
  [ag.dq, ag.dk, ag.dv, ax.dq, ax.dk, ax.dv].forEach(t);
  // In the head split: the text rows' gradients of cq (spatial + cross queries), ck, cv (spatial + frame 0's cross K/V).
  const visH = (z: Tensor) => t(padAxis(t(slice(z, 1, 0, L)), 1, vis.padded));
  const txtH = (z: Tensor) => t(padAxis(z, 1, txt.padded));
  const textOf = (z: Tensor) => t(slice(z, 1, L, L + Tn));
  const dcq = t(add(textOf(ag.dq), textOf(ax.dq)));
  const dck = t(add(textOf(ag.dk), t(padAxis(ax.dk, 0, F))));
  const dcv = t(add(textOf(ag.dv), t(padAxis(ax.dv, 0, F))));
  const r7 = await headsToSequence(sh, [visH(ag.dq), visH(ag.dk), visH(ag.dv), visH(ax.dq), txtH(dcq), txtH(dck), txtH(dcv)], 'sp attention backward heads->seq');
  r7.forEach(t);
  const [dqV, dkV, dvV, dqxV, dcqR, dckR, dcvR] = r7 as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  return { dqV, dkV, dvV, dqxV, dcq: dcqR, dck: dckR, dcv: dcvR };
}

/**
 * K/V all-gather core (H % P != 0, inference's fallback): this rank's k, v, ck, cv rows all-gathered into the joint
 * keys/values [F, L+T, D] (padding dropped); the local query rows [q ; cq] attend with all H heads.
 */
async function kvCore(pr: LocalProj, F: number, heads: number, sh: SpShards, t: Temps['t']): Promise<{ oL: Tensor; oxL: Tensor; core: CoreSaved }> {
  const { vis, txt } = sh;
  const L = vis.n, Tn = txt.n;
  const D = pr.kv.shape[2]!;
  const kvs = [pr.kv, pr.vv, pr.ck, pr.cv];
  const { offsets, total } = packing(kvs.map((z) => z.numel));
  const packed = t(T.empty(pr.kv.device, [total], 'f32', 'sp kv gather send'));
  kvs.forEach((z, i) => stridedCopy(z, packed, { shape: [z.numel], srcStrides: [1], dstStrides: [1], dstOffset: offsets[i] }, 'kv_pack'));
  const recv = t(await sh.stager.allGather(packed, 'sp kv all-gather')); // [P, total]
  const jointOf = (vi: number, ti: number, label: string) => {
    const out = T.empty(recv.device, [F, L + Tn, D], 'f32', label);
    unpackGathered(recv, total, offsets[vi]!, vis, out, 0);
    unpackGathered(recv, total, offsets[ti]!, txt, out, L);
    return out;
  };
  const k = jointOf(0, 2, 'sp gathered keys'), v = jointOf(1, 3, 'sp gathered values');
  const nQ = vis.per + txt.per;
  const q = concat([pr.qv, pr.cq], 1);
  const lse = T.empty(q.device, [F, heads, nQ], 'f32', 'sp spatial lse');
  const o = attention(q, k, v, { heads, lse });
  const frame0Text = (z: Tensor) => slice(t(slice(z, 0, 0, 1)), 1, L, L + Tn); // [1, T, D]
  const k0 = frame0Text(k), v0 = frame0Text(v);
  const qx = concat([pr.qxv, pr.cq], 1);
  const lsex = T.empty(q.device, [F, heads, nQ], 'f32', 'sp cross lse');
  const ox = attention(qx, k0, v0, { heads, lse: lsex });
  // oL, oxL are the saved o, ox themselves (local rows already; disposing twice is harmless).
  return { oL: o, oxL: ox, core: { kind: 'kv-allgather', q, k, v, o, lse, qx, k0, v0, ox, lsex } };
}

/**
 * The backward of the all-gather: xs[i] [F, P*per_i, D] (this rank's contribution to every rank's rows, padded) ->
 * [F, per_i, D], the P contributions to this rank's rows summed in rank order (an all-to-all, then adds).
 */
async function reduceScatterRows(sh: SpShards, xs: readonly Tensor[], label: string, t: Temps['t']): Promise<Tensor[]> {
  const P = sh.P;
  const D = xs[0]!.shape[2]!;
  const { offsets, total } = packing(xs.map((x) => x.numel / P));
  const packed = t(T.empty(xs[0]!.device, [P, total], 'f32', 'sp reduce-scatter send'));
  xs.forEach((x, i) => {
    const F = x.shape[0]!;
    const per = x.shape[1]! / P;
    stridedCopy(x, packed, { shape: [F, P, per, D], srcStrides: contiguousStrides([F, P, per, D]), dstStrides: [per * D, total, D, 1], dstOffset: offsets[i] }, 'rs_pack');
  });
  const recv = t(await sh.stager.allToAll(packed, label));
  return xs.map((x, i) => {
    const F = x.shape[0]!;
    const per = x.shape[1]! / P;
    const part = (q: number) => stridedCopy(recv, T.empty(x.device, [F, per, D], 'f32', 'sp rs part'), { shape: [F, per, D], srcStrides: [per * D, D, 1], srcOffset: q * total + offsets[i]!, dstStrides: contiguousStrides([F, per, D]) }, 'rs_unpack');
    let acc = part(0);
    for (let q = 1; q < P; q++) {
      const pq = part(q);
      const sum = add(acc, pq);
      acc.dispose(); pq.dispose();
      acc = sum;
    }
    return t(acc);
  });
}

/** K/V all-gather core backward: attentionBackward on the local queries; dK, dV reduce-scattered back to their rows. */
async function kvCoreBackward(c: CoreSaved, dOL: Tensor, dOxL: Tensor, F: number, heads: number, sh: SpShards, t: Temps['t']): Promise<CoreGrads> {
  const { vis, txt } = sh;
  const nL = vis.per, nT = txt.per, L = vis.n, Tn = txt.n;
  const ag = attentionBackward(c.q, c.k, c.v, dOL, { heads, out: c.o, lse: c.lse });
  const ax = attentionBackward(c.qx, c.k0, c.v0, dOxL, { heads, out: c.ox, lse: c.lsex });
  [ag.dq, ag.dk, ag.dv, ax.dq, ax.dk, ax.dv].forEach(t);
  const rowsV = (z: Tensor) => t(slice(z, 1, 0, nL));
  const rowsT = (z: Tensor) => t(slice(z, 1, nL, nL + nT));
  const dcq = t(add(rowsT(ag.dq), rowsT(ax.dq)));
  // This rank's contributions to every rank's key/value rows: visual [F, L, D]; text [F, T, D] with frame 0's cross part.
  const visAll = (z: Tensor) => t(padAxis(t(slice(z, 1, 0, L)), 1, vis.padded));
  const txtAll = (z: Tensor, d0: Tensor) => t(padAxis(t(add(t(slice(z, 1, L, L + Tn)), t(padAxis(d0, 0, F)))), 1, txt.padded));
  const [dkV, dvV, dck, dcv] = await reduceScatterRows(sh, [visAll(ag.dk), visAll(ag.dv), txtAll(ag.dk, ax.dk), txtAll(ag.dv, ax.dv)], 'sp kv reduce-scatter', t) as [Tensor, Tensor, Tensor, Tensor];
  return { dqV: rowsV(ag.dq), dkV, dvV, dqxV: rowsV(ax.dq), dcq, dck, dcv };
}

/**
 * The forward on local rows x [F, nL, D], c [F, nT, D] (this rank's shares, padding rows zero): local visual [F, nL, D]
 * and text [F, nT, D] outputs (padding rows are garbage; their gradients must be zero) plus the saved activations.
 */
export async function spAttnForward(x: Tensor, c: Tensor, p: AttnParams, heads: number, sh: SpShards): Promise<{ visual: Tensor; text: Tensor; saved: SpAttnSaved }> {
  const [F, nL, D] = x.shape as [number, number, number];
  const nT = c.shape[1]!;
  const { vis, txt } = sh;
  if (nL !== vis.per || nT !== txt.per || c.shape[0] !== F) {
    throw new Error(`sequence-parallel attention: local rows x [${x.shape.join(', ')}] / c [${c.shape.join(', ')}] must be [F, ${vis.per}, D] / [F, ${txt.per}, D] (this rank's shares)`);
  }
  const tmp = new Temps();
  const t = tmp.t;
  try {
    const cq = t(linear(c, p.waq, p.baq)), ck = t(linear(c, p.wak, p.bak)), cv = t(linear(c, p.wav, p.bav));
    const pr = { qv: t(linear(x, p.wq, p.bq)), kv: t(linear(x, p.wk, p.bk)), vv: t(linear(x, p.wv, p.bv)), qxv: t(linear(x, p.wqx, p.bqx)), cq, ck, cv };
    const { oL, oxL, core } = await (spAttentionExchange(heads, sh.P) === 'ulysses' ? ulyssesCore : kvCore)(pr, F, heads, sh, t);
    // Hs = 1.1 S + to_out_context(X) on the local rows.
    const so = t(scale(oL, SPATIAL_FACTOR));
    const hsL = t(linear(oxL, p.wctx, p.bctx, { residual: { x: so } }));
    const hv = slice(hsL, 1, 0, nL), ht = slice(hsL, 1, nL, nL + nT);
    // Temporal (per token position): local, as attnForward.
    const hd = D / heads;
    const frames = Array.from({ length: F }, (_, f) => f);
    const joint = (w: Tensor, b: Tensor, tt: Tensor): Tensor => concat([t(linear(x, w, b)), tt], 1);
    const ropeF = (z: Tensor) => rope(t(z), { headDim: hd, positions: frames, axis: 0, theta: TEMPORAL_ROPE_THETA });
    const qt = ropeF(joint(p.wqt, p.bqt, cq)), kt = ropeF(joint(p.wkt, p.bkt, ck)), vt = joint(p.wvt, p.bvt, cv);
    const ot = T.empty(x.device, [F, nL + nT, D], 'f32', 'sp temporal out');
    const lset = T.empty(x.device, [nL + nT, heads, F], 'f32', 'sp temporal lse');
    attention(temporalView(qt), temporalView(kt), temporalView(vt), { heads, headDim: hd, out: temporalView(ot), lse: lset });
    const tf = F === 1 ? 0 : 1;
    const yv = t(linear(t(slice(ot, 1, 0, nL)), p.wot, p.bot)), yt = t(linear(t(slice(ot, 1, nL, nL + nT)), p.waot, p.baot));
    const yvs = t(scale(yv, tf)), yts = t(scale(yt, tf));
    const visual = linear(hv, p.wo, p.bo, { residual: { x: yvs } });
    const text = linear(ht, p.wao, p.bao, { residual: { x: yts } });
    return { visual, text, saved: { sh, F, D, heads, x, c, params: p, core, oxL, qt, kt, vt, ot, lset, tf, hv, ht } };
  } finally {
    tmp.free();
  }
}

export function disposeSpAttnSaved(s: SpAttnSaved): void {
  const c = s.core;
  for (const t of [c.q, c.k, c.v, c.o, c.lse, c.qx, c.k0, c.v0, c.ox, c.lsex, s.oxL, s.qt, s.kt, s.vt, s.ot, s.lset, s.hv, s.ht]) t.dispose();
}

/**
 * The backward for local dVisual [F, nL, D] and dText [F, nT, D] (zero on padding rows): local dx, dc and this
 * rank's share of every parameter gradient (summed over the SP group they give the whole sequence's).
 */
export async function spAttnBackward(s: SpAttnSaved, dVisual: Tensor, dText: Tensor): Promise<AttnGrads> {
  const { F, D, heads, params: p, sh } = s;
  const nL = sh.vis.per, nT = sh.txt.per;
  if (dVisual.shape.join(',') !== `${F},${nL},${D}` || dText.shape.join(',') !== `${F},${nT},${D}`) {
    throw new Error(`sequence-parallel attention backward: dVisual [${dVisual.shape.join(', ')}] / dText [${dText.shape.join(', ')}] must be [${F}, ${nL}, ${D}] / [${F}, ${nT}, ${D}]`);
  }
  const tmp = new Temps();
  const t = tmp.t;
  try {
    const lo = linearBackward(s.hv, p.wo, dVisual);
    const lt = linearBackward(s.ht, p.wao, dText);
    const dhs = t(concat([t(lo.dx), t(lt.dx)], 1));
    const dO = t(scale(dhs, SPATIAL_FACTOR));
    const lc = linearBackward(s.oxL, p.wctx, dhs);
    t(lc.dx);
    const cg = await (s.core.kind === 'ulysses' ? ulyssesCoreBackward : kvCoreBackward)(s.core, dO, lc.dx, F, heads, sh, t);
    // Temporal: local, as attnBackward.
    const rowsV = (z: Tensor) => t(slice(z, 1, 0, nL));
    const rowsT = (z: Tensor) => t(slice(z, 1, nL, nL + nT));
    const dVs = t(scale(dVisual, s.tf)), dTs = t(scale(dText, s.tf));
    const otv = t(slice(s.ot, 1, 0, nL)), ott = t(slice(s.ot, 1, nL, nL + nT));
    const lot = linearBackward(otv, p.wot, dVs), ltt = linearBackward(ott, p.waot, dTs);
    const dot = t(concat([t(lot.dx), t(ltt.dx)], 1));
    const hd = D / heads;
    const dqr = t(T.empty(s.x.device, [F, nL + nT, D], 'f32', 'sp temporal dq')), dkr = t(T.empty(s.x.device, [F, nL + nT, D], 'f32', 'sp temporal dk'));
    const dvt = t(T.empty(s.x.device, [F, nL + nT, D], 'f32', 'sp temporal dv'));
    attentionBackward(temporalView(s.qt), temporalView(s.kt), temporalView(s.vt), temporalView(dot), {
      heads, headDim: hd, out: temporalView(s.ot), lse: s.lset, dq: temporalView(dqr), dk: temporalView(dkr), dv: temporalView(dvt),
    });
    const frames = Array.from({ length: F }, (_, f) => f);
    const ropeOpts = { headDim: hd, positions: frames, axis: 0, theta: TEMPORAL_ROPE_THETA };
    const dqt = t(ropeBackward(dqr, ropeOpts)), dkt = t(ropeBackward(dkr, ropeOpts));
    const g = {
      dwo: lo.dw, dbo: lo.db!, dwao: lt.dw, dbao: lt.db!, dwctx: lc.dw, dbctx: lc.db!, dwot: lot.dw, dbot: lot.db!, dwaot: ltt.dw, dbaot: ltt.db!,
    } as Partial<AttnGrads>;
    const dxs: Tensor[] = [], dcs: Tensor[] = [];
    const back = (inp: Tensor, dy: Tensor, w: AttnParamName, b: AttnParamName) => {
      const gr = linearBackward(inp, p[w], dy);
      g[`d${w}`] = gr.dw; g[`d${b}`] = gr.db!;
      (inp === s.x ? dxs : dcs).push(t(gr.dx));
    };
    back(s.x, cg.dqV, 'wq', 'bq');
    back(s.x, cg.dkV, 'wk', 'bk');
    back(s.x, cg.dvV, 'wv', 'bv');
    back(s.x, cg.dqxV, 'wqx', 'bqx');
    back(s.x, rowsV(dqt), 'wqt', 'bqt');
    back(s.x, rowsV(dkt), 'wkt', 'bkt');
    back(s.x, rowsV(dvt), 'wvt', 'bvt');
    back(s.c, t(add(cg.dcq, rowsT(dqt))), 'waq', 'baq');
    back(s.c, t(add(cg.dck, rowsT(dkt))), 'wak', 'bak');
    back(s.c, t(add(cg.dcv, rowsT(dvt))), 'wav', 'bav');
    const sumAll = (ts: Tensor[]): Tensor => ts.slice(1).reduce((acc, z, i) => { const r = add(acc, z); if (i) acc.dispose(); return r; }, ts[0]!);
    g.dx = sumAll(dxs);
    g.dc = sumAll(dcs);
    return g as AttnGrads;
  } finally {
    tmp.free();
  }
}
