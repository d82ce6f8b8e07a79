// ffForward / ffBackward (engine/train/vchitect-ff.ts) against a float64 reference of the same function, written here
// from the op references (layerNormRef with modulation, linearRef); its analytic backward, composed of the *BackwardRef
// functions, is checked by central finite differences for every input and parameter, then the GPU gradients are
// compared with it on awkward shapes (per-item and shared modulation), f32; two backward runs are bit-identical.
import { describe, expect, it } from 'vitest';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { layerNormBackwardRef, layerNormRef, type ModulationRef } from '../../../engine/ops/norm.ref.js';
import { disposeFfSaved, ffBackward, ffForward } from '../../../engine/train/vchitect-ff.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
// A larger eps than the model's 1e-6 keeps the finite differences of the float64 reference well conditioned; the GPU
// cases use the model's own.
const FD_EPS = 1e-5;

const NAMES = ['X', 'Ax', 'g1', 'sc2', 'sh2', 'g2', 'W1', 'b1', 'W2', 'b2'] as const;
type Name = (typeof NAMES)[number];
type Inputs = Record<Name, Float64Array>;
interface Dims { G: number; R: number; D: number; H: number }

function inputs(d: Dims, seed: number): Inputs {
  const { G, R, D, H } = d;
  return {
    X: normal(G * R * D, seed), Ax: normal(G * R * D, seed + 1),
    g1: normal(G * D, seed + 2, 0.7), sc2: normal(G * D, seed + 3, 0.5), sh2: normal(G * D, seed + 4, 0.5), g2: normal(G * D, seed + 5, 0.7),
    W1: normal(H * D, seed + 6, 1 / Math.sqrt(D)), b1: normal(H, seed + 7, 0.3),
    W2: normal(D * H, seed + 8, 1 / Math.sqrt(H)), b2: normal(D, seed + 9, 0.3),
  };
}

/** Float64 forward, keeping what the analytic backward needs. */
function ff64(p: Inputs, d: Dims, eps: number) {
  const { G, R, D, H } = d;
  const M = G * R;
  const Xn = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    const g = Math.floor(m / R);
    for (let i = 0; i < D; i++) Xn[m * D + i] = p.X[m * D + i]! + p.g1[g * D + i]! * p.Ax[m * D + i]!;
  }
  const mod: ModulationRef = { scale: p.sc2, shift: p.sh2, items: G, k: D };
  const h = layerNormRef(Xn, D, eps, undefined, undefined, mod);
  const f1 = linearRef({ x: h, w: p.W1, bias: p.b1, M, K: D, N: H, epilogue: 'gelu_tanh' });
  const out = linearRef({ x: f1, w: p.W2, bias: p.b2, M, K: H, N: D, residual: Xn, gate: p.g2, gateRows: R });
  return { out, Xn, h, f1, mod };
}

/** Float64 analytic backward from the op backward references. */
function ffBackward64(p: Inputs, d: Dims, eps: number, dOut: Float64Array): Inputs {
  const { G, R, D, H } = d;
  const M = G * R;
  const f = ff64(p, d, eps);
  const l2 = linearBackwardRef({ x: f.f1, w: p.W2, bias: p.b2, M, K: H, N: D, residual: f.Xn, gate: p.g2, gateRows: R }, dOut);
  const l1 = linearBackwardRef({ x: f.h, w: p.W1, bias: p.b1, M, K: D, N: H, epilogue: 'gelu_tanh' }, l2.dx);
  const ln = layerNormBackwardRef(f.Xn, D, eps, l1.dx, undefined, undefined, f.mod);
  const dX = new Float64Array(M * D), dAx = new Float64Array(M * D), dg1 = new Float64Array(G * D);
  for (let m = 0; m < M; m++) {
    const g = Math.floor(m / R);
    for (let i = 0; i < D; i++) {
      const k = m * D + i;
      dX[k] = dOut[k]! + ln.dx[k]!;
      dAx[k] = dX[k]! * p.g1[g * D + i]!;
      dg1[g * D + i] += dX[k]! * p.Ax[k]!;
    }
  }
  return { X: dX, Ax: dAx, g1: dg1, sc2: ln.dscale!, sh2: ln.dshift!, g2: l2.dgate!, W1: l1.dw, b1: l1.db, W2: l2.dw, b2: l2.db };
}

describe('vchitect feed-forward half: float64 reference', () => {
  it('its analytic backward matches central finite differences for every input and parameter', () => {
    const d: Dims = { G: 2, R: 3, D: 6, H: 10 };
    const p = inputs(d, 11);
    const dOut = normal(d.G * d.R * d.D, 99);
    const g = ffBackward64(p, d, FD_EPS, dOut);
    for (const n of NAMES) {
      expectGradient(n, p[n], (v) => ff64({ ...p, [n]: v }, d, FD_EPS).out, dOut, g[n], 1e-6);
    }
  });
});

