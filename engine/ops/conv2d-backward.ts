// Backward of conv2d (engine/ops/conv2d.ts) and of the standalone nearest-2x upsampling on GPU tensors: dX as a
// transposed convolution, dW as a correlation of X with dY in per-block partials then a fixed-order sum, db as
// row sums of dY per (item, channel) then over items in order. Deterministic (fixed summation order, no atomics).
// Variants (engine/ops/registry.ts; PARALLAX_KERNEL_CONV2D_BACKWARD_DX / _DW or opts.dxVariant / dwVariant):
//   dX: conv2d_dx_conv (a stride-1 convolution of dy, read with stride - 1 zeros between neighbours, with the
//       flipped, channel-transposed kernel on the register-tiled conv2d_regs.wgsl; with the fused upsample, at the upsampled size then the 2x2 block sums of
//       resample.wgsl; top / left padding <= kernel - 1), conv2d_dx_direct (shaders/conv2d_backward.wgsl DX).
//   dW: conv2d_dw_gemm (shaders/conv2d_dw.wgsl: split-K implicit GEMM over pixel blocks, register tiles), conv2d_dw_direct
//       (conv2d_backward.wgsl DW); both finish with shaders/colsum.wgsl (FINISH) over the blocks in order.
// Kernels: shaders/conv2d_backward.wgsl, conv2d_dw.wgsl, conv2d_regs.wgsl, resample.wgsl (BACKWARD).

import type { Device } from '../gpu/device.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { checkFloat, columnSums, finishColumnSums } from './colsum.js';
import { dispatchConv2d, zeroBias, type Conv2dSpec, type Padding } from './conv2d.js';
import { reduce } from './reduce.js';
import { pickVariant, registerVariant } from './registry.js';

export interface Conv2dDxSpec { kernel: 'conv' | 'direct' }
export interface Conv2dDwSpec { kernel: 'gemm' | 'direct' }
registerVariant<Conv2dDxSpec>({ op: 'conv2d_backward_dx', name: 'conv2d_dx_direct', spec: { kernel: 'direct' }, priority: 0 });
registerVariant<Conv2dDxSpec>({ op: 'conv2d_backward_dx', name: 'conv2d_dx_conv', spec: { kernel: 'conv' }, priority: 10 });
registerVariant<Conv2dDwSpec>({ op: 'conv2d_backward_dw', name: 'conv2d_dw_direct', spec: { kernel: 'direct' }, priority: 0 });
registerVariant<Conv2dDwSpec>({ op: 'conv2d_backward_dw', name: 'conv2d_dw_gemm', spec: { kernel: 'gemm' }, priority: 10 });

/** Whether conv2d_dx_conv can compute this dX (padding at most kernel - 1 on the top / left; any stride). */
export function dxConvApplies(pad: Padding, KH: number, KW: number): boolean {
  return pad.top <= KH - 1 && pad.left <= KW - 1;
}

/** Pixels per dW block of conv2d_dw_gemm: ~32 blocks, 256..4096 pixels, a multiple of 16 (depends on the shape only). */
export function dwChunk(pixels: number): number {
  const r16 = (v: number) => Math.ceil(v / 16) * 16;
  return Math.max(r16(Math.ceil(pixels / 65535)), Math.min(4096, Math.max(256, r16(Math.ceil(pixels / 32)))));
}

export interface Conv2dBackwardOptions {
  /** The forward's stride, padding and upsample flag. */
  stride?: number;
  padding?: number | Padding;
  upsample?: boolean;
  /** Compute db (the forward had a bias). */
  bias?: boolean;
  /** Skip dX (the first layer of a network). */
  skipDx?: boolean;
  dx?: Tensor;
  /** Gradient tensors to write or add into: weight like w, bias [Cout] (default new f32 ones). */
  grads?: { weight?: Tensor; bias?: Tensor };
  accumulate?: boolean;
  /** Output rows (n, oy) per dW partial block of conv2d_dw_direct (tests and tuning; default 16). */
  blockRows?: number;
  /** Pixels per dW block of conv2d_dw_gemm (a multiple of 16; tests; default dwChunk(N*Ho*Wo)). */
  chunk?: number;
  /** Force a dX / dW variant (else PARALLAX_KERNEL_CONV2D_BACKWARD_DX / _DW, else the fastest that applies). */
  dxVariant?: string;
  dwVariant?: string;
  /** conv2d_dw_gemm channels per invocation (benchmarks; default dwTile(Cout)). */
  dwTile?: number;
}

