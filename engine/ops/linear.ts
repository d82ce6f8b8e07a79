// linear(x, w, bias): x [.., K] @ w^T + b with w stored [N, K] as in checkpoints, with fused epilogues (GELU-tanh,
// SiLU) and the gated residual add out = r + g * (x @ w^T + b). Runs on the matmul kernels (engine/ops/matmul.ts).

import type { DType } from '../dtype.js';
import { ShapeError } from '../gpu/errors.js';
import { Tensor } from '../tensor.js';
import { bytesPerElement } from '../dtype.js';
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
  /** Read only rows [offset, offset + rows) of every item of x [B, R, K] (a view instead of a slice copy). */
  xRows?: RowWindow;
  /**
   * Write into rows [offset, offset + rows) of every item of `out` [B, R, N] (e.g. the visual or the text part of a
   * joint text+video buffer) instead of a separate tensor; x has `rows` rows per item. Needs `out`.
   */
  outRows?: RowWindow;
}

/** Rows [offset, offset + rows) of each item of a [B, R, C] tensor. */
export interface RowWindow {
  offset: number;
  rows: number;
}

/**
 * Whether linear can use this row window of t [B, R, C] (xRows / outRows): the window's byte offset must be a multiple
 * of the device's storage offset alignment and t must be bindable whole. Otherwise use slice / concat.
 */
export function rowWindowFits(t: Pick<Tensor, 'device' | 'shape' | 'dtype'>, w: RowWindow): boolean {
  const C = t.shape[t.shape.length - 1]!;
  const eb = bytesPerElement(t.dtype);
  return (w.offset * C * eb) % t.device.gpu.limits.minStorageBufferOffsetAlignment === 0 &&
    t.shape.reduce((a, b) => a * b, 1) * eb <= t.device.caps.maxStorageBufferBindingSize;
}

/** x [.., K], w [N, K], bias [N] -> [.., N]. f32/f16 may be mixed (e.g. f32 activations with f16 weights). */
export function linear(x: Tensor, w: Tensor, bias?: Tensor, opts: LinearOptions = {}): Tensor {
  if (opts.xRows || opts.outRows) return windowedLinear(x, w, bias, opts);
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

/** linear() with row windows on x and/or out: one batched matmul (batch = B items) with strided rows. */
function windowedLinear(x: Tensor, w: Tensor, bias: Tensor | undefined, opts: LinearOptions): Tensor {
  const where = `x [${x.shape.join(', ')}], w [${w.shape.join(', ')}]`;
  checkFloat('linear', x, w, bias, opts.residual?.x);
  if (x.shape.length !== 3) throw new ShapeError(`linear: ${where}: row windows need x as [B, rows, K]`);
  if (opts.residual?.gate) throw new ShapeError('linear: row windows do not take a residual gate');
  const [B, R, K] = x.shape as [number, number, number];
  const [N, Kw] = w.shape as [number, number];
  if (w.shape.length !== 2 || K !== Kw) throw new ShapeError(`linear: ${where}: w must be [N, K] with K = x's last dim`);
  if (bias && (bias.numel !== N || bias.shape.length !== 1)) throw new ShapeError(`linear: ${where}: bias is [${bias.shape.join(', ')}], expected [${N}]`);
  const xw = opts.xRows ?? { offset: 0, rows: R };
  if (xw.offset < 0 || xw.offset + xw.rows > R) throw new ShapeError(`linear: xRows [${xw.offset}, ${xw.offset + xw.rows}) outside x's ${R} rows`);
  const rows = xw.rows;
  let out: Tensor;
  let outOffset = 0;
  let outR = rows;
  if (opts.outRows) {
    if (!opts.out) throw new ShapeError('linear: outRows needs `out` (the [B, R, N] tensor to write into)');
    out = opts.out;
    const [ob, oR, oN] = out.shape as [number, number, number];
    if (out.shape.length !== 3 || ob !== B || oN !== N) throw new ShapeError(`linear: ${where}: out is [${out.shape.join(', ')}], expected [${B}, R, ${N}]`);
    if (opts.outRows.rows !== rows || opts.outRows.offset < 0 || opts.outRows.offset + rows > oR) {
      throw new ShapeError(`linear: outRows [${opts.outRows.offset}, ${opts.outRows.offset + opts.outRows.rows}) must hold x's ${rows} rows inside out's ${oR}`);
    }
    outOffset = opts.outRows.offset;
    outR = oR;
  } else {
    out = opts.out ?? Tensor.empty(x.device, [B, rows, N], opts.dtype ?? x.dtype, 'linear');
    if (out.shape.join(',') !== [B, rows, N].join(',')) throw new ShapeError(`linear: ${where}: out is [${out.shape.join(', ')}], expected [${B}, ${rows}, ${N}]`);
  }
  const r = opts.residual?.x;
  if (r && r.shape.join(',') !== [B, rows, N].join(',')) throw new ShapeError(`linear: residual is [${r.shape.join(', ')}], expected [${B}, ${rows}, ${N}]`);
  if (r && opts.outRows) throw new ShapeError('linear: outRows does not take a residual');
  for (const [t, win] of [[x, opts.xRows], [out, opts.outRows]] as const) {
    if (win && !rowWindowFits(t, win)) throw new ShapeError(`linear: row window at row ${win.offset} of [${t.shape.join(', ')}] ${t.dtype} is not bindable (offset alignment or size); check rowWindowFits() and use slice/concat instead`);
  }
  const eb = (t: Tensor) => bytesPerElement(t.dtype);
  runMatmul({
    op: 'linear', a: x, b: w, out, bias,
    shape: { M: rows, N, K, batch: B, bNK: true },
    aBatchStride: R * K, bBatchStride: 0,
    epilogue: opts.epilogue ?? 'none',
    residual: r, gateRows: rows,
    // The variant and settings the flat problem (B * rows rows) would get, so the result is bit-identical to
    // linear + slice/concat.
    variant: opts.variant, settings: opts.settings, chooseAs: { M: B * rows, N, K, batch: 1, bNK: true },
    window: { aByteOffset: xw.offset * K * eb(x), outByteOffset: outOffset * N * eb(out), outBatchStride: outR * N },
  });
  return out;
}
