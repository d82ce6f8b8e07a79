// attnForward / attnBackward (engine/train/vchitect-attn.ts) against a float64 reference of the same
// function written here from the op references (linearRef, attentionRef); its analytic backward, composed of
// linearBackwardRef and attentionBackwardRef, is checked by central finite differences for every input and parameter
// (and its three attentions against vchitectAttention64's: sdpa64 for spatial and cross, fullTemporal64), then the GPU gradients are
// compared with it on awkward shapes, f32; two backward runs are bit-identical; bad arguments are named.
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionRef } from '../../../engine/ops/attention.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { ropeBackwardRef, ropeRef } from '../../../engine/ops/rope.ref.js';
import { sdpa64 } from '../../../engine/reference/tensor64.js';
import { VCHITECT_ROPE_THETA, VCHITECT_SPATIAL_FACTOR, fullTemporal64 } from '../../../engine/reference/vchitect.js';
import {
  ATTN_PARAMS, SPATIAL_FACTOR, TEMPORAL_ROPE_THETA, disposeAttnSaved, attnBackward, attnForward,
  type AttnParams,
} from '../../../engine/train/vchitect-attn.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();

const NAMES = ['x', 'c', ...ATTN_PARAMS] as const;
type Name = (typeof NAMES)[number];
type Inputs = Record<Name, Float64Array>;
interface Dims { F: number; L: number; T: number; D: number; heads: number }

function inputs(d: Dims, seed: number): Inputs {
  const { F, L, T, D } = d;
  const p = { x: normal(F * L * D, seed), c: normal(F * T * D, seed + 1) } as Inputs;
  ATTN_PARAMS.forEach((n, i) => {
    p[n] = n.startsWith('w') ? normal(D * D, seed + 2 + i, 1 / Math.sqrt(D)) : normal(D, seed + 2 + i, 0.3);
  });
  return p;
}

const std = (data: ArrayLike<number>, batch: number, seq: number, D: number) => ({ data, batch, seq, batchStride: seq * D, seqStride: D });

/** Joint rows per frame: visual rows of a then text rows of b. */
function joinRows(a: Float64Array, b: Float64Array, d: Dims): Float64Array {
  const { F, L, T, D } = d;
  const S = L + T;
  const j = new Float64Array(F * S * D);
  for (let f = 0; f < F; f++) {
    j.set(a.subarray(f * L * D, (f + 1) * L * D), f * S * D);
    j.set(b.subarray(f * T * D, (f + 1) * T * D), (f * S + L) * D);
  }
  return j;
}
function splitRows(j: Float64Array, d: Dims): [Float64Array, Float64Array] {
  const { F, L, T, D } = d;
  const S = L + T;
  const a = new Float64Array(F * L * D), b = new Float64Array(F * T * D);
  for (let f = 0; f < F; f++) {
    a.set(j.subarray(f * S * D, (f * S + L) * D), f * L * D);
    b.set(j.subarray((f * S + L) * D, (f + 1) * S * D), f * T * D);
  }
  return [a, b];
}

/** [A, B, D] -> [B, A, D]. */
function swap01(a: ArrayLike<number>, A: number, B: number, D: number): Float64Array {
  const o = new Float64Array(A * B * D);
  for (let i = 0; i < A; i++) for (let j = 0; j < B; j++) for (let e = 0; e < D; e++) o[(j * A + i) * D + e] = a[(i * B + j) * D + e]!;
  return o;
}
/** [F, S, D] seen as S sequences over the F frames. */
const temporal = (data: ArrayLike<number>, F: number, S: number, D: number) => ({ data, batch: S, seq: F, batchStride: D, seqStride: S * D });

