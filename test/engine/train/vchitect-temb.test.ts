// tembForward / tembBackward and adaLnForward / adaLnBackward (engine/train/vchitect-temb.ts) against float64 references
// written here from the op references (timestepEmbeddingRef, linearRef with the SiLU epilogue); their analytic backwards,
// composed of linearBackwardRef and siluGradRef, are checked by central finite differences for every input and
// parameter; the temb reference is also checked against the model reference vchitectTemb64 (names and layout). Then
// the GPU against them on awkward shapes, f32; two backward runs are bit-identical; bad arguments name the problem.
import { describe, expect, it } from 'vitest';
import { siluGradRef, siluRef } from '../../../engine/ops/elementwise.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { timestepEmbeddingRef } from '../../../engine/ops/timestep-embedding.ref.js';
import { tensor64, type Tensor64 } from '../../../engine/reference/tensor64.js';
import { vchitectTemb64 } from '../../../engine/reference/vchitect.js';
import type { Tensor } from '../../../engine/tensor.js';
import {
  adaLnBackward, adaLnForward, disposeAdaLnSaved, disposeTembSaved, TEMB_PREFIX, tembBackward, tembForward, type TembParams,
} from '../../../engine/train/vchitect-temb.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();

// ---- temb path -------------------------------------------------------------------------------------------------

const TNAMES = ['pooled', 'tw1', 'tb1', 'tw2', 'tb2', 'pw1', 'pb1', 'pw2', 'pb2'] as const;
type TName = (typeof TNAMES)[number];
type TInputs = Record<TName, Float64Array>;
interface TDims { B: number; D: number; P: number; S: number }

function tInputs(d: TDims, seed: number): TInputs {
  const { B, D, P, S } = d;
  return {
    pooled: normal(B * P, seed),
    tw1: normal(D * S, seed + 1, 1 / Math.sqrt(S)), tb1: normal(D, seed + 2, 0.3),
    tw2: normal(D * D, seed + 3, 1 / Math.sqrt(D)), tb2: normal(D, seed + 4, 0.3),
    pw1: normal(D * P, seed + 5, 1 / Math.sqrt(P)), pb1: normal(D, seed + 6, 0.3),
    pw2: normal(D * D, seed + 7, 1 / Math.sqrt(D)), pb2: normal(D, seed + 8, 0.3),
  };
}

/** Float64 forward; `sin` overrides the sinusoid of the timesteps (the GPU's own, once checked against the reference). */
function temb64(p: TInputs, d: TDims, ts: ArrayLike<number>, sin = timestepEmbeddingRef(ts, d.S)) {
  const { B, D, P, S } = d;
  const at = linearRef({ x: sin, w: p.tw1, bias: p.tb1, M: B, K: S, N: D, epilogue: 'silu' });
  const tTerm = linearRef({ x: at, w: p.tw2, bias: p.tb2, M: B, K: D, N: D });
  const ap = linearRef({ x: p.pooled, w: p.pw1, bias: p.pb1, M: B, K: P, N: D, epilogue: 'silu' });
  const out = linearRef({ x: ap, w: p.pw2, bias: p.pb2, M: B, K: D, N: D, residual: tTerm });
  return { out, sin, at, ap };
}

/** Float64 analytic backward from linearBackwardRef (the sinusoid has no gradient). */
function tembBackward64(p: TInputs, d: TDims, ts: ArrayLike<number>, dOut: Float64Array, sin?: Float64Array): TInputs {
  const { B, D, P, S } = d;
  const f = temb64(p, d, ts, sin);
  const t2 = linearBackwardRef({ x: f.at, w: p.tw2, bias: p.tb2, M: B, K: D, N: D }, dOut);
  const t1 = linearBackwardRef({ x: f.sin, w: p.tw1, bias: p.tb1, M: B, K: S, N: D, epilogue: 'silu' }, t2.dx);
  const x2 = linearBackwardRef({ x: f.ap, w: p.pw2, bias: p.pb2, M: B, K: D, N: D }, dOut);
  const x1 = linearBackwardRef({ x: p.pooled, w: p.pw1, bias: p.pb1, M: B, K: P, N: D, epilogue: 'silu' }, x2.dx);
  return { pooled: x1.dx, tw1: t1.dw, tb1: t1.db, tw2: t2.dw, tb2: t2.db, pw1: x1.dw, pb1: x1.db, pw2: x2.dw, pb2: x2.db };
}

