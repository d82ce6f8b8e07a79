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

/** A tensor's place in a flat f32 buffer, in elements. */
export interface FlatSegment {
  offset: number;
  length: number;
}

/**
 * The l2norm of each segment of a flat f32 buffer, written to out[outOffset + i] (a new f32[segments] tensor when no
 * out is given), in a few dispatches for any number of segments: bit for bit what reduce('l2norm', t, { axis:
 * 'all' }) gives for each segment as its own tensor (the same chunks of FULL_CHUNK_LOADS loads, vec4 loads when the
 * length is a multiple of 4, the same lane tree), so optimizer code can norm many small gradients in one pass. A
 * segment whose length is a multiple of 4 must start at a multiple of 4 (its vec4 loads index the buffer as vec4).
 * `chunkLoads` as in reduce (tests).
 * Pass 1 reduces every chunk of every segment (one dispatch per load width); each further pass sums the partials of
 * the segments that had more than one chunk, until every segment is final.
 */
export function segmentNorms(flat: Tensor, segments: readonly FlatSegment[], opts: { out?: Tensor; outOffset?: number; variant?: string; chunkLoads?: number } = {}): Tensor {
  const device = flat.device;
  if (flat.dtype !== 'f32') throw new ShapeError(`segmentNorms: the flat buffer must be f32, got ${flat.dtype}`);
  if (!segments.length) throw new ShapeError('segmentNorms: no segments');
  const base = opts.outOffset ?? 0;
  const out = opts.out ?? Tensor.empty(device, [segments.length], 'f32', 'segment norms');
  if (out.dtype !== 'f32' || !Number.isInteger(base) || base < 0 || base + segments.length > out.numel) {
    throw new ShapeError(`segmentNorms: out ${out.dtype}[${out.shape.join(', ')}] has no f32 room for ${segments.length} norms at ${base}`);
  }
  for (const [i, s] of segments.entries()) {
    if (!Number.isInteger(s.offset) || !Number.isInteger(s.length) || s.offset < 0 || s.length < 1 || s.offset + s.length > flat.numel) {
      throw new ShapeError(`segmentNorms: segment ${i} [${s.offset}, ${s.offset + s.length}) is empty or outside the ${flat.numel} elements`);
    }
    if (s.length % 4 === 0 && s.offset % 4 !== 0) throw new ShapeError(`segmentNorms: segment ${i} has a length divisible by 4 but starts at ${s.offset}, not a multiple of 4`);
  }
  const row = pickRowVariant('reduce', device, Number.MAX_SAFE_INTEGER, opts.variant).spec;
  const chunk = opts.chunkLoads ?? FULL_CHUNK_LOADS;
  if (!Number.isInteger(chunk) || chunk < 1) throw new ShapeError(`segmentNorms: chunkLoads must be a positive integer, got ${chunk}`);
  // Pass 1: every chunk of every segment; a segment of one chunk is final at once, the others leave partials.
  let pending: { slot: number; first: number; count: number }[] = [];
  let partials = 0;
  const tables: Record<1 | 4, number[]> = { 4: [], 1: [] };
  for (const [i, s] of segments.entries()) {
    const vec = s.length % 4 === 0 ? 4 : 1;
    const nv = s.length / vec;
    const first = s.offset / vec;
    const n = ceilDiv(nv, chunk);
    if (n === 1) { tables[vec].push(first, first + nv, base + i, 1); continue; }
    pending.push({ slot: base + i, first: partials, count: n });
    for (let c = 0; c < n; c++) tables[vec].push(first + c * chunk, first + Math.min((c + 1) * chunk, nv), partials++, 0);
  }
  let part = Tensor.empty(device, [Math.max(1, partials)], 'f32', 'segment norm partials');
  for (const vec of [4, 1] as const) if (tables[vec].length) tableReduce(flat, out, part, tables[vec], row, vec, true);
  // Further passes sum each pending segment's partials (vec 1, chunks of `chunk`), as reduce's loop does for one tensor.
  while (pending.length) {
    const table: number[] = [];
    const next: typeof pending = [];
    let nextPartials = 0;
    for (const q of pending) {
      const n = ceilDiv(q.count, chunk);
      if (n === 1) { table.push(q.first, q.first + q.count, q.slot, 1); continue; }
      next.push({ slot: q.slot, first: nextPartials, count: n });
      for (let c = 0; c < n; c++) table.push(q.first + c * chunk, q.first + Math.min((c + 1) * chunk, q.count), nextPartials++, 0);
    }
    const nextPart = Tensor.empty(device, [Math.max(1, nextPartials)], 'f32', 'segment norm partials');
    tableReduce(part, out, nextPart, table, row, 1, false);
    part.dispose();
    part = nextPart;
    pending = next;
  }
  part.dispose();
  return out;
}

/** One SEGTABLE dispatch: rows of `table` are (start load, end load, output index, final flag). */
function tableReduce(x: Tensor, out: Tensor, part: Tensor, table: number[], spec: RowSpec, vec: 1 | 4, square: boolean): void {
  const device = x.device;
  const segs = table.length / 4;
  const t = Tensor.from(device, Uint32Array.from(table), [segs, 4], 'u32', 'segment table');
  device.dispatch({
    op: 'reduce', kernel: 'reduce',
    defines: { ...rowDefines(spec, vec), T: 'f32', TO: 'f32', SQUARE: square, MAX: false, SQRT: true, SEGTABLE: true },
    params: [u32(0), u32(0), u32(segs), f32(1)],
    bindings: [x, out, t, part],
    workgroups: grid2D(ceilDiv(segs, spec.rows), device.caps.maxComputeWorkgroupsPerDimension),
  });
  t.dispose();
}