/** Float64 forward: returns [visual ; text] flattened (visual first) and the intermediates. */
function attn64(p: Inputs, d: Dims) {
  const { F, L, T, D, heads } = d;
  const S = L + T;
  const lin = (x: Float64Array, w: Name, b: Name, M: number) => linearRef({ x, w: p[w], bias: p[b], M, K: D, N: D });
  const q = joinRows(lin(p.x, 'wq', 'bq', F * L), lin(p.c, 'waq', 'baq', F * T), d);
  const k = joinRows(lin(p.x, 'wk', 'bk', F * L), lin(p.c, 'wak', 'bak', F * T), d);
  const v = joinRows(lin(p.x, 'wv', 'bv', F * L), lin(p.c, 'wav', 'bav', F * T), d);
  const o = attentionRef(std(q, F, S, D), std(k, F, S, D), std(v, F, S, D), { heads, headDim: D / heads });
  const cq = lin(p.c, 'waq', 'baq', F * T);
  const qx = joinRows(lin(p.x, 'wqx', 'bqx', F * L), cq, d);
  const k0 = lin(p.c, 'wak', 'bak', F * T).slice(0, T * D), v0 = lin(p.c, 'wav', 'bav', F * T).slice(0, T * D);
  const ox = attentionRef(std(qx, F, S, D), std(k0, 1, T, D), std(v0, 1, T, D), { heads, headDim: D / heads });
  const cx = lin(ox, 'wctx', 'bctx', F * S);
  const hs = o.map((e, i) => e * SPATIAL_FACTOR + cx[i]!);
  const [hv, ht] = splitRows(hs, d);
  const hd = D / heads;
  const frames = Array.from({ length: F }, (_, f) => f);
  const rp = (a: Float64Array) => ropeRef(a, [F, S, D], hd, frames, 0, VCHITECT_ROPE_THETA);
  const qtp = joinRows(lin(p.x, 'wqt', 'bqt', F * L), cq, d), ktp = joinRows(lin(p.x, 'wkt', 'bkt', F * L), lin(p.c, 'wak', 'bak', F * T), d);
  const qt = rp(qtp), kt = rp(ktp), vt = joinRows(lin(p.x, 'wvt', 'bvt', F * L), lin(p.c, 'wav', 'bav', F * T), d);
  const ot = swap01(attentionRef(temporal(qt, F, S, D), temporal(kt, F, S, D), temporal(vt, F, S, D), { heads, headDim: hd }), S, F, D);
  const [otv, ott] = splitRows(ot, d);
  const tf = F === 1 ? 0 : 1;
  const yv = lin(otv, 'wot', 'bot', F * L), yt = lin(ott, 'waot', 'baot', F * T);
  const visual = lin(hv, 'wo', 'bo', F * L).map((e, i) => e + tf * yv[i]!);
  const text = lin(ht, 'wao', 'bao', F * T).map((e, i) => e + tf * yt[i]!);
  const out = new Float64Array(visual.length + text.length);
  out.set(visual); out.set(text, visual.length);
  return { out, visual, text, q, k, v, o, qx, k0, v0, ox, hv, ht, qtp, ktp, qt, kt, vt, ot, otv, ott, tf };
}