/** conv2d_dw_gemm's channels per invocation: 4 or 8 for few channels (conv_out's 3), else 16. */
export function dwTile(Cout: number): number {
  return Cout <= 4 ? 4 : Cout <= 8 ? 8 : 16;
}

const env = (name: string) => (typeof process !== 'undefined' ? process.env?.[name] : undefined);

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

interface Geometry { N: number; Cin: number; H: number; W: number; Cout: number; KH: number; KW: number; stride: number; pad: Padding; Ho: number; Wo: number }

function geometry(op: string, x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dBackwardOptions): Geometry {
  const rank3 = x.shape.length === 3;
  if (!rank3 && x.shape.length !== 4) throw new ShapeError(`${op}: input must be [N, Cin, H, W] or [Cin, H, W], got ${fmt(x)}`);
  const [N, Cin, H, W] = (rank3 ? [1, ...x.shape] : x.shape) as [number, number, number, number];
  if (w.shape.length !== 4 || w.shape[1] !== Cin) throw new ShapeError(`${op}: weight must be [Cout, ${Cin}, KH, KW] for input ${fmt(x)}, got ${fmt(w)}`);
  const [Cout, , KH, KW] = w.shape as [number, number, number, number];
  checkFloat(op, 'x', x);
  if (w.dtype !== x.dtype || dy.dtype !== x.dtype) throw new ShapeError(`${op}: x ${fmt(x)}, w ${fmt(w)} and dy ${fmt(dy)} must share a dtype`);
  const stride = opts.stride ?? 1;
  const pad = typeof opts.padding === 'object' ? opts.padding : { top: opts.padding ?? 0, bottom: opts.padding ?? 0, left: opts.padding ?? 0, right: opts.padding ?? 0 };
  const up = opts.upsample ? 2 : 1;
  const Ho = Math.floor((H * up + pad.top + pad.bottom - KH) / stride) + 1;
  const Wo = Math.floor((W * up + pad.left + pad.right - KW) / stride) + 1;
  if (!(Ho >= 1 && Wo >= 1) || !Number.isInteger(stride) || stride < 1) throw new ShapeError(`${op}: kernel ${KH}x${KW} stride ${stride} padding ${JSON.stringify(pad)} gives no output for input ${H * up}x${W * up}`);
  const dyShape = rank3 ? [Cout, Ho, Wo] : [N, Cout, Ho, Wo];
  if (dy.shape.length !== dyShape.length || dy.shape.some((d, i) => d !== dyShape[i])) throw new ShapeError(`${op}: dy is ${fmt(dy)}, expected the forward's output ${x.dtype}[${dyShape.join(', ')}]`);
  return { N, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo };
}

/** dX alone of conv2d(x, w, opts) for dy (what conv2dBackward computes unless skipDx; benchmarks). */
export function conv2dBackwardDx(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dBackwardOptions = {}): Tensor {
  const op = 'conv2d_backward';
  const g = geometry(op, x, w, dy, opts);
  const { N, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo } = g;
  const device = x.device;
  const dx = opts.dx ?? Tensor.empty(device, x.shape, x.dtype, `${op} dx`);
  if (dx.numel !== x.numel || dx.dtype !== x.dtype) throw new ShapeError(`${op}: dx ${fmt(dx)} must match x ${fmt(x)}`);
  const forced = opts.dxVariant ?? env('PARALLAX_KERNEL_CONV2D_BACKWARD_DX');
  const conv = dxConvApplies(pad, KH, KW);
  const v = pickVariant<Conv2dDxSpec>('conv2d_backward_dx', device, forced ?? (conv ? 'conv2d_dx_conv' : 'conv2d_dx_direct'));
  if (v.spec.kernel === 'conv') {
    if (!conv) throw new ShapeError(`${op}: ${v.name} needs top / left padding <= kernel - 1 (got ${JSON.stringify(pad)} for a ${KH}x${KW} kernel); use conv2d_dx_direct`);
    dxByConvolution(device, dy, w, dx, { N, Cin, H, W, Cout, Ho, Wo, KH, KW, pad, stride, up: !!opts.upsample });
  } else {
    device.dispatch({
      op, kernel: 'conv2d_backward', defines: { T: x.dtype, KH, KW, UPSAMPLE: !!opts.upsample, DX: true }, bindings: [dy, w, dx],
      params: [N, Cin, H, W, Cout, Ho, Wo, stride, pad.top, pad.left, 0, 0, w.numel].map(u32),
      workgroups: grid2D(ceilDiv(x.numel, 256), device.caps.maxComputeWorkgroupsPerDimension), flops: 2 * N * Cout * Ho * Wo * Cin * KH * KW,
    });
  }
  return dx;
}

