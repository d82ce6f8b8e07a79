// Forward/backward pair of the feed-forward half of a Vchitect block (the `finish` part of engine/model/vchitect.ts's
// block, visual stream), llm.c style (training.md section 1): ffForward returns the output and what the backward
// needs; ffBackward reads the forward in reverse on the existing backward ops (no tape, no new kernels):
//   Xn = X + g1 * Ax;  h = LN(Xn) * (1 + sc2) + sh2;  z1 = h W1^T + b1;  f1 = GELU_tanh(z1);  out = Xn + g2 * (f1 W2^T + b2)
// The modulation vectors g1, sc2, sh2, g2 are [G, D] (one row per item: G divides the rows of X, e.g. X [F, L, D] with
// one vector per frame) or [D] (shared by every row, as the inference model has them).

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { add, gatedAdd, geluTanh } from '../ops/elementwise.js';
import { linearEpilogueBackward } from '../ops/elementwise-backward.js';
import { broadcastTo } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { layerNorm } from '../ops/norm.js';
import { layerNormBackward } from '../ops/norm-backward.js';

export interface FfParams {
  /** ff.net.0.proj: [H, D], [H] */
  w1: Tensor;
  b1: Tensor;
  /** ff.net.2: [D, H], [D] */
  w2: Tensor;
  b2: Tensor;
}

export interface FfModulation {
  /** Gate of the attention output, [G, D] or [D]. */
  g1: Tensor;
  sc2: Tensor;
  sh2: Tensor;
  /** Gate of the MLP output. */
  g2: Tensor;
}

/** What ffBackward needs. Xn, h, z1, f1 are owned (freed by disposeFfSaved); the rest are the caller's tensors. */
export interface FfSaved {
  shape: readonly number[];
  eps: number;
  /** Items G and rows per item R (X seen as [G, R, D]). */
  G: number;
  R: number;
  D: number;
  /** The attention output (gradient of g1 needs it). */
  Ax: Tensor;
  mod: FfModulation;
  params: FfParams;
  /** LayerNorm input (statistics recomputed by the backward), [G, R, D]. */
  Xn: Tensor;
  /** Input of linear 1, [G, R, D]. */
  h: Tensor;
  /** Pre-activation of the GELU linear, [G, R, H]. */
  z1: Tensor;
  /** Input of linear 2, [G, R, H]. */
  f1: Tensor;
}

export interface FfGrads {
  /** Shaped like X / Ax. */
  dX: Tensor;
  dAx: Tensor;
  /** f32, shaped like the modulation vectors. */
  dg1: Tensor;
  dsc2: Tensor;
  dsh2: Tensor;
  dg2: Tensor;
  /** f32 parameter gradients. */
  dW1: Tensor;
  db1: Tensor;
  dW2: Tensor;
  db2: Tensor;
}

/** Modulation vector v as [G, D]: a view the caller disposes. */
function asItems(name: string, v: Tensor, G: number, D: number): Tensor {
  if (v.numel !== G * D || v.shape[v.shape.length - 1] !== D) {
    throw new ShapeError(`vchitect ff: ${name} [${v.shape.join(', ')}] must be [${G}, ${D}] like the other modulation vectors ([G, D] per item or [D] shared)`);
  }
  return v.reshape([G, D]);
}

