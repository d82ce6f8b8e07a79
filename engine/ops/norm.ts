// Row normalisations over the last axis on GPU tensors: LayerNorm (optional affine, fused adaLN modulation
// LN(x) * (1 + scale) + shift) and RMSNorm (T5). Kernel family: shaders/norm.wgsl; variants in row-variants.ts.

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { pickRowVariant, registerRowVariants, rowDefines } from './row-variants.js';

registerRowVariants('layernorm');
registerRowVariants('rmsnorm');

/**
 * adaLN modulation vectors. `scale`/`shift` are [K] (one vector for every row) or [B, K] (item b modulates rows
 * b*rows/B .. (b+1)*rows/B - 1, e.g. x [B, S, D]); the D values used start at element `scaleOffset`/`shiftOffset` of
 * each item's K values, so one chunked projection [B, 6D] can feed shift and scale without a copy (K >= offset + D).
 */
export interface Modulation {
  scale: Tensor;
  shift: Tensor;
  scaleOffset?: number;
  shiftOffset?: number;
}

export interface LayerNormOptions {
  eps: number;
  weight?: Tensor;
  bias?: Tensor;
  modulation?: Modulation;
  /** Write here instead of allocating (same shape and dtype as x; must not be x). */
  out?: Tensor;
  /** Force a variant (e.g. 'layernorm_multirow'); default by row width or PARALLAX_KERNEL_LAYERNORM. */
  variant?: string;
}

export interface RmsNormOptions {
  out?: Tensor;
  variant?: string;
}

/** LayerNorm over the last axis of x [..., D] with biased variance, optional affine and adaLN modulation. */
export function layerNorm(x: Tensor, opts: LayerNormOptions): Tensor {
  return rowNorm('layernorm', x, opts.eps, opts.weight, opts.bias, opts.modulation, opts.out, opts.variant);
}

/** RMSNorm over the last axis: x * rsqrt(mean(x^2) + eps) * weight, statistics in f32 whatever the dtype. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number, opts: RmsNormOptions = {}): Tensor {
  return rowNorm('rmsnorm', x, eps, weight ?? undefined, undefined, undefined, opts.out, opts.variant);
}

function rowNorm(op: 'layernorm' | 'rmsnorm', x: Tensor, eps: number, weight: Tensor | undefined, bias: Tensor | undefined,
  mod: Modulation | undefined, outOpt: Tensor | undefined, variant: string | undefined): Tensor {
  const device = x.device;
  const shape = x.shape;
  const d = shape[shape.length - 1];
  if (!shape.length || !d) throw new ShapeError(`${op}: x [${shape.join(', ')}] needs a non-empty last axis to normalise`);
  if (!(eps >= 0)) throw new ShapeError(`${op}: eps must be a number >= 0, got ${eps}`);
  checkFloat(op, 'x', x);
  const rows = x.numel / d;
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.numel !== d) throw new ShapeError(`${op}: ${name} [${t.shape.join(', ')}] must have ${d} elements (the last axis of x [${shape.join(', ')}])`);
    if (t) checkFloat(op, name, t);
  }
  let vec: 1 | 4 = d % 4 === 0 ? 4 : 1;
  let modParams = { rowsPerItem: Math.max(rows, 1), stride: 0, scaleOff: 0, shiftOff: 0 };
  if (mod) {
    modParams = modulationLayout(op, shape, rows, d, mod);
    if (modParams.stride % 4 || modParams.scaleOff % 4 || modParams.shiftOff % 4) vec = 1;
    if (mod.scale.dtype !== mod.shift.dtype) throw new ShapeError(`${op}: modulation scale (${mod.scale.dtype}) and shift (${mod.shift.dtype}) must share a dtype`);
  }
  if (weight && bias && weight.dtype !== bias.dtype) throw new ShapeError(`${op}: weight (${weight.dtype}) and bias (${bias.dtype}) must share a dtype`);
  const out = outOpt ?? Tensor.empty(device, shape, x.dtype, op);
  if (out.numel !== x.numel || out.dtype !== x.dtype) {
    throw new ShapeError(`${op}: out ${out.dtype}[${out.shape.join(', ')}] must match x ${x.dtype}[${shape.join(', ')}]`);
  }
  if (out.buffer === x.buffer) throw new ShapeError(`${op}: out must not alias x (WebGPU forbids binding one buffer as read and read_write); pass a fresh tensor`);
  const v = pickRowVariant(op, device, d / vec, variant);
  const bindings: Tensor[] = [x];
  const slot = () => bindings.length + 1;
  const defines: Record<string, string | number | boolean> = {
    ...rowDefines(v.spec, vec), T: x.dtype, TW: (weight ?? bias)?.dtype ?? 'f32', TM: mod?.scale.dtype ?? 'f32',
    RMS: op === 'rmsnorm', AFFINE_W: !!weight, AFFINE_B: !!bias, MOD: !!mod,
  };
  if (weight) { defines.B_W = slot(); bindings.push(weight); }
  if (bias) { defines.B_B = slot(); bindings.push(bias); }
  if (mod) {
    defines.B_SCALE = slot(); bindings.push(mod.scale);
    defines.B_SHIFT = slot(); bindings.push(mod.shift);
  }
  defines.B_OUT = slot();
  bindings.push(out);
  device.dispatch({
    op,
    kernel: 'norm',
    defines,
    params: [u32(rows), u32(d / vec), u32(d), f32(eps), u32(modParams.rowsPerItem), u32(modParams.stride / vec),
      u32(modParams.scaleOff / vec), u32(modParams.shiftOff / vec)],
    bindings,
    workgroups: grid2D(ceilDiv(rows, v.spec.rows), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** Checks a modulation against x and returns its layout (shared with the backward in norm-backward.ts). */
export function modulationLayout(op: string, shape: readonly number[], rows: number, d: number, mod: Modulation) {
  const { scale, shift } = mod;
  const scaleOff = mod.scaleOffset ?? 0;
  const shiftOff = mod.shiftOffset ?? 0;
  const k = scale.shape[scale.shape.length - 1] ?? 0;
  const describe = `scale [${scale.shape.join(', ')}], shift [${shift.shape.join(', ')}]`;
  if (scale.shape.join(',') !== shift.shape.join(',')) throw new ShapeError(`${op}: modulation ${describe} must have the same shape`);
  if (scale.shape.length < 1 || scale.shape.length > 2) throw new ShapeError(`${op}: modulation ${describe} must be [K] or [B, K]`);
  if (!Number.isInteger(scaleOff) || !Number.isInteger(shiftOff) || scaleOff < 0 || shiftOff < 0 || scaleOff + d > k || shiftOff + d > k) {
    throw new ShapeError(`${op}: modulation ${describe} with offsets ${scaleOff}/${shiftOff} must hold ${d} values (the last axis of x [${shape.join(', ')}]) per item`);
  }
  checkFloat(op, 'modulation', scale);
  const items = scale.shape.length === 2 ? scale.shape[0]! : 1;
  if (items < 1 || rows % items !== 0) {
    throw new ShapeError(`${op}: modulation ${describe} has ${items} items but x [${shape.join(', ')}] has ${rows} rows; B must divide the rows (x [B, S, D] with scale [B, D])`);
  }
  return { rowsPerItem: rows / items, stride: items === 1 ? 0 : k, scaleOff, shiftOff };
}

function checkFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${op}: ${name} must be f32 or f16, got ${t.dtype}`);
}
