// Layout ops (shaders/layout.wgsl): permute, slice, concat, broadcast, zero padding and row gather (embedding
// lookup). All but gather are one strided-copy kernel; ranks above 4 work when adjacent axes can be merged.

import { bytesPerElement, numel } from '../dtype.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';
import { isCpuAdapter } from './row-variants.js';

registerVariant({ op: 'layout', name: 'layout_strided', spec: { kernel: 'layout' } });
registerVariant({ op: 'layout', name: 'layout_rows', spec: { kernel: 'layout' } });

/**
 * Whether a strided copy runs one thread per innermost row (layout_rows: on CPU adapters, rows of >= 4 elements) or
 * per element (layout_strided); PARALLAX_KERNEL_LAYOUT forces either.
 */
function rowsVariant(device: Tensor['device'], d3: number): boolean {
  const forced = typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_LAYOUT : undefined;
  if (forced === 'layout_rows') return true;
  if (forced === 'layout_strided') return false;
  if (forced) throw new ShapeError(`PARALLAX_KERNEL_LAYOUT=${forced}: unknown layout variant (layout_strided or layout_rows)`);
  return d3 >= 4 && isCpuAdapter(device);
}
registerVariant({ op: 'gather_rows', name: 'gather_rows', spec: { kernel: 'layout' } });