/** Gradients of conv2d(x, w, opts) for dy [N, Cout, Ho, Wo] (or [Cout, Ho, Wo]). The residual's gradient is dy. */
export function conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dBackwardOptions = {}): { dx?: Tensor; dweight: Tensor; dbias?: Tensor } {
  const op = 'conv2d_backward';
  const { N, Cin, H, W, Cout, KH, KW, stride, pad, Ho, Wo } = geometry(op, x, w, dy, opts);
  const device = x.device;
  const params = (blockRows: number, nb: number) => [N, Cin, H, W, Cout, Ho, Wo, stride, pad.top, pad.left, blockRows, nb, w.numel].map(u32);
  const defines = { T: x.dtype, KH, KW, UPSAMPLE: !!opts.upsample };
  const res: { dx?: Tensor; dweight: Tensor; dbias?: Tensor } = { dweight: opts.grads?.weight ?? Tensor.empty(device, w.shape, 'f32', `${op} dw`) };
  if (res.dweight.numel !== w.numel) throw new ShapeError(`${op}: grads.weight ${fmt(res.dweight)} must have the shape of w ${fmt(w)}`);
  checkFloat(op, 'grads.weight', res.dweight);

  if (!opts.skipDx) res.dx = conv2dBackwardDx(x, w, dy, opts);

  const dwv = pickVariant<Conv2dDwSpec>('conv2d_backward_dw', device, opts.dwVariant ?? env('PARALLAX_KERNEL_CONV2D_BACKWARD_DW'));
  const flops = 2 * N * Cout * Ho * Wo * Cin * KH * KW;
  let partials: Tensor;
  let nb: number;
  if (dwv.spec.kernel === 'gemm') {
    const pixels = N * Ho * Wo;
    const chunk = opts.chunk ?? dwChunk(pixels);
    if (!(Number.isInteger(chunk) && chunk >= 16 && chunk % 16 === 0 && ceilDiv(pixels, chunk) <= 65535)) throw new ShapeError(`${op}: chunk must be a multiple of 16 giving at most 65535 blocks, got ${chunk}`);
    nb = ceilDiv(pixels, chunk);
    const K = Cin * KH * KW;
    const TM = opts.dwTile ?? dwTile(Cout);
    partials = Tensor.empty(device, [nb, w.numel], 'f32', `${op} dw partials`);
    device.dispatch({
      op, kernel: 'conv2d_dw', defines: { T: x.dtype, KH, KW, UPSAMPLE: !!opts.upsample, TM }, bindings: [dy, x, partials], flops,
      params: [N, Cin, H, W, Cout, Ho, Wo, stride, pad.top, pad.left, K, chunk, nb].map(u32),
      workgroups: [ceilDiv(K, 64), ceilDiv(Cout, TM), nb],
    });
  } else {
    const rows = N * Ho;
    let blockRows = Math.max(1, Math.min(opts.blockRows ?? 16, rows));
    while (ceilDiv(rows, blockRows) > 65535) blockRows *= 2;
    nb = ceilDiv(rows, blockRows);
    partials = Tensor.empty(device, [nb, w.numel], 'f32', `${op} dw partials`);
    device.dispatch({
      op, kernel: 'conv2d_backward', defines: { ...defines, DW: true }, params: params(blockRows, nb), bindings: [dy, x, partials],
      workgroups: [ceilDiv(w.numel, 64), nb], flops,
    });
  }
  finishColumnSums(op, partials, { d: w.numel, segs: 1, perSeg: nb, out: res.dweight, accumulate: opts.accumulate });
  partials.dispose();

  if (opts.bias) {
    // Per (item, channel) plane sums (row reductions), then the items in order.
    const planes = dy.reshape([N * Cout, Ho * Wo]);
    const sums = reduce('sum', planes);
    const perItem = sums.reshape([N, Cout]);
    res.dbias = columnSums(perItem, { out: opts.grads?.bias, accumulate: opts.accumulate }, op);
    for (const t of [planes, sums, perItem]) t.dispose();
  }
  return res;
}

