// Backward of linear (engine/ops/linear.ts) on GPU tensors, written as the spec says (training.md section 2):
// dz = the epilogue's backward (activation, gate) of dy, dX = dz W, dW = dz^T X, db = column sums of dz, dgate from the
// epilogue backward; the residual's gradient is dy itself. dX runs on the matmul op, dW and db together on the linear_dw
// op (engine/ops/linear-dw.ts: one pass on CPU adapters, transpose + matmul + column sums on GPUs); every sum has a
// fixed order, so the same inputs give bit-identical gradients run to run.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { linearEpilogueBackward } from './elementwise-backward.js';
import { linearWeightGrad } from './linear-dw.js';
import { matmul, type Epilogue } from './matmul.js';

export interface LinearBackwardOptions {
  epilogue?: Epilogue;
  /** The pre-activation z = x W^T + b of the forward (needed with an activation or a gate). */
  z?: Tensor;
  /** The gated residual's gate [G, N] as linear() took it. */
  gate?: Tensor;
  /** Compute db (the layer has a bias). Default true. */
  bias?: boolean;
  /** Force a linear_dw variant for dW and db (tests, benchmarks). */
  dwVariant?: string;
}

export interface LinearGrads {
  /** Shaped like x. */
  dx: Tensor;
  /** [N, K] f32 (gradients of f32 master weights, whatever the compute dtype) */
  dw: Tensor;
  /** [N] f32 */
  db?: Tensor;
  /** Shaped like the gate, f32. */
  dgate?: Tensor;
}

/** Gradients of linear(x [.., K], w [N, K], b) for dy [.., N]; the caller disposes them. */
export function linearBackward(x: Tensor, w: Tensor, dy: Tensor, opts: LinearBackwardOptions = {}): LinearGrads {
  const K = x.shape[x.shape.length - 1]!;
  const [N, Kw] = w.shape as [number, number];
  const M = x.numel / Math.max(K, 1);
  if (w.shape.length !== 2 || Kw !== K) throw new ShapeError(`linear_backward: w [${w.shape.join(', ')}] must be [N, K] with K = x's last dim ${K}`);
  if (dy.numel !== M * N || dy.shape[dy.shape.length - 1] !== N) throw new ShapeError(`linear_backward: dy [${dy.shape.join(', ')}] must be x's rows x N = [.., ${N}] (${M} rows)`);
  const ep = opts.epilogue ?? 'none';
  const needZ = ep !== 'none' || !!opts.gate;
  if (needZ && !opts.z) throw new ShapeError(`linear_backward: the ${ep !== 'none' ? `${ep} activation` : 'gate'} needs the forward's pre-activation z (x W^T + b)`);
  let dz = dy;
  let dgate: Tensor | undefined;
  if (needZ) ({ dz, dgate } = linearEpilogueBackward(dy, opts.z!, { epilogue: ep, gate: opts.gate }));
  const dz2 = dz.reshape([M, N]);
  const dxFlat = matmul(dz2, w, { dtype: x.dtype });
  const dx = dxFlat.reshape(x.shape);
  dxFlat.dispose();
  const x2 = x.reshape([M, K]);
  const { dw, db } = linearWeightGrad(dz2, x2, { bias: opts.bias !== false, variant: opts.dwVariant });
  x2.dispose();
  dz2.dispose();
  if (dz !== dy) dz.dispose();
  return { dx, dw, db, dgate };
}