// ---- adaLN projections -----------------------------------------------------------------------------------------

interface ADims { B: number; D: number; chunks: number[] }
interface AInputs { temb: Float64Array; w: Float64Array[]; b: Float64Array[] }

function aInputs(d: ADims, seed: number): AInputs {
  return {
    temb: normal(d.B * d.D, seed, 1.5),
    w: d.chunks.map((n, i) => normal(n * d.D * d.D, seed + 10 + i, 1 / Math.sqrt(d.D))),
    b: d.chunks.map((n, i) => normal(n * d.D, seed + 20 + i, 0.3)),
  };
}

/** Float64 forward: every projection's [B, n*D] output, in order. */
function adaLn64(p: AInputs, d: ADims): Float64Array[] {
  const e = p.temb.map(siluRef);
  return d.chunks.map((n, i) => linearRef({ x: e, w: p.w[i]!, bias: p.b[i]!, M: d.B, K: d.D, N: n * d.D }));
}

const flat = (xs: Float64Array[]) => {
  const out = new Float64Array(xs.reduce((s, x) => s + x.length, 0));
  let at = 0;
  for (const x of xs) { out.set(x, at); at += x.length; }
  return out;
};

/** Float64 analytic backward: per-projection linearBackwardRef, their input gradients summed, then SiLU'. */
function adaLnBackward64(p: AInputs, d: ADims, dys: Float64Array[]) {
  const e = p.temb.map(siluRef);
  const de = new Float64Array(d.B * d.D);
  const dW: Float64Array[] = [], db: Float64Array[] = [];
  d.chunks.forEach((n, i) => {
    const l = linearBackwardRef({ x: e, w: p.w[i]!, bias: p.b[i]!, M: d.B, K: d.D, N: n * d.D }, dys[i]!);
    l.dx.forEach((v, k) => { de[k] += v; });
    dW.push(l.dw);
    db.push(l.db);
  });
  return { dtemb: de.map((g, k) => g * siluGradRef(p.temb[k]!)), dW, db };
}

describe('vchitect conditioning: float64 references', () => {
  it('temb: its analytic backward matches central finite differences for pooled and all four linears', () => {
    const d: TDims = { B: 2, D: 5, P: 3, S: 8 };
    const ts = [999, 37.5];
    const p = tInputs(d, 3);
    const dOut = normal(d.B * d.D, 77);
    const g = tembBackward64(p, d, ts, dOut);
    for (const n of TNAMES) expectGradient(n, p[n], (v) => temb64({ ...p, [n]: v }, d, ts).out, dOut, g[n], 1e-6);
  });

  it('temb: the reference is the model reference vchitectTemb64 (checkpoint names, layout, sinusoid 256)', () => {
    const d: TDims = { B: 1, D: 8, P: 5, S: 256 };
    const p = tInputs(d, 5);
    const w = new Map<string, Tensor64>();
    const put = (name: string, v: Float64Array, shape: number[]) => w.set(name, tensor64(shape, v));
    for (const [g, a, b] of [['timestep', 't', d.S], ['text', 'p', d.P]] as const) {
      put(`${TEMB_PREFIX[g]}.linear_1.weight`, p[`${a}w1`], [d.D, b]);
      put(`${TEMB_PREFIX[g]}.linear_1.bias`, p[`${a}b1`], [d.D]);
      put(`${TEMB_PREFIX[g]}.linear_2.weight`, p[`${a}w2`], [d.D, d.D]);
      put(`${TEMB_PREFIX[g]}.linear_2.bias`, p[`${a}b2`], [d.D]);
    }
    const cfg = { numLayers: 1, heads: 2, headDim: 4, patchSize: 2, inChannels: 4, outChannels: 4, posEmbedMaxSize: 4, jointAttentionDim: 8, pooledProjectionDim: d.P };
    const want = vchitectTemb64(w, cfg, 612.5, tensor64([1, d.P], p.pooled)).data;
    expectClose(temb64(p, d, [612.5]).out, want, { rtol: 1e-12, atol: 1e-12 }, 'temb');
  });

  it('adaLN: its analytic backward matches central finite differences for temb and every projection', () => {
    const d: ADims = { B: 2, D: 3, chunks: [6, 2, 6] };
    const p = aInputs(d, 9);
    const dys = d.chunks.map((n, i) => normal(d.B * n * d.D, 50 + i));
    const dy = flat(dys);
    const g = adaLnBackward64(p, d, dys);
    expectGradient('temb', p.temb, (v) => flat(adaLn64({ ...p, temb: v }, d)), dy, g.dtemb, 1e-6);
    d.chunks.forEach((_, i) => {
      expectGradient(`W${i}`, p.w[i]!, (v) => flat(adaLn64({ ...p, w: p.w.map((x, j) => (j === i ? v : x)) }, d)), dy, g.dW[i]!, 1e-6);
      expectGradient(`b${i}`, p.b[i]!, (v) => flat(adaLn64({ ...p, b: p.b.map((x, j) => (j === i ? v : x)) }, d)), dy, g.db[i]!, 1e-6);
    });
  });
});

