// Optimizer updates on the GPU (training.md section 3): AdamW with decoupled weight decay and the global
// gradient-norm clip folded into the update (the norm stays on the GPU: no readback per step), and the EMA of the
// weights. Both work on an element range of f32 tensors, so parameters that are views into one flat buffer are
// updated group by group (weight decay on or off). Kernel: shaders/optim.wgsl.

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import type { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

registerVariant({ op: 'adamw', name: 'adamw_elementwise', spec: { kernel: 'optim' } });
registerVariant({ op: 'ema', name: 'ema_elementwise', spec: { kernel: 'optim' } });

export interface AdamWOptions {
  lr: number;
  /** Step number t >= 1 (bias corrections 1 - beta^t). */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (0 or absent: no clipping); needs `norm`. */
  clip?: number;
  /** [1] f32: the global gradient L2 norm (engine/ops/reduce.ts l2norm over all gradients). */
  norm?: Tensor;
  /** Element range to update (default: all). */
  start?: number;
  count?: number;
}

export interface AdamWDefaults {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The spec's AdamW settings: betas (0.9, 0.999), eps 1e-8, weight decay 1e-4. */
export const ADAMW_DEFAULTS: AdamWDefaults = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-4 };

function range(op: string, tensors: Tensor[], start = 0, count?: number): { start: number; count: number } {
  const n = tensors[0]!.numel;
  for (const t of tensors) {
    if (t.dtype !== 'f32') throw new ShapeError(`${op}: optimizer state and parameters are f32 (master weights), got ${t.dtype}[${t.shape.join(', ')}]`);
    if (t.numel !== n) throw new ShapeError(`${op}: all tensors must have ${n} elements, got [${t.shape.join(', ')}]`);
  }
  const c = count ?? n - start;
  if (!Number.isInteger(start) || !Number.isInteger(c) || start < 0 || c < 0 || start + c > n) throw new ShapeError(`${op}: range [${start}, ${start + c}) is outside the ${n} elements`);
  return { start, count: c };
}

/** One AdamW step in place: param, m and v are updated for the elements of the range. */
export function adamwStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamWOptions): void {
  const { start, count } = range('adamw', [param, grad, m, v], o.start, o.count);
  const b1 = o.beta1 ?? ADAMW_DEFAULTS.beta1;
  const b2 = o.beta2 ?? ADAMW_DEFAULTS.beta2;
  if (!(o.step >= 1) || !Number.isInteger(o.step)) throw new ShapeError(`adamw: step must be an integer >= 1, got ${o.step}`);
  const clip = o.clip ?? 0;
  if (clip > 0 && !o.norm) throw new ShapeError('adamw: clip needs the global gradient norm tensor (norm)');
  if (o.norm && (o.norm.numel !== 1 || o.norm.dtype !== 'f32')) throw new ShapeError(`adamw: norm must be f32[1], got ${o.norm.dtype}[${o.norm.shape.join(', ')}]`);
  const device = param.device;
  device.dispatch({
    op: 'adamw', kernel: 'optim', defines: { ADAMW: true },
    params: [u32(start), u32(count), f32(o.lr), f32(b1), f32(b2), f32(1 - b1), f32(1 - b2), f32(o.eps ?? ADAMW_DEFAULTS.eps), f32(o.weightDecay ?? ADAMW_DEFAULTS.weightDecay),
      f32(1 - b1 ** o.step), f32(1 - b2 ** o.step), f32(clip), f32(0), f32(0)],
    // Without clipping the norm binding is unused; the gradient stands in so the layout stays the same.
    bindings: [param, grad, m, v, o.norm ?? grad],
    workgroups: grid2D(ceilDiv(count, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
}

/** ema = decay * ema + (1 - decay) * param over the range. */
export function emaUpdate(ema: Tensor, param: Tensor, decay: number, start = 0, count?: number): void {
  const r = range('ema', [ema, param], start, count);
  if (!(decay >= 0 && decay <= 1)) throw new ShapeError(`ema: decay must be in [0, 1], got ${decay}`);
  const device = ema.device;
  device.dispatch({
    op: 'ema', kernel: 'optim', defines: { ADAMW: false },
    params: [u32(r.start), u32(r.count), f32(0), f32(0), f32(0), f32(0), f32(0), f32(0), f32(0), f32(1), f32(1), f32(0), f32(decay), f32(1 - decay)],
    bindings: [ema, param],
    workgroups: grid2D(ceilDiv(r.count, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
}
