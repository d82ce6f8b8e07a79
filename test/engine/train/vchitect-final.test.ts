// finalForward / finalBackward (engine/train/vchitect-final.ts) against a float64 reference of the same function,
// written here from the op references (siluRef, linearRef, layerNormRef with the [scale | shift] modulation,
// unpatchifyRef) and checked once against the inference reference vchitectFinal64; its analytic backward, composed of
// the *BackwardRef functions, is checked by central finite differences for every input and parameter, then the GPU
// gradients are compared with it on awkward shapes, f32; two backward runs are bit-identical.
import { describe, expect, it } from 'vitest';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { siluGradRef, siluRef } from '../../../engine/ops/elementwise.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { layerNormBackwardRef, layerNormRef, type ModulationRef } from '../../../engine/ops/norm.ref.js';
import { unpatchifyBackwardRef, unpatchifyRef } from '../../../engine/ops/patch.ref.js';
import { vchitectFinal64, type VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { disposeFinalSaved, finalBackward, finalForward } from '../../../engine/train/vchitect-final.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
// A larger eps than the model's 1e-6 keeps the finite differences of the float64 reference well conditioned; the GPU
// cases use the model's own.
const FD_EPS = 1e-5;

const NAMES = ['X', 'temb', 'normW', 'normB', 'projW', 'projB'] as const;
type Name = (typeof NAMES)[number];
type Inputs = Record<Name, Float64Array>;
/** F frames of an h x w token grid, width D, patch P, C output channels. */
interface Dims { F: number; h: number; w: number; D: number; P: number; C: number }

function inputs(d: Dims, seed: number): Inputs {
  const { F, h, w, D, P, C } = d;
  const K = P * P * C;
  return {
    X: normal(F * h * w * D, seed, 1.5), temb: normal(D, seed + 1),
    normW: normal(2 * D * D, seed + 2, 0.5 / Math.sqrt(D)), normB: normal(2 * D, seed + 3, 0.3),
    projW: normal(K * D, seed + 4, 1 / Math.sqrt(D)), projB: normal(K, seed + 5, 0.3),
  };
}

/** Float64 forward, keeping what the analytic backward needs. */
function final64(p: Inputs, d: Dims, eps: number) {
  const { F, h, w, D, P, C } = d;
  const e = p.temb.map(siluRef);
  const m = linearRef({ x: e, w: p.normW, bias: p.normB, M: 1, K: D, N: 2 * D });
  const mod: ModulationRef = { scale: m, shift: m, items: 1, k: 2 * D, scaleOffset: 0, shiftOffset: D };
  const Y = layerNormRef(p.X, D, eps, undefined, undefined, mod);
  const y = linearRef({ x: Y, w: p.projW, bias: p.projB, M: F * h * w, K: D, N: P * P * C });
  return { out: unpatchifyRef(y, F, h, w, C, P), e, m, mod, Y };
}

/** Float64 analytic backward from the op backward references. */
function finalBackward64(p: Inputs, d: Dims, eps: number, dOut: Float64Array): Inputs {
  const { F, h, w, D, P, C } = d;
  const f = final64(p, d, eps);
  const dy = unpatchifyBackwardRef(dOut, F, h, w, C, P);
  const proj = linearBackwardRef({ x: f.Y, w: p.projW, bias: p.projB, M: F * h * w, K: D, N: P * P * C }, dy);
  const ln = layerNormBackwardRef(p.X, D, eps, proj.dx, undefined, undefined, f.mod);
  // scale and shift are the two halves of m: each gradient is zero outside its half.
  const dm = ln.dscale!.map((v, i) => v + ln.dshift![i]!);
  const norm = linearBackwardRef({ x: f.e, w: p.normW, bias: p.normB, M: 1, K: D, N: 2 * D }, dm);
  const dtemb = norm.dx.map((v, i) => v * siluGradRef(p.temb[i]!));
  return { X: ln.dx, temb: dtemb, normW: norm.dw, normB: norm.db, projW: proj.dw, projB: proj.db };
}

describe('vchitect final layer: float64 reference', () => {
  it('matches the inference reference vchitectFinal64 (scale first, pqc unpatchify)', () => {
    const d: Dims = { F: 2, h: 2, w: 3, D: 8, P: 2, C: 3 };
    const p = inputs(d, 5);
    const t = (shape: number[], data: Float64Array): Tensor64 => ({ shape, data });
    const K = d.P * d.P * d.C;
    const weights = new Map<string, Tensor64>([
      ['norm_out.linear.weight', t([2 * d.D, d.D], p.normW)], ['norm_out.linear.bias', t([2 * d.D], p.normB)],
      ['proj_out.weight', t([K, d.D], p.projW)], ['proj_out.bias', t([K], p.projB)],
    ]);
    const cfg: VchitectConfig64 = { numLayers: 0, heads: 2, headDim: d.D / 2, patchSize: d.P, inChannels: d.C, outChannels: d.C, posEmbedMaxSize: 4, jointAttentionDim: 4, pooledProjectionDim: 4 };
    const want = vchitectFinal64(weights, cfg, t([d.F, d.h * d.w, d.D], p.X), t([d.D], p.temb), d.h, d.w);
    expect(want.shape).toEqual([d.F, d.C, d.h * d.P, d.w * d.P]);
    expectClose(final64(p, d, LN_EPS).out, want.data, { rtol: 1e-12, atol: 1e-12 }, 'out');
  });

  it('its analytic backward matches central finite differences for every input and parameter', () => {
    const d: Dims = { F: 2, h: 2, w: 3, D: 6, P: 2, C: 3 };
    const p = inputs(d, 11);
    const dOut = normal(d.F * d.C * d.h * d.P * d.w * d.P, 99);
    const g = finalBackward64(p, d, FD_EPS, dOut);
    for (const n of NAMES) {
      expectGradient(n, p[n], (v) => final64({ ...p, [n]: v }, d, FD_EPS).out, dOut, g[n], 1e-6);
    }
  });
});

const CASES: (Dims & { tembShape: 'row' | 'flat' })[] = [
  // 2 frames of a 3x5 grid, D = 12, patch 2, 4 output channels (the model's), temb [1, D] as the model has it.
  { F: 2, h: 3, w: 5, D: 12, P: 2, C: 4, tembShape: 'row' },
  // 3 frames of 1x7, odd width and channel count, temb [D].
  { F: 3, h: 1, w: 7, D: 20, P: 2, C: 3, tembShape: 'flat' },
  // Patch 1 (no spatial rearrangement), 5 frames of 4x2.
  { F: 5, h: 4, w: 2, D: 9, P: 1, C: 5, tembShape: 'row' },
];

describe('vchitect final layer on the GPU (f32)', () => {
  for (const c of CASES) {
    it(`X [${c.F}, ${c.h}*${c.w}, ${c.D}], patch ${c.P}, ${c.C} channels, temb ${c.tembShape === 'row' ? '[1, D]' : '[D]'}`, async () => {
      const { F, h, w, D, P, C } = c;
      const K = P * P * C;
      const p = inputs(c, 31 + F);
      const outShape = [F, C, h * P, w * P];
      const dOutData = normal(outShape.reduce((a, b) => a * b, 1), 7);
      const shapes: Record<Name, number[]> = {
        X: [F, h * w, D], temb: c.tembShape === 'row' ? [1, D] : [D], normW: [2 * D, D], normB: [2 * D], projW: [K, D], projB: [K],
      };
      const up = {} as Record<Name, { t: Tensor; stored: Float64Array }>;
      for (const n of NAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(NAMES.map((n) => [n, up[n].stored])) as Inputs;
      const dOut = upload(device, dOutData, outShape, 'f32');
      const params = { normW: up.normW.t, normB: up.normB.t, projW: up.projW.t, projB: up.projB.t };

      const { out, saved } = finalForward(up.X.t, up.temb.t, params, { h, w, patch: P }, LN_EPS);
      expect(out.shape).toEqual(outShape);
      const ref = final64(stored, c, LN_EPS);
      const t = tol('f32', Math.sqrt(D));
      expectClose(await out.read(), ref.out, t, 'out');
      // What the backward reads: the modulation m = [scale | shift] and the proj_out input Y.
      expectClose(await saved.m.read(), ref.m, t, 'saved m');
      expectClose(await saved.Y.read(), ref.Y, t, 'saved Y');

      const g = finalBackward(saved, dOut.t);
      const want = finalBackward64(stored, c, LN_EPS, dOut.stored);
      const got: Record<Name, Tensor> = { X: g.dX, temb: g.dtemb, normW: g.dNormW, normB: g.dNormB, projW: g.dProjW, projB: g.dProjB };
      for (const n of NAMES) {
        expect(got[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(got[n].dtype, `d${n} dtype`).toBe('f32');
        // Gradients that sum over rows (parameters, temb) accumulate over up to F*h*w terms.
        expectClose(await got[n].read(), want[n], tol('f32', Math.sqrt(Math.max(D, K, F * h * w))), `d${n}`);
      }

      // Bit-identical rerun.
      const g2 = finalBackward(saved, dOut.t);
      const again: Record<Name, Tensor> = { X: g2.dX, temb: g2.dtemb, normW: g2.dNormW, normB: g2.dNormB, projW: g2.dProjW, projB: g2.dProjB };
      for (const n of NAMES) {
        expect(Buffer.from(await again[n].readRaw()).equals(Buffer.from(await got[n].readRaw())), `d${n} bit-identical`).toBe(true);
      }
      disposeFinalSaved(saved);
      for (const x of [out, dOut.t, ...NAMES.map((n) => up[n].t), ...Object.values(got), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const D = 8, C = 3, P = 2;
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = { normW: z([2 * D, D]), normB: z([2 * D]), projW: z([P * P * C, D]), projB: z([P * P * C]) };
    const grid = { h: 2, w: 3, patch: P };
    const X = z([2, 6, D]), temb = z([1, D]);
    expect(() => finalForward(z([2, 7, D]), temb, params, grid, LN_EPS)).toThrow(/X has 7 tokens per frame but the grid is h=2 x w=3/);
    expect(() => finalForward(z([12, D]), temb, params, grid, LN_EPS)).toThrow(/X \[12, 8\] must be \[F, h\*w, D\]/);
    expect(() => finalForward(X, z([1, D + 1]), params, grid, LN_EPS)).toThrow(/temb \[1, 9\] must be \[D\] or \[1, D\] with D = 8/);
    expect(() => finalForward(X, temb, { ...params, normW: z([D, D]) }, grid, LN_EPS)).toThrow(/norm_out.linear \[8, 8\] \/ \[16\] must be \[16, 8\]/);
    expect(() => finalForward(X, temb, { ...params, projW: z([10, D]), projB: z([10]) }, grid, LN_EPS)).toThrow(/proj_out \[10, 8\] \/ \[10\] must be \[P\*P\*C, 8\] \/ \[P\*P\*C\] with P = 2/);
    const { out, saved } = finalForward(X, temb, params, grid, LN_EPS);
    made.push(out);
    expect(out.shape).toEqual([2, C, 4, 6]);
    expect(() => finalBackward(saved, z([2, C, 4, 5]))).toThrow(/dOut \[2, 3, 4, 5\] must have the forward's output shape \[2, 3, 4, 6\]/);
    disposeFinalSaved(saved);
    for (const t of made) t.dispose();
  });
});
