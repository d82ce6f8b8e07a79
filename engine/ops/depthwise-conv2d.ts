// Depthwise 2-D convolution, channels last (shaders/depthwise_conv2d.wgsl): x [N, H, W, C] (or [H, W, C]) with one
// KH x KW kernel per channel, w [KH, KW, C] (timm's [C, 1, KH, KW] conv_dw weight transposed at load time), zero
// padding, any stride, bias and SiLU fused (a BatchNorm folds into w and the bias). EfficientNet's conv_dw.
// Float64 reference: depthwise-conv2d.ref.ts.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { zeroBias, type Padding } from './conv2d.js';

export interface DepthwiseConv2dOptions {
  /** [C]; default zero. */
  bias?: Tensor;
  stride?: number;
  /** Symmetric padding or per side. Default 0. */
  padding?: number | Padding;
  /** Activation after the bias. Default 'none'. */
  act?: 'none' | 'silu';
  out?: Tensor;
}

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** PyTorch's symmetric padding for a k x k kernel at this stride (timm's non-TF EfficientNets): ((s - 1) + (k - 1)) / 2. */
export function symmetricPadding(kernel: number, stride: number): number {
  return Math.floor((stride - 1 + (kernel - 1)) / 2);
}

/** The output size of a convolution along one axis. */
export function convOutSize(size: number, kernel: number, stride: number, before: number, after: number): number {
  return Math.floor((size + before + after - kernel) / stride) + 1;
}

/** x [N, H, W, C] (or [H, W, C]) * w [KH, KW, C] per channel -> [N, Ho, Wo, C] (or [Ho, Wo, C]). */
export function depthwiseConv2d(x: Tensor, w: Tensor, opts: DepthwiseConv2dOptions = {}): Tensor {
  const rank3 = x.shape.length === 3;
  if (!rank3 && x.shape.length !== 4) throw new ShapeError(`depthwiseConv2d: input must be [N, H, W, C] or [H, W, C] (channels last), got ${fmt(x)}`);
  const [N, H, W, C] = (rank3 ? [1, ...x.shape] : x.shape) as [number, number, number, number];
  if (w.shape.length !== 3 || w.shape[2] !== C) throw new ShapeError(`depthwiseConv2d: weight must be [KH, KW, ${C}] for input ${fmt(x)}, got ${fmt(w)}`);
  const [KH, KW] = w.shape as [number, number, number];
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`depthwiseConv2d: dtype must be f32 or f16, got ${x.dtype}`);
  if (w.dtype !== x.dtype) throw new ShapeError(`depthwiseConv2d: weight ${fmt(w)} and input ${fmt(x)} dtypes differ; cast one`);
  const stride = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const pad = typeof p === 'object' ? p : { top: p, bottom: p, left: p, right: p };
  if (!Number.isInteger(stride) || stride < 1) throw new ShapeError(`depthwiseConv2d: stride must be a positive integer, got ${stride}`);
  if ([pad.top, pad.bottom, pad.left, pad.right].some((v) => !Number.isInteger(v) || v < 0)) throw new ShapeError(`depthwiseConv2d: padding must be non-negative integers, got ${JSON.stringify(pad)}`);
  const Ho = convOutSize(H, KH, stride, pad.top, pad.bottom);
  const Wo = convOutSize(W, KW, stride, pad.left, pad.right);
  if (!(Ho >= 1 && Wo >= 1)) throw new ShapeError(`depthwiseConv2d: kernel ${KH}x${KW} stride ${stride} padding ${JSON.stringify(pad)} gives no output for input ${H}x${W}`);
  const outShape = rank3 ? [Ho, Wo, C] : [N, Ho, Wo, C];
  const device = x.device;
  if (opts.bias && (opts.bias.numel !== C || opts.bias.dtype !== x.dtype)) throw new ShapeError(`depthwiseConv2d: bias is ${fmt(opts.bias)}, expected ${x.dtype}[${C}]`);
  const out = opts.out ?? Tensor.empty(device, outShape, x.dtype, 'depthwise_conv2d');
  if (out.dtype !== x.dtype || out.shape.length !== outShape.length || out.shape.some((d, i) => d !== outShape[i])) {
    throw new ShapeError(`depthwiseConv2d: out is ${fmt(out)}, expected ${x.dtype}[${outShape.join(', ')}]`);
  }
  const bias = opts.bias ?? zeroBias(device, C, x.dtype);
  const n = N * Ho * Wo * C;
  device.dispatch({
    op: 'depthwise_conv2d', kernel: 'depthwise_conv2d', defines: { T: x.dtype, KH, KW, SILU: opts.act === 'silu' },
    params: [N, H, W, C, Ho, Wo, stride, pad.top, pad.left, n].map(u32), bindings: [x, w, bias, out], flops: 2 * n * KH * KW,
    workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