const CASES: (Dims & { shared: boolean; lead: number[] })[] = [
  // Per-item modulation: 2 items (frames) x 5 rows, D = 12, hidden 4D = 48.
  { G: 2, R: 5, D: 12, H: 48, shared: false, lead: [2, 5] },
  // Three items of 7 rows, odd widths.
  { G: 3, R: 7, D: 20, H: 37, shared: false, lead: [3, 7] },
  // One modulation vector [D] shared by every row of X [2, 7, D], as the inference model has it.
  { G: 1, R: 14, D: 20, H: 80, shared: true, lead: [2, 7] },
];

describe('vchitect feed-forward half on the GPU (f32)', () => {
  for (const c of CASES) {
    it(`${c.shared ? 'shared [D]' : `per-item [${c.G}, D]`} modulation, X [${c.lead.join(', ')}, ${c.D}], hidden ${c.H}`, async () => {
      const { G, R, D, H } = c;
      const p = inputs(c, 21 + G);
      const dOutData = normal(G * R * D, 7);
      const xShape = [...c.lead, D];
      const modShape = c.shared ? [D] : [G, D];
      const shapes: Record<Name, number[]> = { X: xShape, Ax: xShape, g1: modShape, sc2: modShape, sh2: modShape, g2: modShape, W1: [H, D], b1: [H], W2: [D, H], b2: [D] };
      const up = {} as Record<Name, { t: Tensor; stored: Float64Array }>;
      for (const n of NAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(NAMES.map((n) => [n, up[n].stored])) as Inputs;
      const dOut = upload(device, dOutData, xShape, 'f32');
      const mod = { g1: up.g1.t, sc2: up.sc2.t, sh2: up.sh2.t, g2: up.g2.t };
      const params = { w1: up.W1.t, b1: up.b1.t, w2: up.W2.t, b2: up.b2.t };

      const { out, saved } = ffForward(up.X.t, up.Ax.t, mod, params, LN_EPS);
      expect(out.shape).toEqual(xShape);
      const t = tol('f32', Math.sqrt(H));
      expectClose(await out.read(), ff64(stored, c, LN_EPS).out, t, 'out');
      // What the backward reads: the pre-activation z1 of the GELU linear.
      const ref = ff64(stored, c, LN_EPS);
      expectClose(await saved.z1.read(), linearRef({ x: ref.h, w: stored.W1, bias: stored.b1, M: G * R, K: D, N: H }), t, 'saved z1');

      const g = ffBackward(saved, dOut.t);
      const want = ffBackward64(stored, c, LN_EPS, dOut.stored);
      const got: Record<Name, Tensor> = { X: g.dX, Ax: g.dAx, g1: g.dg1, sc2: g.dsc2, sh2: g.dsh2, g2: g.dg2, W1: g.dW1, b1: g.db1, W2: g.dW2, b2: g.db2 };
      for (const n of NAMES) {
        expect(got[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(got[n].dtype, `d${n} dtype`).toBe('f32');
        // Gradients that sum over rows (parameters, modulation) accumulate over up to G*R terms.
        expectClose(await got[n].read(), want[n], tol('f32', Math.sqrt(Math.max(H, G * R))), `d${n}`);
      }

      // Bit-identical rerun.
      const g2 = ffBackward(saved, dOut.t);
      const again: Record<Name, Tensor> = { X: g2.dX, Ax: g2.dAx, g1: g2.dg1, sc2: g2.dsc2, sh2: g2.dsh2, g2: g2.dg2, W1: g2.dW1, b1: g2.db1, W2: g2.dW2, b2: g2.db2 };
      for (const n of NAMES) {
        expect(Buffer.from(await again[n].readRaw()).equals(Buffer.from(await got[n].readRaw())), `d${n} bit-identical`).toBe(true);
      }
      disposeFfSaved(saved);
      for (const x of [out, dOut.t, ...NAMES.map((n) => up[n].t), ...Object.values(got), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const D = 8, H = 16;
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = { w1: z([H, D]), b1: z([H]), w2: z([D, H]), b2: z([D]) };
    const mod = { g1: z([3, D]), sc2: z([3, D]), sh2: z([3, D]), g2: z([3, D]) };
    expect(() => ffForward(z([2, 4, D]), z([2, 4, D]), mod, params, LN_EPS)).toThrow(/G dividing the 8 rows/);
    expect(() => ffForward(z([3, 4, D]), z([3, 5, D]), mod, params, LN_EPS)).toThrow(/Ax \[3, 5, 8\] must have the shape of X/);
    expect(() => ffForward(z([3, 4, D]), z([3, 4, D]), { ...mod, sc2: z([D]) }, params, LN_EPS)).toThrow(/sc2 \[8\] must be \[3, 8\]/);
    const { out, saved } = ffForward(z([3, 4, D]), z([3, 4, D]), mod, params, LN_EPS);
    made.push(out);
    expect(() => ffBackward(saved, z([3, 5, D]))).toThrow(/dOut \[3, 5, 8\] must have the forward's shape/);
    disposeFfSaved(saved);
    for (const t of made) t.dispose();
  });
});
