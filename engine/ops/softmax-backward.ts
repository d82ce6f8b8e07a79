// Backward of softmax along one axis (engine/ops/softmax.ts) from its saved output: dx = y (dy - sum(dy y)).
// Kernel: shaders/softmax_backward.wgsl (a row kernel for the last axis, variants softmax_backward_multirow /
// _narrow, and a strided kernel for other axes).

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { checkFloat } from './colsum.js';
import { registerVariant } from './registry.js';
import { pickRowVariant, type RowSpec } from './row-variants.js';

registerVariant<RowSpec>({ op: 'softmax_backward', name: 'softmax_backward_multirow', spec: { rows: 8, threadsPerRow: 32 }, priority: 1 });
registerVariant<RowSpec>({ op: 'softmax_backward', name: 'softmax_backward_narrow', spec: { rows: 32, threadsPerRow: 8 }, priority: 0 });

export interface SoftmaxBackwardOptions {
  /** dx goes here (shape and dtype of dy). */
  out?: Tensor;
  variant?: string;
}

/** dx of y = softmax(x, axis) for dy, from y itself (the forward's output). */
export function softmaxBackward(y: Tensor, dy: Tensor, axis = -1, opts: SoftmaxBackwardOptions = {}): Tensor {
  const op = 'softmax_backward';
  const device = y.device;
  const shape = y.shape;
  const ax = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= shape.length) throw new ShapeError(`${op}: axis ${axis} is out of range for y [${shape.join(', ')}]`);
  checkFloat(op, 'y', y);
  checkFloat(op, 'dy', dy);
  if (dy.numel !== y.numel) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] must have the shape of y [${shape.join(', ')}]`);
  const out = opts.out ?? Tensor.empty(device, shape, dy.dtype, op);
  if (out.numel !== y.numel || out.dtype !== dy.dtype) throw new ShapeError(`${op}: out ${out.dtype}[${out.shape.join(', ')}] must match dy ${dy.dtype}[${dy.shape.join(', ')}]`);
  if (out.buffer === y.buffer || out.buffer === dy.buffer) throw new ShapeError(`${op}: out must not alias y or dy; pass a fresh tensor`);
  if (y.numel === 0) return out;
  const k = shape[ax]!;
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;
  if (inner === 1) {
    const v = pickRowVariant(op, device, k, opts.variant);
    device.dispatch({
      op, kernel: 'softmax_backward', defines: { T: y.dtype, TD: dy.dtype, ROW: true, ROWS: v.spec.rows, TPR: v.spec.threadsPerRow },
      params: [u32(outer), u32(k), u32(1)], bindings: [y, dy, out], workgroups: grid2D(ceilDiv(outer, v.spec.rows), maxWg),
    });
  } else {
    device.dispatch({
      op, kernel: 'softmax_backward', defines: { T: y.dtype, TD: dy.dtype, STRIDED: true },
      params: [u32(outer * inner), u32(k), u32(inner)], bindings: [y, dy, out], workgroups: grid2D(ceilDiv(outer * inner, 256), maxWg),
    });
  }
  return out;
}
