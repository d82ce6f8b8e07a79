// Softmax over one axis of a GPU tensor (max-subtracted, f32 math): a row kernel for the last axis (variants
// softmax_row / softmax_multirow) and a strided kernel for other axes. Kernel: shaders/softmax.wgsl.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { pickRowVariant, registerRowVariants, rowDefines } from './row-variants.js';

registerRowVariants('softmax');

export interface SoftmaxOptions {
  out?: Tensor;
  variant?: string;
}

/** softmax(x) along `axis` (negative counts from the end): exp(x - max) / sum(exp(x - max)). */
export function softmax(x: Tensor, axis = -1, opts: SoftmaxOptions = {}): Tensor {
  const device = x.device;
  const shape = x.shape;
  const ax = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(ax) || ax < 0 || ax >= shape.length) throw new ShapeError(`softmax: axis ${axis} is out of range for x [${shape.join(', ')}]`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`softmax: x must be f32 or f16, got ${x.dtype}`);
  const k = shape[ax]!;
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const out = opts.out ?? Tensor.empty(device, shape, x.dtype, 'softmax');
  if (out.numel !== x.numel || out.dtype !== x.dtype) throw new ShapeError(`softmax: out ${out.dtype}[${out.shape.join(', ')}] must match x ${x.dtype}[${shape.join(', ')}]`);
  if (out.buffer === x.buffer) throw new ShapeError('softmax: out must not alias x; pass a fresh tensor');
  if (x.numel === 0) return out;
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;
  if (inner === 1) {
    const vec: 1 | 4 = k % 4 === 0 ? 4 : 1;
    const v = pickRowVariant('softmax', device, k / vec, opts.variant);
    device.dispatch({
      op: 'softmax', kernel: 'softmax', defines: { ...rowDefines(v.spec, vec), T: x.dtype, ROW: true },
      params: [u32(outer), u32(k / vec), u32(1)], bindings: [x, out], workgroups: grid2D(ceilDiv(outer, v.spec.rows), maxWg),
    });
  } else {
    device.dispatch({
      op: 'softmax', kernel: 'softmax', defines: { T: x.dtype, STRIDED: true, VEC: 1, VEC4: false },
      params: [u32(outer * inner), u32(k), u32(inner)], bindings: [x, out], workgroups: grid2D(ceilDiv(outer * inner, 256), maxWg),
    });
  }
  return out;
}
