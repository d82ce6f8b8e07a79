// frameAttnForward / frameAttnBackward (engine/train/vchitect-attn.ts) against a float64 reference of the same
// function written here from the op references (linearRef, attentionRef); its analytic backward, composed of
// linearBackwardRef and attentionBackwardRef, is checked by central finite differences for every input and parameter
// (and its attentions against vchitectAttention64's spatial and cross branches via sdpa64), then the GPU gradients are
// compared with it on awkward shapes, f32; two backward runs are bit-identical; bad arguments are named.
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionRef } from '../../../engine/ops/attention.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { sdpa64 } from '../../../engine/reference/tensor64.js';
import { VCHITECT_SPATIAL_FACTOR } from '../../../engine/reference/vchitect.js';
import {
  FRAME_ATTN_PARAMS, SPATIAL_FACTOR, disposeFrameAttnSaved, frameAttnBackward, frameAttnForward,
  type FrameAttnParams,
} from '../../../engine/train/vchitect-attn.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();

const NAMES = ['x', 'c', ...FRAME_ATTN_PARAMS] as const;
type Name = (typeof NAMES)[number];
type Inputs = Record<Name, Float64Array>;
interface Dims { F: number; L: number; T: number; D: number; heads: number }

function inputs(d: Dims, seed: number): Inputs {
  const { F, L, T, D } = d;
  const p = { x: normal(F * L * D, seed), c: normal(F * T * D, seed + 1) } as Inputs;
  FRAME_ATTN_PARAMS.forEach((n, i) => {
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
  const visual = lin(hv, 'wo', 'bo', F * L);
  const text = lin(ht, 'wao', 'bao', F * T);
  const out = new Float64Array(visual.length + text.length);
  out.set(visual); out.set(text, visual.length);
  return { out, visual, text, q, k, v, o, qx, k0, v0, ox, hv, ht };
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
  const [dqxx, dqxc] = splitRows(ax.dq, d);
  const dkc0 = new Float64Array(F * T * D), dvc0 = new Float64Array(F * T * D);
  dkc0.set(ax.dk); dvc0.set(ax.dv);
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

describe('vchitect per-frame attention (spatial joint + frame-0 cross): float64 reference', () => {
  const d: Dims = { F: 2, L: 3, T: 2, D: 6, heads: 2 };
  it('its attentions match vchitectAttention64\'s (sdpa64 over [visual; text] per frame; cross against frame 0\'s text K/V; factor 1.1)', () => {
    expect(SPATIAL_FACTOR).toBe(VCHITECT_SPATIAL_FACTOR);
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

describe('vchitect per-frame attention (spatial joint + frame-0 cross) on the GPU (f32)', () => {
  for (const c of CASES) {
    it(`x [${c.F}, ${c.L}, ${c.D}], c [${c.F}, ${c.T}, ${c.D}], ${c.heads} heads`, async () => {
      const { F, L, T, D, heads } = c;
      const p = inputs(c, 31 + F);
      const shapes = Object.fromEntries(NAMES.map((n) => [n, n === 'x' ? [F, L, D] : n === 'c' ? [F, T, D] : n.startsWith('w') ? [D, D] : [D]])) as Record<Name, number[]>;
      const up = {} as Record<Name, { t: Tensor; stored: Float64Array }>;
      for (const n of NAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(NAMES.map((n) => [n, up[n].stored])) as Inputs;
      const params = Object.fromEntries(FRAME_ATTN_PARAMS.map((n) => [n, up[n].t])) as FrameAttnParams;
      const dOutData = normal(F * (L + T) * D, 7);
      const dVis = upload(device, dOutData.subarray(0, F * L * D), [F, L, D], 'f32');
      const dTxt = upload(device, dOutData.subarray(F * L * D), [F, T, D], 'f32');
      const dOutStored = new Float64Array(dOutData.length);
      dOutStored.set(dVis.stored); dOutStored.set(dTxt.stored, dVis.stored.length);

      const { visual, text, saved } = frameAttnForward(up.x.t, up.c.t, params, heads);
      const ref = attn64(stored, c);
      const t = tol('f32', Math.sqrt(D * (L + T)));
      expect(visual.shape).toEqual([F, L, D]);
      expect(text.shape).toEqual([F, T, D]);
      expectClose(await visual.read(), ref.visual, t, 'visual');
      expectClose(await text.read(), ref.text, t, 'text');
      expectClose(await saved.o.read(), ref.o, t, 'saved attention output');
      expectClose(await saved.ox.read(), ref.ox, t, 'saved cross attention output');

      const g = frameAttnBackward(saved, dVis.t, dTxt.t);
      const want = attnBackward64(stored, c, dOutStored);
      const got = (gr: typeof g) => Object.fromEntries(NAMES.map((n) => [n, gr[`d${n}` as keyof typeof gr]])) as Record<Name, Tensor>;
      const gg = got(g);
      for (const n of NAMES) {
        expect(gg[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(gg[n].dtype, `d${n} dtype`).toBe('f32');
        expectClose(await gg[n].read(), want[n], tol('f32', Math.sqrt(D * F * (L + T))), `d${n}`);
      }
      const again = got(frameAttnBackward(saved, dVis.t, dTxt.t));
      for (const n of NAMES) {
        expect(Buffer.from(await again[n].readRaw()).equals(Buffer.from(await gg[n].readRaw())), `d${n} bit-identical`).toBe(true);
      }
      disposeFrameAttnSaved(saved);
      for (const x of [visual, text, dVis.t, dTxt.t, ...NAMES.map((n) => up[n].t), ...Object.values(gg), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const D = 8;
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = Object.fromEntries(FRAME_ATTN_PARAMS.map((n) => [n, z(n.startsWith('w') ? [D, D] : [D])])) as FrameAttnParams;
    expect(() => frameAttnForward(z([2, 4, D]), z([1, 3, D]), params, 2)).toThrow(/c \[1, 3, 8\] must be \[2, T, 8\]/);
    expect(() => frameAttnForward(z([2, 4, D]), z([2, 3, D]), params, 3)).toThrow(/heads 3 must be a positive integer dividing D = 8/);
    expect(() => frameAttnForward(z([2, 4, D]), z([2, 3, D]), { ...params, wk: z([D, 4]) }, 2)).toThrow(/wk \[8, 4\] must be \[8, 8\]/);
    const { visual, text, saved } = frameAttnForward(z([2, 4, D]), z([2, 3, D]), params, 2);
    made.push(visual, text);
    expect(() => frameAttnBackward(saved, z([2, 5, D]), z([2, 3, D]))).toThrow(/dVisual \[2, 5, 8\] must be \[2, 4, 8\]/);
    expect(() => frameAttnBackward(saved, z([2, 4, D]), z([2, 2, D]))).toThrow(/dText \[2, 2, 8\] must be \[2, 3, 8\]/);
    disposeFrameAttnSaved(saved);
    for (const t of made) t.dispose();
  });
});
