// Backward of GroupNorm (+ affine, + SiLU) on GPU tensors x [N, C, ...] (engine/ops/groupnorm.ts): statistics
// recomputed by the forward's own stages, per-plane sums tree-reduced in shared memory, per-group means, then dx;
// dweight / dbias add the plane sums over items in order (colsum.ts). Deterministic: no atomics anywhere.
// Kernel: shaders/groupnorm_backward.wgsl.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { checkFloat, finishColumnSums } from './colsum.js';
import { groupNormStats } from './groupnorm.js';
import { isCpuAdapter } from './row-variants.js';

export interface GroupNormBackwardOptions {
  silu?: boolean;
  /** dx goes here (shape and dtype of dy). */
  dx?: Tensor;
  /** Gradient tensors [C] to write or add into (default new f32 ones). */
  grads?: { weight?: Tensor; bias?: Tensor };
  accumulate?: boolean;
}

/** Gradients of groupNorm(x, groups, eps, weight, bias, { silu }) for dy. */
export function groupNormBackward(x: Tensor, dy: Tensor, groups: number, eps: number, weight: Tensor | null, bias: Tensor | null,
  opts: GroupNormBackwardOptions = {}): { dx: Tensor; dweight?: Tensor; dbias?: Tensor } {
  const op = 'groupnorm_backward';
  const device = x.device;
  const shape = x.shape;
  const desc = `x ${x.dtype}[${shape.join(', ')}]`;
  if (shape.length < 3) throw new ShapeError(`${op}: ${desc} must be [C, H, W] or [N, C, ...spatial]`);
  checkFloat(op, 'x', x);
  checkFloat(op, 'dy', dy);
  if (dy.numel !== x.numel) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] must have the shape of ${desc}`);
  const [n, c] = shape.length === 3 ? [1, shape[0]!] : [shape[0]!, shape[1]!];
  const s = x.numel / Math.max(n * c, 1);
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) throw new ShapeError(`${op}: ${groups} groups must divide the ${c} channels of ${desc}`);
  if (!(eps >= 0)) throw new ShapeError(`${op}: eps must be >= 0, got ${eps}`);
  if (!!weight !== !!bias) throw new ShapeError(`${op}: pass both weight and bias, or neither`);
  for (const t of [weight, bias]) {
    if (t && t.numel !== c) throw new ShapeError(`${op}: weight and bias must have ${c} elements (the channels of ${desc})`);
    if (t) checkFloat(op, 'weight/bias', t);
  }
  if (weight && bias && weight.dtype !== bias.dtype) throw new ShapeError(`${op}: weight (${weight.dtype}) and bias (${bias.dtype}) must share a dtype`);
  const dx = opts.dx ?? Tensor.empty(device, shape, dy.dtype, `${op} dx`);
  if (dx.numel !== x.numel || dx.dtype !== dy.dtype) throw new ShapeError(`${op}: dx ${dx.dtype}[${dx.shape.join(', ')}] must match dy ${dy.dtype}[${dy.shape.join(', ')}]`);
  if (dx.buffer === x.buffer || dx.buffer === dy.buffer) throw new ShapeError(`${op}: dx must not alias x or dy; pass a fresh tensor`);
  const res: { dx: Tensor; dweight?: Tensor; dbias?: Tensor } = { dx };
  if (x.numel === 0) return res;

  const affine = !!(weight && bias);
  const { stats } = groupNormStats(x, n, c, groups, eps, weight?.dtype ?? 'f32');
  const planes = n * c;
  const ng = n * groups;
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;
  const params = [u32(s), u32(c), u32(c / groups), u32(planes), u32(ng), u32(x.numel)];
  const common = { T: x.dtype, TD: dy.dtype, TW: weight?.dtype ?? 'f32', AFFINE: affine, SILU: !!opts.silu };
  const wb = affine ? [weight!, bias!] : [];
  const sums = Tensor.empty(device, [2, planes], 'f32', `${op} plane sums`);
  const wg = isCpuAdapter(device) ? 16 : 256;
  device.dispatch({
    op, kernel: 'groupnorm_backward', defines: { ...common, PLANE: true, WG: wg, B_W: 4, B_B: 5, B_SUMS: affine ? 6 : 4 },
    params, bindings: [x, dy, stats, ...wb, sums], workgroups: grid2D(planes, maxWg),
  });
  const m = Tensor.empty(device, [ng, 2], 'f32', `${op} group means`);
  device.dispatch({
    op, kernel: 'groupnorm_backward', defines: { ...common, GROUP: true },
    params, bindings: affine ? [sums, weight!, m] : [sums, m], workgroups: [ceilDiv(ng, 64)],
  });
  device.dispatch({
    op, kernel: 'groupnorm_backward', defines: { ...common, APPLY: true, B_W: 5, B_B: 6, B_DX: affine ? 7 : 5 },
    params, bindings: [x, dy, stats, m, ...wb, dx], workgroups: grid2D(ceilDiv(x.numel, 256), maxWg),
  });
  if (affine) {
    const g = opts.grads ?? {};
    const target = (t: Tensor | undefined, name: string) => {
      const o = t ?? Tensor.empty(device, [c], 'f32', `${op} d${name}`);
      if (o.numel !== c) throw new ShapeError(`${op}: grads.${name} [${o.shape.join(', ')}] must have ${c} elements`);
      return o;
    };
    res.dweight = target(g.weight, 'weight');
    res.dbias = target(g.bias, 'bias');
    finishColumnSums(op, sums, { d: c, segs: 1, perSeg: n, out: res.dweight, accumulate: opts.accumulate });
    finishColumnSums(op, sums, { d: c, segs: 1, perSeg: n, inOffset: planes, out: res.dbias, accumulate: opts.accumulate });
  }
  sums.dispose();
  m.dispose();
  stats.dispose();
  return res;
}
