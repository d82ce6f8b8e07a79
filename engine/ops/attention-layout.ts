// Strided sequence views for attention: how (batch, position, head, dim) maps to elements of a tensor, so the
// spatial, temporal and cross branches of Vchitect (and fused QKV column slices) run with no transposes.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';

/**
 * A batch of sequences inside a tensor. Element (b, s, h, d) of the view is
 * `tensor[offset + b*batchStride + s*seqStride + h*headDim + d]` (all in elements).
 * batchStride 0 shares one sequence among all batches (cross attention's frame-0 text keys).
 */
export interface SeqView {
  tensor: Tensor;
  batch: number;
  seq: number;
  batchStride: number;
  seqStride: number;
  /** Element offset of (0, 0, 0, 0); a column offset selects a slice of a fused [.., 3D] tensor. */
  offset?: number;
}

export type AttentionInput = Tensor | SeqView;

function dims3(t: Tensor, what: string): [number, number, number] {
  const s = t.shape;
  if (s.length === 3) return [s[0]!, s[1]!, s[2]!];
  if (s.length === 2) return [1, s[0]!, s[1]!];
  throw new ShapeError(`attention ${what}: expected a [B, S, C] or [S, C] tensor, got [${s.join(', ')}]`);
}

/**
 * The natural layout: tensor [B, S, C] (or [S, C]) as B sequences of S tokens; the view's channels start at
 * column `col` (use col = 0, D, 2D for the q, k, v slices of a fused [B, S, 3D] projection).
 */
export function seqView(t: Tensor, col = 0): SeqView {
  const [b, s, c] = dims3(t, 'seqView');
  if (col < 0 || col >= c) throw new ShapeError(`seqView: column offset ${col} outside the ${c} channels of [${t.shape.join(', ')}]`);
  return { tensor: t, batch: b, seq: s, batchStride: s * c, seqStride: c, offset: col };
}

/**
 * Temporal attention: tensor [F, S, C] seen as S sequences (one per token position) of F frames each:
 * batch = S with stride C, sequence = F with stride S*C.
 */
export function temporalView(t: Tensor, col = 0): SeqView {
  const [f, s, c] = dims3(t, 'temporalView');
  if (col < 0 || col >= c) throw new ShapeError(`temporalView: column offset ${col} outside the ${c} channels of [${t.shape.join(', ')}]`);
  return { tensor: t, batch: s, seq: f, batchStride: c, seqStride: s * c, offset: col };
}

/**
 * One sequence shared by `batch` query batches (batchStride 0): cross attention of every frame against frame 0's
 * text keys. `t` is [B', S, C] or [S, C]; the view takes sequence `index` of it (default 0).
 */
export function sharedView(t: Tensor, batch: number, index = 0, col = 0): SeqView {
  const base = seqView(t, col);
  if (index < 0 || index >= base.batch) throw new ShapeError(`sharedView: sequence ${index} outside [${t.shape.join(', ')}]`);
  return { ...base, batch, batchStride: 0, offset: (base.offset ?? 0) + index * base.batchStride };
}

export function asView(x: AttentionInput): SeqView {
  return 'tensor' in x ? x : seqView(x);
}

/** Largest element index the view touches with `width` channels per position, plus one. */
export function viewExtent(v: SeqView, width: number): number {
  if (v.batch === 0 || v.seq === 0) return 0;
  return (v.offset ?? 0) + (v.batch - 1) * v.batchStride + (v.seq - 1) * v.seqStride + width;
}

/** Whether every offset and stride is a multiple of 4 elements (vec4 kernels need it). */
export function vec4Aligned(v: SeqView): boolean {
  return (v.offset ?? 0) % 4 === 0 && v.batchStride % 4 === 0 && v.seqStride % 4 === 0;
}