/** The forward: returns out (shaped like X) and the saved activations. Caller disposes out and disposeFfSaved(saved). */
export function ffForward(X: Tensor, Ax: Tensor, mod: FfModulation, params: FfParams, eps: number): { out: Tensor; saved: FfSaved } {
  const D = X.shape[X.shape.length - 1]!;
  if (!X.shape.length || !D) throw new ShapeError(`vchitect ff: X [${X.shape.join(', ')}] needs a last axis D`);
  if (Ax.shape.join(',') !== X.shape.join(',')) throw new ShapeError(`vchitect ff: Ax [${Ax.shape.join(', ')}] must have the shape of X [${X.shape.join(', ')}]`);
  const [H, D1] = params.w1.shape as [number, number];
  if (params.w1.shape.length !== 2 || D1 !== D || params.w2.shape.join(',') !== `${D},${H}`) {
    throw new ShapeError(`vchitect ff: w1 [${params.w1.shape.join(', ')}] and w2 [${params.w2.shape.join(', ')}] must be [H, ${D}] and [${D}, H]`);
  }
  const M = X.numel / D;
  const G = mod.g1.numel / D;
  if (!Number.isInteger(G) || G < 1 || M % G) throw new ShapeError(`vchitect ff: g1 [${mod.g1.shape.join(', ')}] must be [G, ${D}] with G dividing the ${M} rows of X`);
  const R = M / G;
  const g1 = asItems('g1', mod.g1, G, D), sc2 = asItems('sc2', mod.sc2, G, D), sh2 = asItems('sh2', mod.sh2, G, D), g2 = asItems('g2', mod.g2, G, D);
  const X3 = X.reshape([G, R, D]);
  const Ax3 = Ax.reshape([G, R, D]);
  const g1b = g1.reshape([G, 1, D]);
  const g1Rows = broadcastTo(g1b, [G, R, D]); // per-item gate as a full tensor for the elementwise gated add
  const Xn = gatedAdd(X3, g1Rows, Ax3);
  const h = layerNorm(Xn, { eps, modulation: { scale: sc2, shift: sh2 } });
  const z1 = linear(h, params.w1, params.b1);
  const f1 = geluTanh(z1);
  const out3 = linear(f1, params.w2, params.b2, { residual: { x: Xn, gate: g2 } });
  const out = out3.reshape(X.shape);
  for (const t of [X3, Ax3, g1b, g1Rows, g1, sc2, sh2, g2, out3]) t.dispose();
  return { out, saved: { shape: X.shape, eps, G, R, D, Ax, mod, params, Xn, h, z1, f1 } };
}

export function disposeFfSaved(s: FfSaved): void {
  for (const t of [s.Xn, s.h, s.z1, s.f1]) t.dispose();
}

/** The backward for dOut (shaped like X): every input and parameter gradient, new tensors the caller disposes. */
export function ffBackward(s: FfSaved, dOut: Tensor): FfGrads {
  const { G, R, D, params, eps } = s;
  if (dOut.numel !== G * R * D || dOut.shape[dOut.shape.length - 1] !== D) {
    throw new ShapeError(`vchitect ff backward: dOut [${dOut.shape.join(', ')}] must have the forward's shape [${s.shape.join(', ')}]`);
  }
  const g1 = asItems('g1', s.mod.g1, G, D), sc2 = asItems('sc2', s.mod.sc2, G, D), sh2 = asItems('sh2', s.mod.sh2, G, D), g2 = asItems('g2', s.mod.g2, G, D);
  const dOut3 = dOut.reshape([G, R, D]);
  // out = Xn + g2 * z2: z2 (the un-gated MLP output) is recomputed from the saved f1.
  const z2 = linear(s.f1, params.w2, params.b2);
  const l2 = linearBackward(s.f1, params.w2, dOut3, { z: z2, gate: g2 });
  // f1 = GELU(z1), z1 = h W1^T + b1.
  const l1 = linearBackward(s.h, params.w1, l2.dx, { epilogue: 'gelu_tanh', z: s.z1 });
  // h = LN(Xn) (1 + sc2) + sh2.
  const ln = layerNormBackward(s.Xn, l1.dx, { eps, modulation: { scale: sc2, shift: sh2 } });
  // Xn feeds both the norm and the residual of out.
  const dXn = add(dOut3, ln.dx);
  // Xn = X + g1 * Ax: dX = dXn, dAx = g1 dXn, dg1 = per-item sums of dXn * Ax (the gated epilogue's backward).
  const Ax3 = s.Ax.reshape([G, R, D]);
  const gated = linearEpilogueBackward(dXn, Ax3, { gate: g1 });
  const grads: FfGrads = {
    dX: dXn.reshape(s.shape),
    dAx: gated.dz.reshape(s.shape),
    dg1: gated.dgate!.reshape(s.mod.g1.shape),
    dsc2: ln.dscale!.reshape(s.mod.sc2.shape),
    dsh2: ln.dshift!.reshape(s.mod.sh2.shape),
    dg2: l2.dgate!.reshape(s.mod.g2.shape),
    dW1: l1.dw,
    db1: l1.db!,
    dW2: l2.dw,
    db2: l2.db!,
  };
  for (const t of [g1, sc2, sh2, g2, dOut3, z2, l2.dx, l2.dgate!, l1.dx, ln.dx, ln.dscale!, ln.dshift!, dXn, Ax3, gated.dz, gated.dgate!]) t.dispose();
  return grads;
}