function attnBackward64(p: Inputs, d: Dims, dOut: Float64Array): Inputs {
  const { F, L, T, D, heads } = d;
  const S = L + T;
  const f = attn64(p, d);
  const dVis = dOut.subarray(0, F * L * D), dTxt = dOut.subarray(F * L * D);
  const lo = linearBackwardRef({ x: f.hv, w: p.wo, bias: p.bo, M: F * L, K: D, N: D }, dVis);
  const lt = linearBackwardRef({ x: f.ht, w: p.wao, bias: p.bao, M: F * T, K: D, N: D }, dTxt);
  const dhs = joinRows(lo.dx, lt.dx, d);
  const dO = dhs.map((e) => e * SPATIAL_FACTOR);
  const lc = linearBackwardRef({ x: f.ox, w: p.wctx, bias: p.bctx, M: F * S, K: D, N: D }, dhs);
  const ag = attentionBackwardRef(std(f.q, F, S, D), std(f.k, F, S, D), std(f.v, F, S, D), dO, { heads, headDim: D / heads });
  const ax = attentionBackwardRef(std(f.qx, F, S, D), std(f.k0, 1, T, D), std(f.v0, 1, T, D), lc.dx, { heads, headDim: D / heads });
  const g = { wo: lo.dw, bo: lo.db, wao: lt.dw, bao: lt.db, wctx: lc.dw, bctx: lc.db } as Partial<Inputs>;
  const dx = new Float64Array(F * L * D), dc = new Float64Array(F * T * D);
  const hd = D / heads;
  const frames = Array.from({ length: F }, (_, fr) => fr);
  const lot = linearBackwardRef({ x: f.otv, w: p.wot, bias: p.bot, M: F * L, K: D, N: D }, dVis.map((e) => e * f.tf));
  const ltt = linearBackwardRef({ x: f.ott, w: p.waot, bias: p.baot, M: F * T, K: D, N: D }, dTxt.map((e) => e * f.tf));
  Object.assign(g, { wot: lot.dw, bot: lot.db, waot: ltt.dw, baot: ltt.db });
  const dot = swap01(joinRows(lot.dx, ltt.dx, d), F, S, D);
  const at = attentionBackwardRef(temporal(f.qt, F, S, D), temporal(f.kt, F, S, D), temporal(f.vt, F, S, D), dot, { heads, headDim: hd });
  const rb = (a: Float64Array) => ropeBackwardRef(swap01(a, S, F, D), [F, S, D], hd, frames, 0, VCHITECT_ROPE_THETA);
  const dqt = rb(at.dq), dkt = rb(at.dk), dvt = swap01(at.dv, S, F, D);
  const [dqxx, dqxc] = splitRows(ax.dq, d);
  const [dqtx, dqtc] = splitRows(dqt, d), [dktx, dktc] = splitRows(dkt, d), [dvtx, dvtc] = splitRows(dvt, d);
  for (const [dj, w, b] of [[dqtx, 'wqt', 'bqt'], [dktx, 'wkt', 'bkt'], [dvtx, 'wvt', 'bvt']] as const) {
    const gr = linearBackwardRef({ x: p.x, w: p[w], bias: p[b], M: F * L, K: D, N: D }, dj);
    g[w] = gr.dw; g[b] = gr.db;
    gr.dx.forEach((e, i) => { dx[i] += e; });
  }
  const dkc0 = new Float64Array(F * T * D), dvc0 = new Float64Array(F * T * D);
  dkc0.set(ax.dk); dvc0.set(ax.dv);
  dqxc.forEach((_, i) => { dqxc[i] += dqtc[i]!; dkc0[i] += dktc[i]!; dvc0[i] += dvtc[i]!; });
  for (const [dj, w, b, wa, ba, extra] of [[ag.dq, 'wq', 'bq', 'waq', 'baq', dqxc], [ag.dk, 'wk', 'bk', 'wak', 'bak', dkc0], [ag.dv, 'wv', 'bv', 'wav', 'bav', dvc0]] as const) {
    const [djx, djc] = splitRows(dj, d);
    extra.forEach((e, i) => { djc[i] += e; });
    const gx = linearBackwardRef({ x: p.x, w: p[w], bias: p[b], M: F * L, K: D, N: D }, djx);
    const gc = linearBackwardRef({ x: p.c, w: p[wa], bias: p[ba], M: F * T, K: D, N: D }, djc);
    g[w] = gx.dw; g[b] = gx.db; g[wa] = gc.dw; g[ba] = gc.db;
    gx.dx.forEach((e, i) => { dx[i] += e; });
    gc.dx.forEach((e, i) => { dc[i] += e; });
  }
  const gq = linearBackwardRef({ x: p.x, w: p.wqx, bias: p.bqx, M: F * L, K: D, N: D }, dqxx);
  g.wqx = gq.dw; g.bqx = gq.db;
  gq.dx.forEach((e, i) => { dx[i] += e; });
  return { ...g, x: dx, c: dc } as Inputs;
}

