// Reductions of GPU tensors along the last axis or over all elements: sum, mean, max, l2norm (f32 math, f32
// results by default). Row reductions use variants reduce_row / reduce_multirow; kernel: shaders/reduce.wgsl.

import type { DType } from '../dtype.js';
import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { pickRowVariant, registerRowVariants, rowDefines, type RowSpec } from './row-variants.js';

registerRowVariants('reduce');

export type ReduceKind = 'sum' | 'mean' | 'max' | 'l2norm';

export interface ReduceOptions {
  /** -1 (default): along the last axis, x [..., D] -> [...]; 'all': every element -> [1]. */
  axis?: -1 | 'all';
  /** Result dtype (default f32, so sums of f16 data do not overflow). */
  dtype?: DType;
  out?: Tensor;
  variant?: string;
  /** Loads reduced per workgroup in each pass of a full reduction (tuning and tests; default 4096). */
  chunkLoads?: number;
}

/** Loads per workgroup in each pass of a full reduction. */
const FULL_CHUNK_LOADS = 256 * 16;

export function reduce(kind: ReduceKind, x: Tensor, opts: ReduceOptions = {}): Tensor {
  const device = x.device;
  const shape = x.shape;
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`${kind}: x must be f32 or f16, got ${x.dtype}`);
  const dtype = opts.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`${kind}: result dtype must be f32 or f16, got ${dtype}`);
  const full = opts.axis === 'all';
  if (opts.axis !== undefined && opts.axis !== -1 && !full) throw new ShapeError(`${kind}: axis must be -1 or 'all', got ${String(opts.axis)}`);
  const d = full ? x.numel : shape[shape.length - 1];
  if (!shape.length || !d) throw new ShapeError(`${kind}: x [${shape.join(', ')}] has nothing to reduce (empty ${full ? 'tensor' : 'last axis'})`);
  const outShape = full ? [1] : shape.slice(0, -1);
  const out = opts.out ?? Tensor.empty(device, outShape.length ? outShape : [1], dtype, kind);
  const rows = x.numel / d;
  if (out.numel !== rows || out.dtype !== dtype) throw new ShapeError(`${kind}: out ${out.dtype}[${out.shape.join(', ')}] must be ${dtype}[${outShape.join(', ')}]`);
  const pre = { SQUARE: kind === 'l2norm', MAX: kind === 'max' };
  const post = (count: number) => ({ scale: kind === 'mean' ? 1 / count : 1, SQRT: kind === 'l2norm' });
  if (!full) {
    const vec: 1 | 4 = d % 4 === 0 ? 4 : 1;
    const v = pickRowVariant('reduce', device, d / vec, opts.variant);
    segmentReduce(x, out, v.spec, vec, d / vec, rows, { ...pre, ...post(d) });
    return out;
  }
  // Full reduction: chunk partials in f32, then reduce the partials until one value is left.
  const row = pickRowVariant('reduce', device, Number.MAX_SAFE_INTEGER, opts.variant).spec;
  const chunk = opts.chunkLoads ?? FULL_CHUNK_LOADS;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ShapeError(`${kind}: chunkLoads must be a positive integer, got ${chunk}`);
  let vec: 1 | 4 = d % 4 === 0 ? 4 : 1;
  let src = x;
  let nv = d / vec;
  let opsLeft = { ...pre };
  for (;;) {
    const segs = ceilDiv(nv, chunk);
    const last = segs === 1;
    const dst = last ? out : Tensor.empty(device, [segs], 'f32', `${kind} partials`);
    segmentReduce(src, dst, row, vec, chunk, segs, last ? { ...opsLeft, ...post(d) } : { ...opsLeft, scale: 1, SQRT: false }, nv);
    if (src !== x) src.dispose();
    if (last) return out;
    // Partials are sums (of squares) or maxima: combine them as plain sums / maxima.
    opsLeft = { SQUARE: false, MAX: kind === 'max' };
    src = dst;
    nv = segs;
    vec = 1;
  }
}

function segmentReduce(x: Tensor, out: Tensor, spec: RowSpec, vec: 1 | 4, segV: number, segs: number,
  o: { SQUARE: boolean; MAX: boolean; SQRT: boolean; scale: number }, nv = segV * segs): void {
  const device = x.device;
  device.dispatch({
    op: 'reduce', kernel: 'reduce',
    defines: { ...rowDefines(spec, vec), T: x.dtype, TO: out.dtype, SQUARE: o.SQUARE, MAX: o.MAX, SQRT: o.SQRT },
    params: [u32(nv), u32(segV), u32(segs), f32(o.scale)],
    bindings: [x, out],
    workgroups: grid2D(ceilDiv(segs, spec.rows), device.caps.maxComputeWorkgroupsPerDimension),
  });
}

export const sum = (x: Tensor, opts?: ReduceOptions) => reduce('sum', x, opts);
export const mean = (x: Tensor, opts?: ReduceOptions) => reduce('mean', x, opts);
export const max = (x: Tensor, opts?: ReduceOptions) => reduce('max', x, opts);
/** sqrt(sum(x^2)) along the last axis or over everything. */
export const l2norm = (x: Tensor, opts?: ReduceOptions) => reduce('l2norm', x, opts);
