// Backward of conv2d (engine/ops/conv2d.ts) and of the standalone nearest-2x upsampling on GPU tensors: dX as a
// transposed convolution, dW as a correlation of X with dY in per-block partials then a fixed-order sum, db as
// row sums of dY per (item, channel) then over items in order. Deterministic; direct kernels, not tuned.
// Kernels: shaders/conv2d_backward.wgsl, shaders/resample.wgsl (BACKWARD).

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { checkFloat, columnSums, finishColumnSums } from './colsum.js';
import type { Padding } from './conv2d.js';
import { reduce } from './reduce.js';

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
  /** Output rows (n, oy) per dW partial block (tests and tuning; default 16). */
  blockRows?: number;
}

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** Gradients of conv2d(x, w, opts) for dy [N, Cout, Ho, Wo] (or [Cout, Ho, Wo]). The residual's gradient is dy. */
export function conv2dBackward(x: Tensor, w: Tensor, dy: Tensor, opts: Conv2dBackwardOptions = {}): { dx?: Tensor; dweight: Tensor; dbias?: Tensor } {
  const op = 'conv2d_backward';
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
  const device = x.device;
  const params = (blockRows: number, nb: number) => [N, Cin, H, W, Cout, Ho, Wo, stride, pad.top, pad.left, blockRows, nb, w.numel].map(u32);
  const defines = { T: x.dtype, KH, KW, UPSAMPLE: !!opts.upsample };
  const res: { dx?: Tensor; dweight: Tensor; dbias?: Tensor } = { dweight: opts.grads?.weight ?? Tensor.empty(device, w.shape, 'f32', `${op} dw`) };
  if (res.dweight.numel !== w.numel) throw new ShapeError(`${op}: grads.weight ${fmt(res.dweight)} must have the shape of w ${fmt(w)}`);
  checkFloat(op, 'grads.weight', res.dweight);

  if (!opts.skipDx) {
    const dx = opts.dx ?? Tensor.empty(device, x.shape, x.dtype, `${op} dx`);
    if (dx.numel !== x.numel || dx.dtype !== x.dtype) throw new ShapeError(`${op}: dx ${fmt(dx)} must match x ${fmt(x)}`);
    device.dispatch({
      op, kernel: 'conv2d_backward', defines: { ...defines, DX: true }, params: params(0, 0), bindings: [dy, w, dx],
      workgroups: grid2D(ceilDiv(x.numel, 256), device.caps.maxComputeWorkgroupsPerDimension),
    });
    res.dx = dx;
  }

  const rows = N * Ho;
  let blockRows = Math.max(1, Math.min(opts.blockRows ?? 16, rows));
  while (ceilDiv(rows, blockRows) > 65535) blockRows *= 2;
  const nb = ceilDiv(rows, blockRows);
  const partials = Tensor.empty(device, [nb, w.numel], 'f32', `${op} dw partials`);
  device.dispatch({
    op, kernel: 'conv2d_backward', defines: { ...defines, DW: true }, params: params(blockRows, nb), bindings: [dy, x, partials],
    workgroups: [ceilDiv(w.numel, 64), nb],
  });
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
