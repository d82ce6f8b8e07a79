// linear(x, w, bias): x [.., K] @ w^T + b with w stored [N, K] as in checkpoints, with fused epilogues (GELU-tanh,
// SiLU) and the gated residual add out = r + g * (x @ w^T + b). Runs on the matmul kernels (engine/ops/matmul.ts).

import type { DType } from '../dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor } from '../tensor.js';
import { checkFloat, runMatmul, type Epilogue } from './matmul.js';
import type { TuneSettings } from './registry.js';

export interface LinearResidual {
  /** r, the same shape as the output [.., N]. */
  x: Tensor;
  /** g: [N] for every row, or [B, N] (also [B, 1, N]) per item of x's leading dim B. */
  gate?: Tensor;
}

export interface LinearOptions {
  /** Activation applied after the bias (default 'none'). */
  epilogue?: Epilogue;
  /** Gated residual: out = residual.x + gate * act(x @ w^T + b). */
  residual?: LinearResidual;
  /** Output dtype (default x's). */
  dtype?: DType;
  /** Write into this tensor (must not be the residual tensor: WebGPU cannot bind one buffer as read and write). */
  out?: Tensor;
  /** Force a matmul variant by name (else PARALLAX_KERNEL_MATMUL, else chosen by shape). */
  variant?: string;
  /** Tile settings over the variant's defaults (the autotuner and benchmarks; needs `variant`). */
  settings?: TuneSettings;
  /** Override of maxStorageBufferBindingSize (tests force the row-split path with a small value). */
  maxBindingBytes?: number;
}

/** x [.., K], w [N, K], bias [N] -> [.., N]. f32/f16 may be mixed (e.g. f32 activations with f16 weights). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  const where = `x [${x.shape.join(', ')}] ${x.dtype}, w [${w.shape.join(', ')}] ${w.dtype}`;
  checkFloat('linear', x, w, bias, opts.residual?.x, opts.residual?.gate);
  if (x.shape.length < 1) throw new ShapeError(`linear: ${where}: x needs at least one dim [.., K]`);
  if (w.shape.length !== 2) throw new ShapeError(`linear: ${where}: w must be 2-D [out, in] = [N, K] as stored in checkpoints`);
  const K = x.shape[x.shape.length - 1]!;
  const [N, Kw] = w.shape as [number, number];
  if (K !== Kw) throw new ShapeError(`linear: ${where}: x's last dim K=${K} must equal w's in-features (dim 1) ${Kw}; w is stored [out, in]`);
  const M = x.numel / Math.max(K, 1);
  const outShape = [...x.shape.slice(0, -1), N];
  if (bias && (bias.numel !== N || bias.shape.length !== 1)) throw new ShapeError(`linear: ${where}: bias is [${bias.shape.join(', ')}], expected [${N}]`);
  const r = opts.residual;
  let gateRows = M;
  if (r) {
    if (r.x.shape.join(',') !== outShape.join(',')) throw new ShapeError(`linear: ${where}: residual is [${r.x.shape.join(', ')}], expected the output shape [${outShape.join(', ')}]`);
    const g = r.gate;
    if (g) {
      const B = x.shape.length >= 2 ? x.shape[0]! : 1;
      const last = g.shape[g.shape.length - 1];
      if (last === N && g.numel === N) gateRows = Math.max(M, 1);
      else if (last === N && g.numel === B * N && g.shape[0] === B) gateRows = Math.max(M / B, 1);
      else throw new ShapeError(`linear: ${where}: gate is [${g.shape.join(', ')}], expected [${N}] or [${B}, ${N}] (one gate row per item of x's leading dim)`);
    }
  }
  const out = opts.out ?? Tensor.empty(x.device, outShape, opts.dtype ?? x.dtype, 'linear');
  if (out.shape.join(',') !== outShape.join(',')) throw new ShapeError(`linear: ${where}: out is [${out.shape.join(', ')}], expected [${outShape.join(', ')}]`);
  if (r && out.buffer === r.x.buffer) throw new ShapeError('linear: out and residual.x share a buffer; WebGPU cannot bind one buffer for reading and writing in one dispatch. Use a separate out tensor.');
  runMatmul({
    op: 'linear', a: x, b: w, out, bias,
    shape: { M, N, K, batch: 1, bNK: true },
    aBatchStride: 0, bBatchStride: 0,
    epilogue: opts.epilogue ?? 'none',
    residual: r?.x, gate: r?.gate, gateRows,
    variant: opts.variant, settings: opts.settings, maxBindingBytes: opts.maxBindingBytes,
  });
  return out;
}
