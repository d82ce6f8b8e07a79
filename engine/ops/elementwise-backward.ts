// Backwards of the elementwise ops and of the linear's fused epilogue (activation, gated residual), on GPU tensors.
// Elementwise derivatives are elementwise ops (silu_backward, gelu_tanh_backward, mul_1p in elementwise.ts); the sums
// over rows (gate, scale, shift, bias gradients) are deterministic column sums (colsum.ts), never atomics. Kernel of
// the epilogue backward: shaders/epilogue_backward.wgsl.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { blockLayout, checkFloat, columnSums, finishColumnSums } from './colsum.js';
import { elementwise } from './elementwise.js';
import type { Epilogue } from './matmul.js';

/** dx = dy * silu'(x), x the forward input. */
export const siluBackward = (x: Tensor, dy: Tensor, out?: Tensor) => elementwise('silu_backward', [x, sameShape('silu_backward', x, dy)], { out, dtype: dy.dtype });
/** dx = dy * gelu_tanh'(x), x the forward input. */
export const geluTanhBackward = (x: Tensor, dy: Tensor, out?: Tensor) => elementwise('gelu_tanh_backward', [x, sameShape('gelu_tanh_backward', x, dy)], { out, dtype: dy.dtype });

/** dx = dy where lo <= x <= hi, else 0 (x the forward input of clamp(x, lo, hi)). */
export const clampBackward = (x: Tensor, dy: Tensor, lo: number, hi: number, out?: Tensor) =>
  elementwise('clamp_backward', [x, sameShape('clamp_backward', x, dy)], { out, dtype: dy.dtype, alpha: lo, beta: hi });

