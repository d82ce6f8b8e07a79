// Backward of LayerNorm (affine, adaLN modulation) and RMSNorm (engine/ops/norm.ts) on GPU tensors: dx by a row
// kernel that recomputes the row statistics, parameter gradients (sums over rows) by deterministic per-block partials
// then a fixed-order sum (shaders/norm_backward.wgsl, shaders/colsum.wgsl); no float atomics, so two runs give
// bit-identical gradients. Variants: layernorm_backward / rmsnorm_backward _multirow and _narrow (row-variants.ts).

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { blockLayout, checkFloat, finishColumnSums } from './colsum.js';
import { modulationLayout, type Modulation } from './norm.js';
import { registerVariant } from './registry.js';
import { pickRowVariant, type RowSpec } from './row-variants.js';

for (const op of ['layernorm_backward', 'rmsnorm_backward']) {
  registerVariant<RowSpec>({ op, name: `${op}_multirow`, spec: { rows: 8, threadsPerRow: 32 }, priority: 1 });
  registerVariant<RowSpec>({ op, name: `${op}_narrow`, spec: { rows: 32, threadsPerRow: 8 }, priority: 0 });
}

/** Where parameter gradients go: tensors shaped like the parameter (modulation: like mod.scale / mod.shift). */
export interface NormParamGrads {
  weight?: Tensor;
  bias?: Tensor;
  /** Written at the D used values of each item (scaleOffset + b * K ..); other values untouched. */
  scale?: Tensor;
  shift?: Tensor;
}

export interface NormBackwardCommon {
  /** dx goes here (same shape and dtype as dy; must not alias x or dy). */
  dx?: Tensor;
  /** Gradient tensors to write or add into; missing ones are allocated (f32; modulation ones zero-filled). */
  grads?: NormParamGrads;
  /** Add parameter gradients into `grads` (training accumulates over micro-batches) instead of overwriting. */
  accumulate?: boolean;
  variant?: string;
  /** Rows per partial-sum block (tests and tuning). */
  blockRows?: number;
}

export interface LayerNormBackwardOptions extends NormBackwardCommon {
  eps: number;
  weight?: Tensor;
  bias?: Tensor;
  modulation?: Modulation;
}

export interface NormBackwardResult {
  dx: Tensor;
  dweight?: Tensor;
  dbias?: Tensor;
  /** Shaped like modulation.scale / shift; one tensor when scale and shift are the same tensor. */
  dscale?: Tensor;
  dshift?: Tensor;
}

/** Gradients of layerNorm(x, opts) for the upstream gradient dy (shape of x). */
export function layerNormBackward(x: Tensor, dy: Tensor, opts: LayerNormBackwardOptions): NormBackwardResult {
  return rowNormBackward('layernorm_backward', x, dy, opts.eps, opts.weight, opts.bias, opts.modulation, opts);
}

/** Gradients of rmsNorm(x, weight, eps) for dy: dx and (with a weight) dweight. */
export function rmsNormBackward(x: Tensor, dy: Tensor, weight: Tensor | null, eps: number, opts: NormBackwardCommon = {}): NormBackwardResult {
  return rowNormBackward('rmsnorm_backward', x, dy, eps, weight ?? undefined, undefined, undefined, opts);
}