export interface StridedCopy {
  /** The index space copied (any rank; merged to <= 4 axes). */
  shape: readonly number[];
  srcStrides: readonly number[];
  srcOffset?: number;
  dstStrides: readonly number[];
  dstOffset?: number;
  /** Writes zeros where the index along this axis is >= padLimit. */
  padAxis?: number;
  padLimit?: number;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Drops length-1 axes and merges adjacent axes contiguous in both src and dst (never the pad axis). */
function collapse(c: StridedCopy): { shape: number[]; ss: number[]; ds: number[]; pad: number } {
  const shape: number[] = [], ss: number[] = [], ds: number[] = [];
  let pad = 4;
  c.shape.forEach((d, i) => {
    const isPad = c.padAxis === i;
    if (d === 1 && !isPad) return;
    const k = shape.length - 1;
    const lastIsPad = pad === k;
    if (k >= 0 && !isPad && !lastIsPad && ss[k] === c.srcStrides[i]! * d && ds[k] === c.dstStrides[i]! * d) {
      shape[k]! *= d;
      ss[k] = c.srcStrides[i]!;
      ds[k] = c.dstStrides[i]!;
      return;
    }
    if (isPad) pad = shape.length;
    shape.push(d);
    ss.push(c.srcStrides[i]!);
    ds.push(c.dstStrides[i]!);
  });
  if (shape.length > 4) throw new ShapeError(`layout: copy of shape ${fmt(c.shape)} needs ${shape.length} axes after merging; the kernel handles 4`);
  while (shape.length < 4) {
    shape.unshift(1);
    ss.unshift(0);
    ds.unshift(0);
    if (pad < 4) pad++;
  }
  return { shape, ss, ds, pad };
}

/** Low-level strided copy from src into dst (both keep their buffers; offsets and strides in elements). */
export function stridedCopy(src: Tensor, dst: Tensor, c: StridedCopy, op = 'strided_copy'): Tensor {
  if (src.dtype !== dst.dtype) throw new ShapeError(`${op}: src is ${src.dtype} but dst is ${dst.dtype}; cast first`);
  const rank = c.shape.length;
  if (c.srcStrides.length !== rank || c.dstStrides.length !== rank) throw new ShapeError(`${op}: strides must have ${rank} entries`);
  const n = numel(c.shape);
  if (n === 0) return dst;
  let srcMax = c.srcOffset ?? 0, dstMax = c.dstOffset ?? 0;
  let reads = true;
  c.shape.forEach((d, i) => {
    const readExtent = c.padAxis === i ? Math.min(d, c.padLimit ?? 0) : d;
    if (readExtent === 0) reads = false;
    srcMax += Math.max(readExtent - 1, 0) * c.srcStrides[i]!;
    dstMax += (d - 1) * c.dstStrides[i]!;
  });
  if ((reads && srcMax >= src.numel) || dstMax >= dst.numel) {
    throw new ShapeError(`${op}: copy of ${fmt(c.shape)} reaches element ${Math.max(srcMax, dstMax)} outside src ${fmt(src.shape)} or dst ${fmt(dst.shape)}`);
  }
  const { shape, ss, ds, pad } = collapse(c);
  const device = src.device;
  // One contiguous range on both sides (a slice or concat along the outermost non-trivial axis, a plain copy): a
  // buffer copy instead of a dispatch, when the byte offsets allow it (f16 ranges may start mid-word).
  const bpe = bytesPerElement(src.dtype);
  const srcByte = (c.srcOffset ?? 0) * bpe, dstByte = (c.dstOffset ?? 0) * bpe;
  if (pad === 4 && shape[0] === 1 && shape[1] === 1 && shape[2] === 1 && ss[3] === 1 && ds[3] === 1 && src.buffer !== dst.buffer
    && srcByte % 4 === 0 && dstByte % 4 === 0 && (n * bpe) % 4 === 0) {
    device.copyBuffer(src.buffer, srcByte, dst.buffer, dstByte, n * bpe);
    return dst;
  }
  const rows = rowsVariant(device, shape[3]!);
  device.dispatch({
    op,
    kernel: 'layout',
    defines: { T: src.dtype, ROWS: rows },
    params: [
      u32(n), u32(shape[1]!), u32(shape[2]!), u32(shape[3]!),
      ...ss.map(u32), u32(c.srcOffset ?? 0), ...ds.map(u32), u32(c.dstOffset ?? 0),
      u32(pad), u32(pad < 4 ? c.padLimit ?? 0 : 0),
    ],
    bindings: [src, dst],
    workgroups: grid2D(ceilDiv(rows ? n / shape[3]! : n, 256), device.caps.maxComputeWorkgroupsPerDimension),
    bytes: 2 * n * bytesPerElement(src.dtype), // read + write of the copied elements, not the whole bound buffers
  });
  return dst;
}

function output(op: string, like: Tensor, shape: number[], out?: Tensor): Tensor {
  if (!out) return Tensor.empty(like.device, shape, like.dtype, op);
  if (out.dtype !== like.dtype || out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: out is ${out.dtype}${fmt(out.shape)}, expected ${like.dtype}${fmt(shape)}`);
  }
  return out;
}

function axisOf(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** out = x.permute(perm): out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[], out?: Tensor): Tensor {
  const r = x.shape.length;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((v, i) => v !== i)) {
    throw new ShapeError(`permute: ${fmt(perm)} is not a permutation of the ${r} axes of ${fmt(x.shape)}`);
  }
  const shape = perm.map((p) => x.shape[p]!);
  const xs = contiguousStrides(x.shape);
  const o = output('permute', x, shape, out);
  return stridedCopy(x, o, { shape, srcStrides: perm.map((p) => xs[p]!), dstStrides: contiguousStrides(shape) }, 'permute');
}

/** Swaps two axes. */
export function transpose(x: Tensor, a: number, b: number, out?: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  const [i, j] = [axisOf('transpose', a, perm.length), axisOf('transpose', b, perm.length)];
  [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  return permute(x, perm, out);
}

/** x[..., start:end, ...] along one axis, as a new contiguous tensor. */
export function slice(x: Tensor, axis: number, start: number, end: number, out?: Tensor): Tensor {
  const a = axisOf('slice', axis, x.shape.length);
  const n = x.shape[a]!;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= n)) {
    throw new ShapeError(`slice: range [${start}, ${end}) invalid for axis ${a} of size ${n} in ${fmt(x.shape)}`);
  }
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  const xs = contiguousStrides(x.shape);
  const o = output('slice', x, shape, out);
  return stridedCopy(x, o, { shape, srcStrides: xs, srcOffset: start * xs[a]!, dstStrides: contiguousStrides(shape) }, 'slice');
}

/** Splits [F, L+T, D] (token axis 1) into the visual [F, L, D] and text [F, T, D] parts. */
export function splitTokens(x: Tensor, visual: number): [Tensor, Tensor] {
  if (x.shape.length !== 3) throw new ShapeError(`splitTokens: input must be [F, L+T, D], got ${fmt(x.shape)}`);
  return [slice(x, 1, 0, visual), slice(x, 1, visual, x.shape[1]!)];
}

/** Concatenation along an axis (all other axes equal, same dtype). */
export function concat(xs: readonly Tensor[], axis: number, out?: Tensor): Tensor {
  if (!xs.length) throw new ShapeError('concat: no inputs');
  const first = xs[0]!;
  const r = first.shape.length;
  const a = axisOf('concat', axis, r);
  for (const t of xs) {
    if (t.dtype !== first.dtype || t.shape.length !== r || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(`concat: ${t.dtype}${fmt(t.shape)} does not match ${first.dtype}${fmt(first.shape)} outside axis ${a}`);
    }
  }
  const shape = first.shape.map((d, i) => (i === a ? xs.reduce((s, t) => s + t.shape[a]!, 0) : d));
  const o = output('concat', first, shape, out);
  const os = contiguousStrides(shape);
  let at = 0;
  for (const t of xs) {
    stridedCopy(t, o, { shape: t.shape, srcStrides: contiguousStrides(t.shape), dstStrides: os, dstOffset: at * os[a]! }, 'concat');
    at += t.shape[a]!;
  }
  return o;
}

/** Numpy-style broadcast copy (length-1 or missing leading axes repeat), e.g. [1, T, D] -> [F, T, D]. */
export function broadcastTo(x: Tensor, shape: readonly number[], out?: Tensor): Tensor {
  const r = shape.length, k = r - x.shape.length;
  if (k < 0) throw new ShapeError(`broadcastTo: cannot broadcast ${fmt(x.shape)} to the lower rank ${fmt(shape)}`);
  const xs = contiguousStrides(x.shape);
  const ss = shape.map((d, i) => {
    if (i < k) return 0;
    const xd = x.shape[i - k]!;
    if (xd === d) return xs[i - k]!;
    if (xd === 1) return 0;
    throw new ShapeError(`broadcastTo: axis ${i - k} of ${fmt(x.shape)} (size ${xd}) cannot broadcast to ${d} in ${fmt(shape)}`);
  });
  const o = output('broadcast', x, [...shape], out);
  return stridedCopy(x, o, { shape, srcStrides: ss, dstStrides: contiguousStrides(shape) }, 'broadcast');
}

/** Pads one axis with zeros at its end up to `size` (e.g. channels [77, 2048] -> [77, 4096]). */
export function padAxis(x: Tensor, axis: number, size: number, out?: Tensor): Tensor {
  const a = axisOf('padAxis', axis, x.shape.length);
  const n = x.shape[a]!;
  if (!Number.isInteger(size) || size < n) throw new ShapeError(`padAxis: new size ${size} is smaller than axis ${a} (${n}) of ${fmt(x.shape)}`);
  const shape = x.shape.map((d, i) => (i === a ? size : d));
  const o = output('pad', x, shape, out);
  // Positions at or past n along the axis are written as zeros and never read from x.
  return stridedCopy(x, o, { shape, srcStrides: contiguousStrides(x.shape), dstStrides: contiguousStrides(shape), padAxis: a, padLimit: n }, 'pad');
}

/** Embedding lookup: table [V, D], ids u32 [...S] -> [...S, D]; ids >= V give zero rows. */
export function gatherRows(table: Tensor, ids: Tensor, out?: Tensor): Tensor {
  if (table.shape.length !== 2) throw new ShapeError(`gatherRows: table must be [V, D], got ${fmt(table.shape)}`);
  if (ids.dtype !== 'u32') throw new ShapeError(`gatherRows: ids must be u32, got ${ids.dtype}`);
  const [V, D] = table.shape as [number, number];
  const shape = [...ids.shape, D];
  const o = output('gather_rows', table, shape, out);
  const n = o.numel;
  const device = table.device;
  device.dispatch({
    op: 'gather_rows',
    kernel: 'layout',
    defines: { T: table.dtype, GATHER: true },
    params: [u32(n), u32(D), u32(V)],
    bindings: [table, ids, o],
    workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