function uploadTemb(p: TInputs, d: TDims, pooledShape: number[]) {
  const shapes: Record<TName, number[]> = {
    pooled: pooledShape, tw1: [d.D, d.S], tb1: [d.D], tw2: [d.D, d.D], tb2: [d.D], pw1: [d.D, d.P], pb1: [d.D], pw2: [d.D, d.D], pb2: [d.D],
  };
  const up = {} as Record<TName, { t: Tensor; stored: Float64Array }>;
  for (const n of TNAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
  const params: TembParams = {
    timestep: { w1: up.tw1.t, b1: up.tb1.t, w2: up.tw2.t, b2: up.tb2.t },
    text: { w1: up.pw1.t, b1: up.pb1.t, w2: up.pw2.t, b2: up.pb2.t },
  };
  const stored = Object.fromEntries(TNAMES.map((n) => [n, up[n].stored])) as TInputs;
  return { up, shapes, params, stored };
}

const tembGot = (g: ReturnType<typeof tembBackward>): Record<TName, Tensor> => ({
  pooled: g.dpooled, tw1: g.timestep.w1, tb1: g.timestep.b1, tw2: g.timestep.w2, tb2: g.timestep.b2,
  pw1: g.text.w1, pb1: g.text.b1, pw2: g.text.w2, pb2: g.text.b2,
});

const TCASES: (TDims & { ts: number[]; pooledShape: number[] })[] = [
  // The model's layout: one timestep, pooled [1, P], sinusoid 256.
  { B: 1, D: 12, P: 7, S: 256, ts: [999], pooledShape: [1, 7] },
  // Three items (one timestep each), odd widths.
  { B: 3, D: 20, P: 9, S: 256, ts: [0, 371.25, 880.5], pooledShape: [3, 9] },
];

describe('vchitect temb path on the GPU (f32)', () => {
  for (const c of TCASES) {
    it(`B ${c.B}, D ${c.D}, pooled [${c.pooledShape.join(', ')}], timesteps ${c.ts.join(', ')}`, async () => {
      const p = tInputs(c, 31 + c.B);
      const { up, shapes, params, stored } = uploadTemb(p, c, c.pooledShape);
      const ts = upload(device, Float64Array.from(c.ts), [c.B], 'f32');
      const dOut = upload(device, normal(c.B * c.D, 8), [c.B, c.D], 'f32');

      const { temb, saved } = tembForward(ts.t, up.pooled.t, params);
      expect(temb.shape).toEqual([c.B, c.D]);
      // The sinusoid is the timestep-embedding op's (its own tolerance, test/engine/ops/timestep-embedding.test.ts);
      // the rest of the path is checked at f32 tolerance from the GPU's sinusoid.
      const sin = Float64Array.from(await saved.tSin.read());
      expectClose(sin, timestepEmbeddingRef(ts.stored, c.S), { rtol: 0, atol: 3e-4 }, 'sinusoid');
      const t = tol('f32', Math.sqrt(c.S));
      expectClose(await temb.read(), temb64(stored, c, ts.stored, sin).out, t, 'temb');

      const g = tembBackward(saved, dOut.t);
      const want = tembBackward64(stored, c, ts.stored, dOut.stored, sin);
      const got = tembGot(g);
      for (const n of TNAMES) {
        expect(got[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(got[n].dtype, `d${n} dtype`).toBe('f32');
        expectClose(await got[n].read(), want[n], t, `d${n}`);
      }

      const again = tembGot(tembBackward(saved, dOut.t));
      for (const n of TNAMES) {
        expect(Buffer.from(await again[n].readRaw()).equals(Buffer.from(await got[n].readRaw())), `d${n} bit-identical`).toBe(true);
      }
      disposeTembSaved(saved);
      for (const x of [temb, ts.t, dOut.t, ...TNAMES.map((n) => up[n].t), ...Object.values(got), ...Object.values(again)]) x.dispose();
    });
  }
});

const ACASES: (ADims & { tembShape: number[]; asChunks: boolean[] })[] = [
  // One block of the model: temb [D], norm1.linear (6 chunks) and norm1_context.linear (6), chunk gradients.
  { B: 1, D: 12, chunks: [6, 6], tembShape: [12], asChunks: [true, true] },
  // Last block + final layer: norm1 (6), norm1_context (2), norm_out (2); per-item temb [3, D]; mixed gradient forms.
  { B: 3, D: 20, chunks: [6, 2, 2], tembShape: [3, 20], asChunks: [false, true, false] },
];

describe('vchitect adaLN projections on the GPU (f32)', () => {
  for (const c of ACASES) {
    it(`temb [${c.tembShape.join(', ')}], projections of ${c.chunks.join(', ')} chunks`, async () => {
      const { B, D } = c;
      const p = aInputs(c, 41 + B);
      const temb = upload(device, p.temb, c.tembShape, 'f32');
      const ws = c.chunks.map((n, i) => upload(device, p.w[i]!, [n * D, D], 'f32'));
      const bs = c.chunks.map((n, i) => upload(device, p.b[i]!, [n * D], 'f32'));
      const stored: AInputs = { temb: temb.stored, w: ws.map((x) => x.stored), b: bs.map((x) => x.stored) };
      const projections = ws.map((w, i) => ({ w: w.t, b: bs[i]!.t }));

      const { mods, saved } = adaLnForward(temb.t, projections);
      const ref = adaLn64(stored, c);
      const t = tol('f32', Math.sqrt(D));
      for (const [i, n] of c.chunks.entries()) {
        expect(mods[i]!.length).toBe(n);
        for (let j = 0; j < n; j++) {
          expect(mods[i]![j]!.shape).toEqual(c.tembShape);
          const want = new Float64Array(B * D);
          for (let b = 0; b < B; b++) want.set(ref[i]!.subarray(b * n * D + j * D, b * n * D + (j + 1) * D), b * D);
          expectClose(await mods[i]![j]!.read(), want, t, `projection ${i} chunk ${j}`);
        }
      }

      const dysData = c.chunks.map((n, i) => normal(B * n * D, 60 + i));
      const made: Tensor[] = [];
      const dmods = c.chunks.map((n, i) => {
        if (!c.asChunks[i]) { const x = upload(device, dysData[i]!, [B, n * D], 'f32').t; made.push(x); return x; }
        return Array.from({ length: n }, (_, j) => {
          const part = new Float64Array(B * D);
          for (let b = 0; b < B; b++) part.set(dysData[i]!.subarray(b * n * D + j * D, b * n * D + (j + 1) * D), b * D);
          const x = upload(device, part, c.tembShape, 'f32').t;
          made.push(x);
          return x;
        });
      });
      const dysStored = dysData.map((x) => Float64Array.from(x, Math.fround));
      const g = adaLnBackward(saved, dmods);
      const want = adaLnBackward64(stored, c, dysStored);
      expect(g.dtemb.shape).toEqual(c.tembShape);
      const tg = tol('f32', Math.sqrt(6 * D)); // the longest sum: dx over the n*D <= 6D outputs of a projection
      expectClose(await g.dtemb.read(), want.dtemb, tg, 'dtemb');
      for (const [i, n] of c.chunks.entries()) {
        expect(g.dW[i]!.shape).toEqual([n * D, D]);
        expect(g.db[i]!.shape).toEqual([n * D]);
        expect(g.dW[i]!.dtype).toBe('f32');
        expectClose(await g.dW[i]!.read(), want.dW[i]!, tg, `dW${i}`);
        expectClose(await g.db[i]!.read(), want.db[i]!, tg, `db${i}`);
      }

      const g2 = adaLnBackward(saved, dmods);
      const pairs: [Tensor, Tensor, string][] = [[g.dtemb, g2.dtemb, 'dtemb'], ...g.dW.map((x, i) => [x, g2.dW[i]!, `dW${i}`] as [Tensor, Tensor, string]), ...g.db.map((x, i) => [x, g2.db[i]!, `db${i}`] as [Tensor, Tensor, string])];
      for (const [a, b, name] of pairs) expect(Buffer.from(await b.readRaw()).equals(Buffer.from(await a.readRaw())), `${name} bit-identical`).toBe(true);
      disposeAdaLnSaved(saved);
      for (const x of [temb.t, ...ws.map((w) => w.t), ...bs.map((b) => b.t), ...mods.flat(), ...made, ...pairs.flatMap(([a, b]) => [a, b])]) x.dispose();
    });
  }
});

describe('vchitect conditioning: bad arguments', () => {
  it('names what is wrong', () => {
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const D = 8, P = 5, S = 16;
    const params: TembParams = { timestep: { w1: z([D, S]), b1: z([D]), w2: z([D, D]), b2: z([D]) }, text: { w1: z([D, P]), b1: z([D]), w2: z([D, D]), b2: z([D]) } };
    expect(() => tembForward(z([2]), z([3, P]), params)).toThrow(/pooled \[3, 5\] must be \[2, 5\]/);
    expect(() => tembForward(z([2, 1]), z([2, P]), params)).toThrow(/timesteps \[2, 1\] must be \[B\]/);
    expect(() => tembForward(z([2]), z([2, P]), { ...params, text: { ...params.text, w2: z([D, D + 1]) } })).toThrow(/text weights .* must be \[8, 5\], \[8\], \[8, 8\], \[8\]/);
    expect(() => tembForward(z([2]), z([2, P]), { ...params, timestep: { ...params.timestep, w1: z([D, 15]), } })).toThrow(/even sinusoid width/);
    const { temb, saved } = tembForward(z([2]), z([2, P]), params);
    made.push(temb);
    expect(() => tembBackward(saved, z([3, D]))).toThrow(/dTemb \[3, 8\] must have the forward's shape \[2, 8\]/);
    disposeTembSaved(saved);

    const proj = [{ w: z([6 * D, D]), b: z([6 * D]) }, { w: z([2 * D, D]), b: z([2 * D]) }];
    expect(() => adaLnForward(z([2, 3, D]), proj)).toThrow(/temb \[2, 3, 8\] must be \[B, D\] or \[D\]/);
    expect(() => adaLnForward(z([D]), [{ w: z([13, D]), b: z([13]) }])).toThrow(/projection 0 w \[13, 8\]/);
    const a = adaLnForward(z([D]), proj);
    made.push(...a.mods.flat());
    expect(() => adaLnBackward(a.saved, [z([6 * D])])).toThrow(/1 gradients for 2 projections/);
    expect(() => adaLnBackward(a.saved, [z([6 * D]), [z([D])]])).toThrow(/projection 1 needs 2 chunk gradients/);
    expect(() => adaLnBackward(a.saved, [z([5 * D]), z([2 * D])])).toThrow(/projection 0's gradient \[40\] must be \[1, 48\]/);
    disposeAdaLnSaved(a.saved);
    for (const t of made) t.dispose();
  });
});