function rowNormBackward(op: 'layernorm_backward' | 'rmsnorm_backward', x: Tensor, dy: Tensor, eps: number, weight: Tensor | undefined,
  bias: Tensor | undefined, mod: Modulation | undefined, o: NormBackwardCommon): NormBackwardResult {
  const device = x.device;
  const shape = x.shape;
  const d = shape[shape.length - 1];
  if (!shape.length || !d) throw new ShapeError(`${op}: x [${shape.join(', ')}] needs a non-empty last axis`);
  if (!(eps >= 0)) throw new ShapeError(`${op}: eps must be a number >= 0, got ${eps}`);
  checkFloat(op, 'x', x);
  checkFloat(op, 'dy', dy);
  if (dy.numel !== x.numel) throw new ShapeError(`${op}: dy [${dy.shape.join(', ')}] must have the shape of x [${shape.join(', ')}]`);
  const rows = x.numel / d;
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.numel !== d) throw new ShapeError(`${op}: ${name} [${t.shape.join(', ')}] must have ${d} elements (the last axis of x [${shape.join(', ')}])`);
    if (t) checkFloat(op, name, t);
  }
  if (weight && bias && weight.dtype !== bias.dtype) throw new ShapeError(`${op}: weight (${weight.dtype}) and bias (${bias.dtype}) must share a dtype`);
  const ml = { items: 1, stride: 0, scaleOff: 0, shiftOff: 0 };
  if (mod) {
    const m = modulationLayout(op, shape, rows, d, mod);
    Object.assign(ml, { items: rows / m.rowsPerItem, stride: m.stride, scaleOff: m.scaleOff, shiftOff: m.shiftOff });
  }
  const dx = o.dx ?? Tensor.empty(device, shape, dy.dtype, `${op} dx`);
  if (dx.numel !== x.numel || dx.dtype !== dy.dtype) throw new ShapeError(`${op}: dx ${dx.dtype}[${dx.shape.join(', ')}] must match dy ${dy.dtype}[${dy.shape.join(', ')}]`);
  if (dx.buffer === x.buffer || dx.buffer === dy.buffer) throw new ShapeError(`${op}: dx must not alias x or dy (WebGPU forbids binding one buffer as read and read_write); pass a fresh tensor`);

  // Gradient targets.
  const g = o.grads ?? {};
  const res: NormBackwardResult = { dx };
  const param = (name: 'weight' | 'bias', given: Tensor | undefined) => {
    const t = given ?? Tensor.empty(device, [d], 'f32', `${op} d${name}`);
    if (t.numel !== d) throw new ShapeError(`${op}: grads.${name} [${t.shape.join(', ')}] must have ${d} elements`);
    checkFloat(op, `grads.${name}`, t);
    return t;
  };
  if (weight) res.dweight = param('weight', g.weight);
  if (bias) res.dbias = param('bias', g.bias);
  if (mod) {
    const like = (name: 'scale' | 'shift', given: Tensor | undefined, src: Tensor) => {
      const t = given ?? Tensor.zeros(device, src.shape, 'f32', `${op} d${name}`);
      if (t.numel !== src.numel) throw new ShapeError(`${op}: grads.${name} [${t.shape.join(', ')}] must have the shape of modulation.${name} [${src.shape.join(', ')}]`);
      checkFloat(op, `grads.${name}`, t);
      return t;
    };
    res.dscale = like('scale', g.scale, mod.scale);
    res.dshift = !g.shift && !g.scale && mod.shift === mod.scale ? res.dscale : like('shift', g.shift, mod.shift);
  }
  const wantParams = !!(weight || bias || mod);

  const v = pickRowVariant(op, device, d / 4, o.variant);
  const L = blockLayout(op, rows, ml.items, o.blockRows);
  const bindings: Tensor[] = [x, dy];
  const slot = () => bindings.length + 1;
  const defines: Record<string, string | number | boolean> = {
    T: x.dtype, TD: dy.dtype, TW: (weight ?? bias)?.dtype ?? 'f32', TM: mod?.scale.dtype ?? 'f32',
    RMS: op === 'rmsnorm_backward', AFFINE_W: !!weight, AFFINE_B: !!bias, MOD: !!mod, ROWS: v.spec.rows, TPR: v.spec.threadsPerRow,
  };
  if (weight) { defines.B_W = slot(); bindings.push(weight); }
  if (mod) { defines.B_SCALE = slot(); bindings.push(mod.scale); }
  // The bias enters only the dscale partials (dx does not depend on it): bound last, in that pass only.
  if (bias) defines.B_B = slot();
  // vec4 loads in the dx pass when the row and the modulation layout allow; the partials pass reads scalars.
  const vec: 1 | 4 = d % 4 === 0 && ml.stride % 4 === 0 && ml.scaleOff % 4 === 0 ? 4 : 1;
  const paramsV = (vv: number) => [u32(rows), u32(d / vv), f32(eps), u32(L.rowsPerItem), u32(ml.stride / vv), u32(ml.scaleOff / vv),
    u32(L.blockRows), u32(L.blocksPerItem), u32(L.nb), u32(d)];
  const params = paramsV(1);
  const stats = wantParams ? Tensor.empty(device, [rows, 2], 'f32', `${op} stats`) : undefined;
  const head = bindings.length;
  device.dispatch({
    op, kernel: 'norm_backward',
    defines: { ...defines, AFFINE_B: false, PASS_DX: true, STATS: !!stats, B_DX: head + 1, B_STATS: head + 2, VEC: vec, VEC4: vec === 4 },
    params: paramsV(vec),
    bindings: stats ? [...bindings, dx, stats] : [...bindings, dx],
    workgroups: grid2D(ceilDiv(rows, v.spec.rows), device.caps.maxComputeWorkgroupsPerDimension),
  });
  if (!stats) return res;

  // Parameter gradients: quantities in slots 1..NQ of one partials buffer, then one fixed-order finish each.
  const quantities: { q: 'Q_W' | 'Q_B' | 'Q_SCALE' | 'Q_SHIFT'; out: Tensor; perItem: boolean; off: number }[] = [];
  if (res.dweight) quantities.push({ q: 'Q_W', out: res.dweight, perItem: false, off: 0 });
  if (res.dbias) quantities.push({ q: 'Q_B', out: res.dbias, perItem: false, off: 0 });
  if (res.dscale) quantities.push({ q: 'Q_SCALE', out: res.dscale, perItem: true, off: ml.scaleOff });
  if (res.dshift) quantities.push({ q: 'Q_SHIFT', out: res.dshift, perItem: true, off: ml.shiftOff });
  const pbase = head + (bias ? 1 : 0);
  const partials = Tensor.empty(device, [quantities.length, L.nb, d], 'f32', `${op} partials`);
  const qDefines: Record<string, number> = {};
  quantities.forEach((q, i) => { qDefines[q.q] = i + 1; });
  device.dispatch({
    op, kernel: 'norm_backward',
    defines: { ...defines, PASS_PARTIALS: true, ...qDefines, B_STATS: pbase + 1, B_PART: pbase + 2 },
    params,
    bindings: bias ? [...bindings, bias, stats, partials] : [...bindings, stats, partials],
    workgroups: [ceilDiv(d, 64), L.nb],
  });
  quantities.forEach((q, i) => {
    finishColumnSums(op, partials, {
      d, inOffset: i * L.nb * d, out: q.out, accumulate: o.accumulate,
      ...(q.perItem ? { segs: L.items, perSeg: L.blocksPerItem, outOffset: q.off, outStride: ml.stride } : { segs: 1, perSeg: L.nb }),
    });
  });
  partials.dispose();
  stats.dispose();
  return res;
}
