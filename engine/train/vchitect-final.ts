// Forward/backward pair of the Vchitect transformer's final layer (step 6 of engine/model/vchitect.ts: outputRows then
// the unpatchify), llm.c style (training.md section 1): finalForward returns the output and what the backward needs;
// finalBackward reads the forward in reverse on the existing backward ops (no tape, no new kernels):
//   e = SiLU(temb);  m = e Wn^T + bn = [scale | shift] (scale first);  Y = LN(X) * (1 + scale) + shift;
//   y = Y Wp^T + bp (per frame, [F, h*w, P*P*C] with channel order (p, q, c));  out = unpatchify(y) [F, C, h*P, w*P]
// The modulation is one [2D] vector shared by every frame (the inference model's AdaLayerNormContinuous).

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { silu } from '../ops/elementwise.js';
import { siluBackward } from '../ops/elementwise-backward.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { layerNorm, type Modulation } from '../ops/norm.js';
import { layerNormBackward } from '../ops/norm-backward.js';
import { unpatchify, unpatchifyBackward } from '../ops/patch.js';

export interface FinalParams {
  /** norm_out.linear: [2D, D], [2D] (scale rows first, then shift). */
  normW: Tensor;
  normB: Tensor;
  /** proj_out: [P*P*C, D], [P*P*C]. */
  projW: Tensor;
  projB: Tensor;
}

/** The latent grid: h x w tokens per frame, patch size P (Vchitect: 2). */
export interface FinalGrid {
  h: number;
  w: number;
  patch: number;
}

/** What finalBackward needs. e, m, Y are owned (freed by disposeFinalSaved); X, temb, params are the caller's. */
export interface FinalSaved {
  /** Shape of X [F, h*w, D]. */
  shape: readonly number[];
  eps: number;
  grid: FinalGrid;
  D: number;
  /** Output channels C. */
  C: number;
  /** LayerNorm input (statistics recomputed by the backward). */
  X: Tensor;
  temb: Tensor;
  params: FinalParams;
  /** SiLU(temb), input of norm_out.linear, shaped like temb. */
  e: Tensor;
  /** norm_out.linear's output [..., 2D]: scale then shift. */
  m: Tensor;
  /** Input of proj_out, [F, h*w, D]. */
  Y: Tensor;
}

export interface FinalGrads {
  /** Shaped like X / temb. */
  dX: Tensor;
  dtemb: Tensor;
  /** f32 parameter gradients. */
  dNormW: Tensor;
  dNormB: Tensor;
  dProjW: Tensor;
  dProjB: Tensor;
}

/** m [.., 2D] as the adaLN modulation of rows of width D: scale at offset 0, shift at offset D (one item). */
function modulation(m: Tensor, D: number): Modulation {
  return { scale: m, shift: m, scaleOffset: 0, shiftOffset: D };
}

/** The forward: returns out [F, C, h*P, w*P] and the saved activations. Caller disposes out and disposeFinalSaved(saved). */
export function finalForward(X: Tensor, temb: Tensor, params: FinalParams, grid: FinalGrid, eps: number): { out: Tensor; saved: FinalSaved } {
  const { h, w, patch: P } = grid;
  if (X.shape.length !== 3) throw new ShapeError(`vchitect final: X [${X.shape.join(', ')}] must be [F, h*w, D]`);
  const [, L, D] = X.shape as [number, number, number];
  if (!(Number.isInteger(h) && Number.isInteger(w) && Number.isInteger(P)) || h < 1 || w < 1 || P < 1 || L !== h * w) {
    throw new ShapeError(`vchitect final: X has ${L} tokens per frame but the grid is h=${h} x w=${w} (patch ${P}); pass the latent grid the tokens came from`);
  }
  if (temb.numel !== D || temb.shape[temb.shape.length - 1] !== D) throw new ShapeError(`vchitect final: temb [${temb.shape.join(', ')}] must be [D] or [1, D] with D = ${D}`);
  if (params.normW.shape.join(',') !== `${2 * D},${D}` || params.normB.shape.join(',') !== `${2 * D}`) {
    throw new ShapeError(`vchitect final: norm_out.linear [${params.normW.shape.join(', ')}] / [${params.normB.shape.join(', ')}] must be [${2 * D}, ${D}] / [${2 * D}]`);
  }
  const K = params.projW.shape[0]!;
  if (params.projW.shape.length !== 2 || params.projW.shape[1] !== D || !K || K % (P * P) || params.projB.shape.join(',') !== `${K}`) {
    throw new ShapeError(`vchitect final: proj_out [${params.projW.shape.join(', ')}] / [${params.projB.shape.join(', ')}] must be [P*P*C, ${D}] / [P*P*C] with P = ${P}`);
  }
  const e = silu(temb);
  const m = linear(e, params.normW, params.normB);
  const Y = layerNorm(X, { eps, modulation: modulation(m, D) });
  const y = linear(Y, params.projW, params.projB);
  const out = unpatchify(y, h, w, { patch: P });
  y.dispose();
  return { out, saved: { shape: X.shape, eps, grid, D, C: K / (P * P), X, temb, params, e, m, Y } };
}

export function disposeFinalSaved(s: FinalSaved): void {
  for (const t of [s.e, s.m, s.Y]) t.dispose();
}

/** The backward for dOut (shaped like out): dX, dtemb and the parameter gradients, new tensors the caller disposes. */
export function finalBackward(s: FinalSaved, dOut: Tensor): FinalGrads {
  const { grid, D, C, params, eps } = s;
  const F = s.shape[0]!;
  const want = [F, C, grid.h * grid.patch, grid.w * grid.patch];
  if (dOut.shape.join(',') !== want.join(',')) {
    throw new ShapeError(`vchitect final backward: dOut [${dOut.shape.join(', ')}] must have the forward's output shape [${want.join(', ')}]`);
  }
  // out = unpatchify(y): each value moves to one place, so the gradient moves back.
  const dy = unpatchifyBackward(dOut, { patch: grid.patch });
  // y = Y Wp^T + bp.
  const proj = linearBackward(s.Y, params.projW, dy);
  // Y = LN(X) (1 + scale) + shift with scale, shift both read from m: one gradient tensor shaped like m.
  const ln = layerNormBackward(s.X, proj.dx, { eps, modulation: modulation(s.m, D) });
  // m = e Wn^T + bn, e = SiLU(temb).
  const norm = linearBackward(s.e, params.normW, ln.dscale!);
  const dtemb = siluBackward(s.temb, norm.dx);
  for (const t of [dy, proj.dx, ln.dscale!, norm.dx]) t.dispose();
  return { dX: ln.dx, dtemb, dNormW: norm.dw, dNormB: norm.db!, dProjW: proj.dw, dProjB: proj.db! };
}