/** dX as the stride-1 convolution of dy [N, Cout, Ho, Wo] (stride s: seen with s - 1 zeros between neighbours) with
 *  w flipped and channel-transposed, padding KH-1-top / KW-1-left, to the (upsampled) input size; with the fused
 *  upsample, then the 2x2 block sums. */
function dxByConvolution(device: Device, dy: Tensor, w: Tensor, dx: Tensor,
  g: { N: number; Cin: number; H: number; W: number; Cout: number; Ho: number; Wo: number; KH: number; KW: number; pad: Padding; stride: number; up: boolean }): void {
  const He = g.H * (g.up ? 2 : 1);
  const We = g.W * (g.up ? 2 : 1);
  const spec: Conv2dSpec = { kernel: 'conv2d_regs', tileM: g.Cin <= 4 ? 4 : g.Cin <= 8 ? 8 : 16 };
  const full = g.up ? Tensor.empty(device, [g.N, g.Cin, He, We], dx.dtype, 'conv2d_backward dx upsampled') : dx;
  dispatchConv2d(spec, { x: dy, w, bias: zeroBias(device, g.Cin, dx.dtype), out: full }, {
    N: g.N, Cin: g.Cout, H: g.Ho, W: g.Wo, Cout: g.Cin, Ho: He, Wo: We, stride: 1, top: g.KH - 1 - g.pad.top, left: g.KW - 1 - g.pad.left,
    KH: g.KH, KW: g.KW, upsample: false, flipW: true, dilate: g.stride,
  }, 'conv2d_backward');
  if (g.up) {
    const view = dx.reshape([g.N, g.Cin, g.H, g.W]);
    upsampleNearest2xBackward(full, view);
    view.dispose();
    full.dispose();
  }
}

/** Backward of upsampleNearest2x: dy [..., 2H, 2W] -> dx [..., H, W], each element the sum of its 2x2 block. */
export function upsampleNearest2xBackward(dy: Tensor, out?: Tensor): Tensor {
  const op = 'upsample_nearest2x_backward';
  const r = dy.shape.length;
  if (r < 2 || dy.shape[r - 2]! % 2 || dy.shape[r - 1]! % 2) throw new ShapeError(`${op}: dy must be [..., 2H, 2W] (even last two axes), got ${fmt(dy)}`);
  checkFloat(op, 'dy', dy);
  const [H, W] = [dy.shape[r - 2]! / 2, dy.shape[r - 1]! / 2];
  const shape = [...dy.shape.slice(0, r - 2), H, W];
  const o = out ?? Tensor.empty(dy.device, shape, dy.dtype, op);
  if (o.dtype !== dy.dtype || o.shape.length !== r || o.shape.some((d, i) => d !== shape[i])) throw new ShapeError(`${op}: out is ${fmt(o)}, expected ${dy.dtype}[${shape.join(', ')}]`);
  dy.device.dispatch({
    op, kernel: 'resample', defines: { T: dy.dtype, BACKWARD: true }, params: [u32(o.numel), u32(H), u32(W)],
    bindings: [dy, o], workgroups: grid2D(ceilDiv(o.numel, 256), dy.device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
