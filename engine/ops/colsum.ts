// Deterministic column sums of GPU tensors over their rows, grouped by item (x [B*S, D] -> [B, D]), without float
// atomics: per-block partials then a fixed-order sum of the partials (shaders/colsum.wgsl). The backward kernels
// use it for every sum over tokens (bias, gate, shift gradients); their own first passes write partials in the
// same layout and call finishColumnSums.

import type { DType } from '../dtype.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';

/** Rows per block of the first pass (tuning and tests may override); each block is one partial per column. */
export const DEFAULT_BLOCK_ROWS = 64;

export interface BlockLayout {
  items: number;
  rowsPerItem: number;
  blockRows: number;
  blocksPerItem: number;
  /** Blocks in all (= items * blocksPerItem): the partials buffer holds nb rows of d values per summed quantity. */
  nb: number;
}

/** Splits rows into items and each item into blocks; grows the block so the grid fits 65535 blocks. */
export function blockLayout(op: string, rows: number, items: number, blockRows = DEFAULT_BLOCK_ROWS): BlockLayout {
  if (!Number.isInteger(items) || items < 1 || rows % items !== 0) throw new ShapeError(`${op}: ${items} items must divide the ${rows} rows`);
  if (!Number.isInteger(blockRows) || blockRows < 1) throw new ShapeError(`${op}: blockRows must be a positive integer, got ${blockRows}`);
  const rowsPerItem = rows / items;
  let br = Math.max(1, Math.min(blockRows, rowsPerItem));
  while (items * ceilDiv(rowsPerItem, br) > 65535) br *= 2;
  const blocksPerItem = Math.max(1, ceilDiv(rowsPerItem, br));
  return { items, rowsPerItem, blockRows: br, blocksPerItem, nb: items * blocksPerItem };
}

export interface FinishOptions {
  /** Columns. */
  d: number;
  /** Segments (output rows) and the consecutive partial rows each one adds. */
  segs: number;
  perSeg: number;
  /** Element offset of the first partial read (several quantities can share one partials buffer). */
  inOffset?: number;
  out: Tensor;
  /** Segment s's sums go to out[outOffset + s * outStride + col] (default offset 0, stride d). */
  outOffset?: number;
  outStride?: number;
  /** Add into out instead of overwriting. */
  accumulate?: boolean;
}

/** Pass 2: out[seg] (+)= sum over its perSeg partial rows, in row order. */
export function finishColumnSums(op: string, partials: Tensor, o: FinishOptions): void {
  const device = partials.device;
  const outStride = o.outStride ?? o.d;
  const outOffset = o.outOffset ?? 0;
  if (partials.dtype !== 'f32') throw new ShapeError(`${op}: partials must be f32`);
  checkFloat(op, 'out', o.out);
  if (outOffset + (o.segs - 1) * outStride + o.d > o.out.numel) {
    throw new ShapeError(`${op}: out [${o.out.shape.join(', ')}] is too small for ${o.segs} x ${o.d} sums at offset ${outOffset} with stride ${outStride}`);
  }
  device.dispatch({
    op, kernel: 'colsum',
    defines: { FINISH: true, TO: o.out.dtype, ACCUMULATE: !!o.accumulate },
    params: [u32(0), u32(o.d), u32(0), u32(0), u32(o.perSeg), u32(o.segs), u32(outOffset), u32(outStride), u32(o.inOffset ?? 0)],
    bindings: [partials, o.out],
    workgroups: [ceilDiv(o.d, 64), o.segs],
  });
}

export interface ColumnSumOptions {
  /** Multiply a by b elementwise before summing (same shape as a). */
  b?: Tensor;
  /** Items the rows split into evenly (default 1): the result is [items, d]. */
  items?: number;
  /** Write here (default: a new f32 [items, d]); see outOffset / outStride. */
  out?: Tensor;
  outOffset?: number;
  outStride?: number;
  accumulate?: boolean;
  blockRows?: number;
  /** Result dtype when out is not given (default f32). */
  dtype?: DType;
}

/** Sums of a [..., d] (times b) over the rows of each item: out[item, col]. Deterministic (fixed order). */
export function columnSums(a: Tensor, opts: ColumnSumOptions = {}, op = 'column_sums'): Tensor {
  const device = a.device;
  const d = a.shape[a.shape.length - 1];
  if (!a.shape.length || !d) throw new ShapeError(`${op}: a [${a.shape.join(', ')}] needs a non-empty last axis`);
  checkFloat(op, 'a', a);
  const rows = a.numel / d;
  if (opts.b) {
    checkFloat(op, 'b', opts.b);
    if (opts.b.numel !== a.numel) throw new ShapeError(`${op}: b [${opts.b.shape.join(', ')}] must have the shape of a [${a.shape.join(', ')}]`);
  }
  const items = opts.items ?? 1;
  const L = blockLayout(op, rows, items, opts.blockRows);
  const out = opts.out ?? Tensor.empty(device, items === 1 ? [d] : [items, d], opts.dtype ?? 'f32', op);
  const partials = Tensor.empty(device, [L.nb, d], 'f32', `${op} partials`);
  device.dispatch({
    op, kernel: 'colsum',
    defines: { TA: a.dtype, TB: opts.b?.dtype ?? 'f32', PRODUCT: !!opts.b },
    params: [u32(rows), u32(d), u32(L.rowsPerItem), u32(L.blockRows), u32(L.blocksPerItem), u32(L.nb), u32(0), u32(0), u32(0)],
    bindings: opts.b ? [a, opts.b, partials] : [a, partials],
    workgroups: [ceilDiv(d, 64), L.nb],
  });
  finishColumnSums(op, partials, { d, segs: items, perSeg: L.blocksPerItem, out, outOffset: opts.outOffset, outStride: opts.outStride, accumulate: opts.accumulate });
  partials.dispose();
  return out;
}

export function checkFloat(op: string, name: string, t: Tensor): void {
  if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${op}: ${name} must be f32 or f16, got ${t.dtype}`);
}