function sameShape(op: string, x: Tensor, dy: Tensor): Tensor {
  if (dy.numel !== x.numel) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] must have the shape of x [${x.shape.join(', ')}]`);
  return dy;
}

/** Rows of the trailing broadcast: x [n] with a vector of m values (m divides n) seen as [n / m, m]. */
function asRows(op: string, t: Tensor, m: number): Tensor {
  if (!m || t.numel % m) throw new ShapeError(`${op}: a [${m}]-element operand does not broadcast over [${t.shape.join(', ')}] (its size must divide ${t.numel})`);
  return t.reshape([t.numel / m, m]);
}

/** A view of t in another shape; t's own handle is released (the storage lives on in the view). */
function reshaped(t: Tensor, shape: readonly number[]): Tensor {
  const v = t.reshape(shape);
  t.dispose();
  return v;
}

export interface ModulateGrads {
  dx: Tensor;
  /** f32, shaped [m] like the broadcast scale / shift. */
  dscale: Tensor;
  dshift: Tensor;
}

/**
 * Backward of modulate(x, scale, shift) = x * (1 + scale) + shift with scale, shift broadcast over leading axes
 * (elementwise.ts): dx = dy (1 + scale), dscale = sum over the broadcast rows of dy x, dshift = sum of dy.
 */
export function modulateBackward(x: Tensor, scaleT: Tensor, dy: Tensor): ModulateGrads {
  const op = 'modulate_backward';
  sameShape(op, x, dy);
  const m = scaleT.numel;
  const dyRows = asRows(op, dy, m);
  const xRows = asRows(op, x, m);
  const dx = elementwise('mul_1p', [dy, scaleT]);
  const dscale = reshaped(columnSums(dyRows, { b: xRows }, op), scaleT.shape);
  const dshift = reshaped(columnSums(dyRows, {}, op), scaleT.shape);
  dyRows.dispose();
  xRows.dispose();
  return { dx, dscale, dshift };
}

export interface GatedAddGrads {
  /** dx = dy: the residual passes the gradient through (returned as dy itself). */
  dx: Tensor;
  /** dy of the branch: dy * gate. */
  dy: Tensor;
  /** f32, shaped like the gate: sum over the broadcast rows of dy * y. */
  dgate: Tensor;
}

/** Backward of gatedAdd(x, gate, y) = x + gate * y (gate broadcast over leading axes). */
export function gatedAddBackward(gate: Tensor, y: Tensor, dy: Tensor): GatedAddGrads {
  const op = 'gated_add_backward';
  sameShape(op, y, dy);
  const m = gate.numel;
  const dyRows = asRows(op, dy, m);
  const yRows = asRows(op, y, m);
  const dgate = reshaped(columnSums(dyRows, { b: yRows }, op), gate.shape);
  dyRows.dispose();
  yRows.dispose();
  return { dx: dy, dy: elementwise('mul', [dy, gate]), dgate };
}

export interface EpilogueBackwardOptions {
  epilogue?: Epilogue;
  /** The gated residual's gate [G, N] (rows split evenly into G groups, as linear() takes it); omit for no gate. */
  gate?: Tensor;
  /** Write dz here (shape and dtype of dy). */
  dz?: Tensor;
  /** Add dgate into this tensor (shaped like the gate) instead of a new one. */
  dgate?: Tensor;
  accumulate?: boolean;
  blockRows?: number;
}

/**
 * Backward of the linear's epilogue y = [residual +] [gate *] act(z) for dy [M, N] and the saved pre-activation z
 * (x W^T + b): dz = dy * gate * act'(z) and dgate = sums over each gate group's rows of dy * act(z). The residual's
 * gradient is dy itself; the linear's db is linearBiasBackward(dz).
 */
export function linearEpilogueBackward(dy: Tensor, z: Tensor, opts: EpilogueBackwardOptions = {}): { dz: Tensor; dgate?: Tensor } {
  const op = 'linear_epilogue_backward';
  const device = dy.device;
  checkFloat(op, 'dy', dy);
  checkFloat(op, 'z', z);
  sameShape(op, z, dy);
  const n = dy.shape[dy.shape.length - 1];
  if (!dy.shape.length || !n) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] needs a non-empty last axis`);
  const rows = dy.numel / n;
  const ep = opts.epilogue ?? 'none';
  if (ep !== 'none' && ep !== 'gelu_tanh' && ep !== 'silu') throw new ShapeError(`${op}: epilogue '${String(ep)}' has no backward (none, gelu_tanh, silu)`);
  const gate = opts.gate;
  let groups = 1;
  if (gate) {
    checkFloat(op, 'gate', gate);
    groups = gate.numel / n;
    if (!Number.isInteger(groups) || groups < 1 || rows % groups) {
      throw new ShapeError(`${op}: gate [${gate.shape.join(', ')}] must be [G, ${n}] with G dividing the ${rows} rows of dy [${dy.shape.join(', ')}]`);
    }
  }
  const dz = opts.dz ?? Tensor.empty(device, dy.shape, dy.dtype, `${op} dz`);
  if (dz.numel !== dy.numel || dz.dtype !== dy.dtype) throw new ShapeError(`${op}: dz ${dz.dtype}[${dz.shape.join(', ')}] must match dy ${dy.dtype}[${dy.shape.join(', ')}]`);
  const L = blockLayout(op, rows, groups, opts.blockRows);
  const partials = gate ? Tensor.empty(device, [L.nb, n], 'f32', `${op} partials`) : undefined;
  device.dispatch({
    op, kernel: 'epilogue_backward',
    defines: { TD: dy.dtype, TZ: z.dtype, TG: gate?.dtype ?? 'f32', GELU: ep === 'gelu_tanh', SILU: ep === 'silu', GATE: !!gate },
    params: [u32(rows), u32(n), u32(L.rowsPerItem), u32(L.blockRows), u32(L.blocksPerItem), u32(L.nb)],
    bindings: gate ? [dy, z, gate, dz, partials!] : [dy, z, dz],
    workgroups: [ceilDiv(n, 64), L.nb],
  });
  if (!gate) return { dz };
  const dgate = opts.dgate ?? Tensor.empty(device, gate.shape, 'f32', `${op} dgate`);
  if (dgate.numel !== gate.numel) throw new ShapeError(`${op}: dgate [${dgate.shape.join(', ')}] must have the shape of the gate [${gate.shape.join(', ')}]`);
  finishColumnSums(op, partials!, { d: n, segs: groups, perSeg: L.blocksPerItem, out: dgate, accumulate: opts.accumulate });
  partials!.dispose();
  return { dz, dgate };
}

/** db of a linear: column sums of dz [..., N] (deterministic), written or added into `out`. */
export function linearBiasBackward(dz: Tensor, opts: { out?: Tensor; accumulate?: boolean; blockRows?: number } = {}): Tensor {
  return columnSums(dz, { out: opts.out, accumulate: opts.accumulate, blockRows: opts.blockRows }, 'linear_bias_backward');
}
