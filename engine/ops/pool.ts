// 2-D max pooling of NCHW tensors (shaders/pool.wgsl): VGG's 2x2 stride-2 pools and CRAFT's 3x3 stride-1 pad-1
// pool; PyTorch's MaxPool2d semantics (padding never wins: it is -inf; floor mode; no dilation).

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

registerVariant({ op: 'max_pool2d', name: 'max_pool2d', spec: { kernel: 'pool' } });

export interface MaxPoolOptions {
  /** Window side (square). */
  kernel: number;
  /** Default: the kernel (non-overlapping windows). */
  stride?: number;
  /** Symmetric padding, at most kernel / 2 (PyTorch's rule). Default 0. */
  padding?: number;
  out?: Tensor;
}

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** Output side of a floor-mode pool. */
export const poolSize = (n: number, k: number, s: number, p: number) => Math.floor((n + 2 * p - k) / s) + 1;

/** x [..., H, W] -> [..., Ho, Wo], each output the max of its window. */
export function maxPool2d(x: Tensor, o: MaxPoolOptions): Tensor {
  const r = x.shape.length;
  if (r < 2) throw new ShapeError(`maxPool2d: input must be [..., H, W], got ${fmt(x)}`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`maxPool2d: dtype must be f32 or f16, got ${x.dtype}`);
  const k = o.kernel, s = o.stride ?? o.kernel, p = o.padding ?? 0;
  if (![k, s].every((v) => Number.isInteger(v) && v >= 1) || !Number.isInteger(p) || p < 0 || 2 * p > k) {
    throw new ShapeError(`maxPool2d: kernel ${k}, stride ${s}, padding ${p}: kernel and stride must be positive integers and 0 <= padding <= kernel / 2`);
  }
  const [H, W] = [x.shape[r - 2]!, x.shape[r - 1]!];
  const Ho = poolSize(H, k, s, p), Wo = poolSize(W, k, s, p);
  if (Ho < 1 || Wo < 1) throw new ShapeError(`maxPool2d: a ${k}x${k} window (padding ${p}) does not fit the ${H}x${W} input ${fmt(x)}`);
  const shape = [...x.shape.slice(0, r - 2), Ho, Wo];
  const out = o.out ?? Tensor.empty(x.device, shape, x.dtype, 'max_pool2d');
  if (out.dtype !== x.dtype || out.shape.length !== r || out.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`maxPool2d: out is ${fmt(out)}, expected ${x.dtype}[${shape.join(', ')}]`);
  }
  const n = out.numel;
  x.device.dispatch({
    op: 'max_pool2d', kernel: 'pool', defines: { T: x.dtype, KH: k, KW: k },
    params: [n, H, W, Ho, Wo, s, p, p].map(u32), bindings: [x, out],
    workgroups: grid2D(ceilDiv(n, 256), x.device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