describe('vchitect attention (spatial joint + frame-0 cross + temporal): float64 reference', () => {
  const d: Dims = { F: 2, L: 3, T: 2, D: 8, heads: 2 };
  it('its attentions match vchitectAttention64\'s (sdpa64 over [visual; text] per frame; cross against frame 0\'s text K/V; fullTemporal64; factor 1.1)', () => {
    expect(SPATIAL_FACTOR).toBe(VCHITECT_SPATIAL_FACTOR);
    expect(TEMPORAL_ROPE_THETA).toBe(VCHITECT_ROPE_THETA);
    const p = inputs(d, 5);
    const f = attn64(p, d);
    const S = d.L + d.T;
    for (let fr = 0; fr < d.F; fr++) {
      const view = (a: Float64Array) => ({ shape: [S, d.D], data: a.slice(fr * S * d.D, (fr + 1) * S * d.D) });
      const want = sdpa64(view(f.q), view(f.k), view(f.v), d.heads);
      expectClose(f.o.subarray(fr * S * d.D, (fr + 1) * S * d.D), want.data, { rtol: 1e-12, atol: 1e-12 }, `frame ${fr}`);
      const wantX = sdpa64(view(f.qx), { shape: [d.T, d.D], data: f.k0 }, { shape: [d.T, d.D], data: f.v0 }, d.heads);
      expectClose(f.ox.subarray(fr * S * d.D, (fr + 1) * S * d.D), wantX.data, { rtol: 1e-12, atol: 1e-12 }, `cross frame ${fr}`);
    }
    // Temporal: the model reference's own branch (per token position over the frames, RoPE on the frame index).
    const perFrame = (a: Float64Array) => Array.from({ length: d.F }, (_, fr) => ({ shape: [S, d.D], data: a.slice(fr * S * d.D, (fr + 1) * S * d.D) }));
    const wantT = fullTemporal64(perFrame(f.qtp), perFrame(f.ktp), perFrame(f.vt), d.heads);
    wantT.forEach((w, fr) => expectClose(f.ot.subarray(fr * S * d.D, (fr + 1) * S * d.D), w.data, { rtol: 1e-12, atol: 1e-12 }, `temporal frame ${fr}`));
  });
  it('its analytic backward matches central finite differences for every input and parameter', () => {
    const p = inputs(d, 11);
    const dOut = normal((d.F * (d.L + d.T)) * d.D, 99);
    const g = attnBackward64(p, d, dOut);
    for (const n of NAMES) expectGradient(n, p[n], (v) => attn64({ ...p, [n]: v }, d).out, dOut, g[n], 1e-6);
  });
});

const CASES: Dims[] = [
  { F: 2, L: 5, T: 3, D: 12, heads: 3 },
  { F: 3, L: 7, T: 4, D: 20, heads: 5 },
  { F: 1, L: 9, T: 6, D: 16, heads: 2 },
];

describe('vchitect attention (spatial joint + frame-0 cross + temporal) on the GPU (f32)', () => {
  for (const c of CASES) {
    it(`x [${c.F}, ${c.L}, ${c.D}], c [${c.F}, ${c.T}, ${c.D}], ${c.heads} heads`, async () => {
      const { F, L, T, D, heads } = c;
      const p = inputs(c, 31 + F);
      const shapes = Object.fromEntries(NAMES.map((n) => [n, n === 'x' ? [F, L, D] : n === 'c' ? [F, T, D] : n.startsWith('w') ? [D, D] : [D]])) as Record<Name, number[]>;
      const up = {} as Record<Name, { t: Tensor; stored: Float64Array }>;
      for (const n of NAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(NAMES.map((n) => [n, up[n].stored])) as Inputs;
      const params = Object.fromEntries(ATTN_PARAMS.map((n) => [n, up[n].t])) as AttnParams;
      const dOutData = normal(F * (L + T) * D, 7);
      const dVis = upload(device, dOutData.subarray(0, F * L * D), [F, L, D], 'f32');
      const dTxt = upload(device, dOutData.subarray(F * L * D), [F, T, D], 'f32');
      const dOutStored = new Float64Array(dOutData.length);
      dOutStored.set(dVis.stored); dOutStored.set(dTxt.stored, dVis.stored.length);

      const { visual, text, saved } = attnForward(up.x.t, up.c.t, params, heads);
      const ref = attn64(stored, c);
      const t = tol('f32', Math.sqrt(D * (L + T)));
      expect(visual.shape).toEqual([F, L, D]);
      expect(text.shape).toEqual([F, T, D]);
      expectClose(await visual.read(), ref.visual, t, 'visual');
      expectClose(await text.read(), ref.text, t, 'text');
      expectClose(await saved.o.read(), ref.o, t, 'saved attention output');
      expectClose(await saved.ox.read(), ref.ox, t, 'saved cross attention output');
      expectClose(await saved.ot.read(), ref.ot, t, 'saved temporal attention output');

      const g = attnBackward(saved, dVis.t, dTxt.t);
      const want = attnBackward64(stored, c, dOutStored);
      const got = (gr: typeof g) => Object.fromEntries(NAMES.map((n) => [n, gr[`d${n}` as keyof typeof gr]])) as Record<Name, Tensor>;
      const gg = got(g);
      for (const n of NAMES) {
        expect(gg[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(gg[n].dtype, `d${n} dtype`).toBe('f32');
        expectClose(await gg[n].read(), want[n], tol('f32', Math.sqrt(D * F * (L + T))), `d${n}`);
      }
      const again = got(attnBackward(saved, dVis.t, dTxt.t));
      for (const n of NAMES) {
        expect(Buffer.from(await again[n].readRaw()).equals(Buffer.from(await gg[n].readRaw())), `d${n} bit-identical`).toBe(true);
      }
      disposeAttnSaved(saved);
      for (const x of [visual, text, dVis.t, dTxt.t, ...NAMES.map((n) => up[n].t), ...Object.values(gg), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const D = 8;
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = Object.fromEntries(ATTN_PARAMS.map((n) => [n, z(n.startsWith('w') ? [D, D] : [D])])) as AttnParams;
    expect(() => attnForward(z([2, 4, D]), z([1, 3, D]), params, 2)).toThrow(/c \[1, 3, 8\] must be \[2, T, 8\]/);
    expect(() => attnForward(z([2, 4, D]), z([2, 3, D]), params, 3)).toThrow(/heads 3 must be a positive integer dividing D = 8/);
    expect(() => attnForward(z([2, 4, 6]), z([2, 3, 6]), params, 3)).toThrow(/wq \[8, 8\] must be \[6, 6\]/);
    const p6 = Object.fromEntries(ATTN_PARAMS.map((n) => [n, z(n.startsWith('w') ? [6, 6] : [6])])) as AttnParams;
    expect(() => attnForward(z([2, 4, 6]), z([2, 3, 6]), p6, 2)).toThrow(/head dim 3 \(D 6 \/ 2 heads\) must be even/);
    expect(() => attnForward(z([2, 4, D]), z([2, 3, D]), { ...params, wk: z([D, 4]) }, 2)).toThrow(/wk \[8, 4\] must be \[8, 8\]/);
    const { visual, text, saved } = attnForward(z([2, 4, D]), z([2, 3, D]), params, 2);
    made.push(visual, text);
    expect(() => attnBackward(saved, z([2, 5, D]), z([2, 3, D]))).toThrow(/dVisual \[2, 5, 8\] must be \[2, 4, 8\]/);
    expect(() => attnBackward(saved, z([2, 4, D]), z([2, 2, D]))).toThrow(/dText \[2, 2, 8\] must be \[2, 3, 8\]/);
    disposeAttnSaved(saved);
    for (const t of made) t.dispose();
  });
});
