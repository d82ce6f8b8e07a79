// Ulysses sequence parallelism for the Vchitect-2.0 transformer (../shared/spec/parallel.md section 1): each rank of
// an SP group holds a slice of the visual and (separately) the text tokens; everything runs locally except the
// spatial and cross attention, wrapped in all-to-alls that trade the sequence split for a head split and back.
// When the heads do not split over the group (H % P != 0), one all-gather of K/V per layer replaces the all-to-alls.

import type { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure } from '../distributed/errors.js';
import type { Device } from '../gpu/device.js';
import type { TransformerDims, SubModel } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import { validateTransformer } from '../io/checkpoint.js';
import type { DType } from '../dtype.js';
import { attention, sharedView, temporalView, type SeqView } from '../ops/attention.js';
import { add, scale, silu } from '../ops/elementwise.js';
import { concat, contiguousStrides, padAxis, permute, slice, stridedCopy } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { patchify, unpatchify } from '../ops/patch.js';
import { rope } from '../ops/rope.js';
import { Tensor } from '../tensor.js';
import { GpuWeights } from '../model/weights.js';
import { Scratch } from '../model/scratch.js';
import { ROPE_THETA, SPATIAL_WEIGHT, VchitectTransformer, type VchitectInputs, type VchitectLoadOptions } from '../model/vchitect.js';
import { Stager, type StagerOptions } from './staging.js';

/** Group sizes P that Ulysses supports for H heads (the divisors of H). */
export function validSpSizes(heads: number): number[] {
  return Array.from({ length: heads }, (_, i) => i + 1).filter((p) => heads % p === 0);
}

/**
 * Throws unless the H heads split evenly over P ranks (what the Ulysses all-to-all needs). UlyssesVchitect does not
 * call it: it falls back to the all-gather of K/V instead (see spAttentionExchange).
 */
export function checkHeadSplit(heads: number, P: number): void {
  if (!Number.isInteger(P) || P < 1 || heads % P !== 0) {
    throw new Error(
      `Ulysses sequence parallelism scatters the attention heads over the SP group: H = ${heads} heads do not split over P = ${P} ranks ` +
        `(H % P = ${heads % P}). Use an SP size in {${validSpSizes(heads).join(', ')}} (and CFG parallelism or data parallelism for the remaining GPUs).`,
    );
  }
}

/** How the attention of an SP group of P ranks exchanges data: Ulysses when H % P == 0, else the all-gather of K/V. */
export type AttentionExchange = 'ulysses' | 'kv-allgather';

export function spAttentionExchange(heads: number, P: number): AttentionExchange {
  if (!Number.isInteger(P) || P < 1) throw new Error(`sequence parallelism: the SP group size must be a positive integer, got ${P}`);
  return heads % P === 0 ? 'ulysses' : 'kv-allgather';
}

/** How a token axis of n tokens is sharded over P ranks: padded to a multiple of P, rank r holds rows [r*per, (r+1)*per). */
export interface TokenShard {
  n: number;
  padded: number;
  per: number;
  start: number;
}

export function tokenShard(n: number, P: number, rank: number): TokenShard {
  const per = Math.ceil(n / P);
  return { n, padded: per * P, per, start: rank * per };
}

/** Per-call geometry of one SP forward. */
export interface SpGeometry {
  F: number;
  Hl: number;
  Wl: number;
  h: number;
  w: number;
  P: number;
  rank: number;
  /** Visual tokens per frame (L = h*w) and their shard. */
  vis: TokenShard;
  /** Text tokens (T) and their shard. */
  txt: TokenShard;
}

/** This rank's rows of the (guided or plain) velocity before the final all-gather: [F, L/P (padded), 64]. */
export interface LocalVelocity {
  rows: Tensor;
  geometry: SpGeometry;
}

/** The spatial and cross outputs on this rank's local rows ([F, nL, D] visual, [F, nT, D] text), padding rows zero. */
interface LocalBranches {
  spatialV: Tensor;
  crossV: Tensor;
  /** null in the last block (its text stream is not used). */
  spatialT: Tensor | null;
  crossT: Tensor | null;
}

export class UlyssesVchitect extends VchitectTransformer {
  readonly stager: Stager;
  /** 'ulysses' (all-to-alls, H/P heads per rank) when the heads split over the group, else 'kv-allgather'. */
  readonly attentionExchange: AttentionExchange;

  constructor(device: Device, dims: TransformerDims, weights: GpuWeights, dtype: DType, readonly sp: ProcessGroup, opts: StagerOptions = {}) {
    super(device, dims, weights, dtype);
    this.attentionExchange = spAttentionExchange(dims.heads, sp.size);
    this.stager = new Stager(device, sp, opts);
  }

  /** Loads the transformer on this rank's device for SP group `sp` (every rank holds all weights). */
  static async loadParallel(
    device: Device,
    sub: SubModel<VchitectTransformerConfig>,
    sp: ProcessGroup,
    opts: VchitectLoadOptions & StagerOptions = {},
  ): Promise<UlyssesVchitect> {
    const dims = validateTransformer(sub);
    spAttentionExchange(dims.heads, sp.size); // checks the group size before streaming weights
    const dtype = opts.dtype ?? 'f32';
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress);
    return new UlyssesVchitect(device, dims, weights, dtype, sp, opts);
  }

  /** SP forward: every rank passes the same inputs and gets the full velocity [1, F, outChannels, Hl, Wl]. */
  async forwardParallel(inp: VchitectInputs): Promise<Tensor> {
    const local = await this.forwardLocal(inp);
    try {
      return await this.gatherVelocity(local);
    } finally {
      local.rows.dispose();
    }
  }

  /**
   * The transformer on this rank's token slice, up to proj_out: [F, L/P, 64] rows. A failure on this rank aborts
   * the transport so that every other rank fails at once instead of waiting in a collective.
   */
  async forwardLocal(inp: VchitectInputs): Promise<LocalVelocity> {
    try {
      return await this.localForward(inp);
    } catch (e) {
      throw abortOnLocalFailure(this.sp.transport, `sequence-parallel forward on rank ${this.sp.transport.rank} (group ${this.sp.describe()})`, e);
    }
  }

  /** All-gathers the rows of every rank, drops the padding and unpatchifies: [1, F, outChannels, Hl, Wl]. */
  async gatherVelocity(local: LocalVelocity): Promise<Tensor> {
    const { F, h, w, Hl, Wl, vis, P } = local.geometry;
    const s = new Scratch();
    const C = local.rows.shape[2]!;
    const all = P === 1 ? s.t(local.rows.reshape([1, F, vis.per, C])) : s.t(await this.stager.allGather(local.rows, 'velocity rows'));
    const byFrame = s.t(permute(all, [1, 0, 2, 3])); // [F, P, L/P, C]
    const rows = s.t(byFrame.reshape([F, vis.padded, C]));
    const video = s.t(unpatchify(s.t(slice(rows, 1, 0, vis.n)), h, w, { patch: this.dims.patchSize }));
    const out = video.reshape([1, F, this.dims.outChannels, Hl, Wl]);
    s.release();
    return out;
  }

  /** The forward of the spec (section 2) on local rows; attention branches in ulyssesAttention. */
  protected async localForward(inp: VchitectInputs): Promise<LocalVelocity> {
    const g = this.geometry(inp);
    const { D, patchSize: p, inChannels } = this.dims;
    const { F, Hl, Wl, vis, txt } = g;
    const s = new Scratch();
    // 1-2. Patch embed and position table on this rank's visual token slice (padding rows are zero).
    const frames = s.t(inp.hidden.reshape([F, inChannels, Hl, Wl]));
    const patches = s.t(this.shardRows(s.t(patchify(frames, { patch: p })), 1, vis));
    const projW = s.t(this.w('pos_embed.proj.weight').reshape([D, inChannels * p * p]));
    const tokens = s.t(linear(patches, projW, this.w('pos_embed.proj.bias')));
    let X = add(tokens, s.t(this.shardRows(this.positionTable(g.h, g.w), 0, vis)));
    // 3. temb (replicated on every rank: it is tiny).
    const temb = this.timeTextEmbedding(inp.timestep, inp.pooled, s);
    const eAct = s.t(silu(temb));
    // 4. Context embedder on this rank's text token slice.
    const cs = inp.context.shape;
    let C = this.lin(s.t(this.shardRows(s.t(inp.context.reshape([1, cs[1]!, cs[2]!])), 1, txt)), 'context_embedder');
    s.release(X, C, eAct);
    // 5. Blocks.
    for (let i = 0; i < this.dims.numLayers; i++) {
      const out = await this.parallelBlock(i, X, C, eAct, g);
      X.dispose();
      if (out.C !== C) C.dispose();
      X = out.X;
      C = out.C;
    }
    C.dispose();
    // 6. Final AdaLayerNormContinuous and proj_out on local rows (unpatchify after the all-gather).
    const rows = this.outputRows(X, eAct, s);
    s.release();
    return { rows, geometry: g };
  }

  /** Block i on local rows: the single-device block's halves around the sequence-parallel attention. */
  protected async parallelBlock(i: number, X: Tensor, C: Tensor, e: Tensor, g: SpGeometry): Promise<{ X: Tensor; C: Tensor }> {
    const s = new Scratch();
    const b = this.blockInputs(i, X, C, e, g.F, s);
    const { visual, text } = await this.ulyssesAttention(i, b.Xh, b.Ch, g, s);
    const out = b.finish(visual, text);
    s.release();
    return out;
  }

  /**
   * The three branches on local rows Xh [F, L/P, D], Ch [F, T/P, D]. Spatial and cross: Ulysses all-to-alls
   * (headSplitAttention) or, when H % P != 0, the all-gather of K/V (kvGatherAttention). Temporal: local (per token).
   */
  protected async ulyssesAttention(i: number, Xh: Tensor, Ch: Tensor, g: SpGeometry, s: Scratch): Promise<{ visual: Tensor; text: Tensor | null }> {
    const a = `transformer_blocks.${i}.attn.`;
    const last = i === this.dims.numLayers - 1;
    const { heads, headDim } = this.dims;
    const { F, vis, txt } = g;
    const lin = (x: Tensor, name: string) => s.t(this.lin(x, `${a}${name}`));
    const [q, k, v, qx] = [lin(Xh, 'to_q'), lin(Xh, 'to_k'), lin(Xh, 'to_v'), lin(Xh, 'to_q_cross')];
    const [cq, ck, cv] = [lin(Ch, 'add_q_proj'), lin(Ch, 'add_k_proj'), lin(Ch, 'add_v_proj')];
    const proj = { q, k, v, qx, cq, ck, cv };
    const br = this.attentionExchange === 'ulysses' ? await this.headSplitAttention(proj, last, g, s) : await this.kvGatherAttention(proj, last, g, s);

    // Hsum = 1.1 * S_out + to_out_context(X_out), on local rows (visual and text kept apart).
    const hsum = (xo: Tensor, so: Tensor) => s.t(this.lin(xo, `${a}to_out_context`, { residual: { x: s.t(scale(so, SPATIAL_WEIGHT)) } }));
    const Hv = hsum(br.crossV, br.spatialV);
    const Ht = last ? null : hsum(br.crossT!, br.spatialT!);

    // (2) temporal: per token position over the F frames, needs no communication. Multiplied by 0 when F == 1.
    if (F === 1) return { visual: lin(Hv, 'to_out.0'), text: Ht ? lin(Ht, 'to_add_out') : null };
    const frames = Array.from({ length: F }, (_, f) => f);
    const ropeF = (x: Tensor) => s.t(rope(x, { headDim, positions: frames, axis: 0, theta: ROPE_THETA }));
    const cat = (x: Tensor, y: Tensor) => s.t(concat([x, y], 1));
    const Qt = ropeF(cat(lin(Xh, 'to_q_temp'), cq));
    const Kt = ropeF(cat(lin(Xh, 'to_k_temp'), ck));
    const Vt = cat(lin(Xh, 'to_v_temp'), cv);
    const nL = vis.per;
    const Tout = s.t(Tensor.empty(this.device, [F, nL + txt.per, this.dims.D], Qt.dtype, 'temporal out'));
    attention(temporalView(Qt), temporalView(Kt), temporalView(Vt), { heads, headDim, out: temporalView(Tout) });
    const visual = s.t(this.lin(Hv, `${a}to_out.0`, { residual: { x: lin(s.t(slice(Tout, 1, 0, nL)), 'to_out_temporal') } }));
    const text = Ht ? s.t(this.lin(Ht, `${a}to_add_out`, { residual: { x: lin(s.t(slice(Tout, 1, nL, nL + txt.per)), 'to_add_out_temporal') } })) : null;
    return { visual, text };
  }

  /**
   * Ulysses (H % P == 0): all-to-all to the full sequence for H/P heads, drop padding, spatial and cross attention,
   * re-pad, inverse all-to-all back to local rows with all heads.
   */
  protected async headSplitAttention(pr: Projections, last: boolean, g: SpGeometry, s: Scratch): Promise<LocalBranches> {
    const { heads, headDim } = this.dims;
    const { F, P, vis, txt } = g;
    // All-to-all: gather the sequence, scatter the heads (one exchange for all seven projections).
    const [qS, kS, vS, qxS, cqS, ckS, cvS] = await this.sequenceToHeads([pr.q, pr.k, pr.v, pr.qx, pr.cq, pr.ck, pr.cv], s);
    const unpadV = (x: Tensor) => s.t(slice(x!, 1, 0, vis.n));
    const unpadT = (x: Tensor) => s.t(slice(x!, 1, 0, txt.n));
    const joint = (vx: Tensor, tx: Tensor) => s.t(concat([unpadV(vx), unpadT(tx)], 1)); // [F, S, D/P]
    const local = { heads: heads / P, headDim };
    const cqJ = unpadT(cqS!);
    // (1) spatial, per frame over S = L + T tokens; (3) cross, against frame 0's text keys and values.
    const Sout = s.t(attention(s.t(concat([unpadV(qS!), cqJ], 1)), joint(kS!, ckS!), joint(vS!, cvS!), local));
    const Xout = s.t(attention(s.t(concat([unpadV(qxS!), cqJ], 1)), sharedView(unpadT(ckS!), F, 0), sharedView(unpadT(cvS!), F, 0), local));

    // Re-pad and all-to-all back: gather the heads, scatter the sequence.
    const repad = (x: Tensor, from: number, to: number, shard: TokenShard) => s.t(padAxis(s.t(slice(x, 1, from, to)), 1, shard.padded));
    const S = vis.n + txt.n;
    const parts = [repad(Sout, 0, vis.n, vis), repad(Xout, 0, vis.n, vis)];
    if (!last) parts.push(repad(Sout, vis.n, S, txt), repad(Xout, vis.n, S, txt));
    const [spatialV, crossV, spatialT, crossT] = await this.headsToSequence(parts, s);
    return { spatialV: spatialV!, crossV: crossV!, spatialT: spatialT ?? null, crossT: crossT ?? null };
  }

  /**
   * Fallback when H % P != 0: one all-gather of this rank's k, v (visual rows) and ck, cv (text rows), rebuilt into
   * the joint keys/values [F, L + T, D] without padding; then this rank's query rows attend with all H heads, so the
   * outputs are already local rows (no inverse exchange). Padding query rows are zeroed, as the Ulysses path re-pads.
   */
  protected async kvGatherAttention(pr: Projections, last: boolean, g: SpGeometry, s: Scratch): Promise<LocalBranches> {
    const { heads, headDim, D } = this.dims;
    const { F, vis, txt } = g;
    const kv = [pr.k, pr.v, pr.ck, pr.cv];
    const { offsets, total } = packing(kv.map((x) => x.numel));
    const packed = s.t(Tensor.empty(this.device, [total], pr.k.dtype, 'kv gather send'));
    kv.forEach((x, i) => stridedCopy(x, packed, { shape: [x.numel], srcStrides: [1], dstStrides: [1], dstOffset: offsets[i] }, 'kv_pack'));
    const recv = s.t(await this.stager.allGather(packed, 'kv all-gather')); // [P, total]
    const S = vis.n + txt.n;
    const jointOf = (vi: number, ti: number, label: string) => {
      const out = s.t(Tensor.empty(this.device, [F, S, D], recv.dtype, label));
      unpackGathered(recv, total, offsets[vi]!, vis, out, 0);
      unpackGathered(recv, total, offsets[ti]!, txt, out, vis.n);
      return out;
    };
    const K = jointOf(0, 2, 'kv gather keys'); // [F, L + T, D]: [k_all ; ck_all] per frame, as on one device
    const V = jointOf(1, 3, 'kv gather values');
    // Frame 0's text keys/values: rows [L, L + T) of frame 0, shared by every frame's queries.
    const frame0Text = (x: Tensor): SeqView => ({ ...sharedView(x, F, 0), seq: txt.n, offset: vis.n * D });
    const all = { heads, headDim };
    // (1) spatial: local queries [q ; cq] against the joint sequence; (3) cross: [q_cross ; cq] against frame 0's text.
    const Sout = s.t(attention(s.t(concat([pr.q, pr.cq], 1)), K, V, all));
    const Xout = s.t(attention(s.t(concat([pr.qx, pr.cq], 1)), frame0Text(K), frame0Text(V), all));
    // Local rows, the padding rows zeroed (what the Ulysses path's re-padding gives).
    const nL = vis.per;
    const realRows = (x: Tensor, from: number, shard: TokenShard) => s.t(zeroPadRows(x, from, shard));
    return {
      spatialV: realRows(Sout, 0, vis),
      crossV: realRows(Xout, 0, vis),
      spatialT: last ? null : realRows(Sout, nL, txt),
      crossT: last ? null : realRows(Xout, nL, txt),
    };
  }

  /**
   * Local rows xs[i] [F, n_i, D] (all heads) -> [F, P*n_i, D/P] (all ranks' rows, this rank's heads), one all-to-all.
   * Packed layout [P][sum_i F*n_i*D/P]: segment p holds head group p of every tensor.
   */
  protected async sequenceToHeads(xs: readonly Tensor[], s: Scratch): Promise<Tensor[]> {
    const P = this.sp.size;
    const Dp = this.dims.D / P;
    const { offsets, total } = packing(xs.map((x) => x.shape[0]! * x.shape[1]! * Dp));
    const packed = s.t(Tensor.empty(this.device, [P, total], xs[0]!.dtype, 'a2a send'));
    xs.forEach((x, i) => {
      const [F, n] = x.shape as [number, number];
      stridedCopy(x, packed, { shape: [F, n, P, Dp], srcStrides: contiguousStrides([F, n, P, Dp]), dstStrides: [n * Dp, Dp, total, 1], dstOffset: offsets[i] }, 'ulysses_pack');
    });
    const recv = P === 1 ? packed : s.t(await this.stager.allToAll(packed, 'ulysses seq->heads'));
    return xs.map((x, i) => {
      const [F, n] = x.shape as [number, number];
      const out = s.t(Tensor.empty(this.device, [F, P * n, Dp], x.dtype, 'ulysses heads'));
      return stridedCopy(recv, out, { shape: [F, P, n, Dp], srcStrides: [n * Dp, total, Dp, 1], srcOffset: offsets[i], dstStrides: contiguousStrides([F, P, n, Dp]) }, 'ulysses_unpack');
    });
  }

  /** Inverse of sequenceToHeads: xs[i] [F, P*n_i, D/P] -> [F, n_i, D] (this rank's rows, all heads). */
  protected async headsToSequence(xs: readonly Tensor[], s: Scratch): Promise<Tensor[]> {
    const P = this.sp.size;
    const Dp = this.dims.D / P;
    const { offsets, total } = packing(xs.map((x) => x.numel));
    const packed = s.t(Tensor.empty(this.device, [P, total / P], xs[0]!.dtype, 'a2a send'));
    const seg = total / P;
    xs.forEach((x, i) => {
      const F = x.shape[0]!;
      const n = x.shape[1]! / P;
      const off = offsets[i]! / P;
      stridedCopy(x, packed, { shape: [F, P, n, Dp], srcStrides: contiguousStrides([F, P, n, Dp]), dstStrides: [n * Dp, seg, Dp, 1], dstOffset: off }, 'ulysses_pack');
    });
    const recv = P === 1 ? packed : s.t(await this.stager.allToAll(packed, 'ulysses heads->seq'));
    return xs.map((x, i) => {
      const F = x.shape[0]!;
      const n = x.shape[1]! / P;
      const out = s.t(Tensor.empty(this.device, [F, n, P * Dp], x.dtype, 'ulysses rows'));
      return stridedCopy(recv, out, { shape: [F, n, P, Dp], srcStrides: [n * Dp, Dp, seg, 1], srcOffset: offsets[i]! / P, dstStrides: contiguousStrides([F, n, P, Dp]) }, 'ulysses_unpack');
    });
  }

  /** Rows [shard.start, shard.start + shard.per) of x along `axis`, zero past the real n tokens (one copy). */
  protected shardRows(x: Tensor, axis: number, shard: TokenShard): Tensor {
    const shape = x.shape.map((d, i) => (i === axis ? shard.per : d));
    const xs = contiguousStrides(x.shape);
    const out = Tensor.empty(this.device, shape, x.dtype, 'sp shard');
    const real = Math.max(0, Math.min(shard.per, shard.n - shard.start));
    return stridedCopy(x, out, {
      shape, srcStrides: xs, srcOffset: real > 0 ? shard.start * xs[axis]! : 0, dstStrides: contiguousStrides(shape), padAxis: axis, padLimit: real,
    }, 'sp_shard');
  }

  private geometry(inp: VchitectInputs): SpGeometry {
    const P = this.sp.size;
    const { F, Hl, Wl, h, w, T } = this.inputGeometry(inp, 'Vchitect SP forward');
    const rank = this.sp.rank;
    return { F, Hl, Wl, h, w, P, rank, vis: tokenShard(h * w, P, rank), txt: tokenShard(T, P, rank) };
  }

}

/** The seven projections of one block's attention on local rows: visual [F, nL, D], text [F, nT, D]. */
interface Projections {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  qx: Tensor;
  cq: Tensor;
  ck: Tensor;
  cv: Tensor;
}

/**
 * Copies one all-gathered tensor (rank p's [F, per, D] at recv[p * total + offset ..]) into rows
 * [rowStart, rowStart + n) of every frame of out [F, S, D], dropping the padding: ranks 0..full-1 hold `per` real
 * rows each (one strided copy), rank `full` the remaining n - full*per, the ranks after it none.
 */
export function unpackGathered(recv: Tensor, total: number, offset: number, shard: TokenShard, out: Tensor, rowStart: number): void {
  const { n, per } = shard;
  if (n === 0) return;
  const [F, S, D] = out.shape as [number, number, number];
  const full = Math.floor(n / per);
  stridedCopy(recv, out, { shape: [F, full, per, D], srcStrides: [per * D, total, D, 1], srcOffset: offset, dstStrides: [S * D, per * D, D, 1], dstOffset: rowStart * D }, 'kv_unpack');
  const rest = n - full * per;
  if (rest > 0) {
    stridedCopy(recv, out, { shape: [F, rest, D], srcStrides: [per * D, D, 1], srcOffset: full * total + offset, dstStrides: [S * D, D, 1], dstOffset: (rowStart + full * per) * D }, 'kv_unpack');
  }
}

/** Rows [from, from + shard.per) of x [F, rows, D] as a new [F, shard.per, D], zero past this rank's real tokens. */
function zeroPadRows(x: Tensor, from: number, shard: TokenShard): Tensor {
  const [F, rows, D] = x.shape as [number, number, number];
  const shape = [F, shard.per, D];
  const real = Math.max(0, Math.min(shard.per, shard.n - shard.start));
  const out = Tensor.empty(x.device, shape, x.dtype, 'kv gather rows');
  return stridedCopy(x, out, { shape, srcStrides: [rows * D, D, 1], srcOffset: from * D, dstStrides: contiguousStrides(shape), padAxis: 1, padLimit: real }, 'kv_unpad');
}

/** Offsets of consecutive blocks of the given sizes (also sp-attn.ts's packing of its all-to-alls). */
export function packing(sizes: readonly number[]): { offsets: number[]; total: number } {
  const offsets: number[] = [];
  let total = 0;
  for (const n of sizes) {
    offsets.push(total);
    total += n;
  }
  return { offsets, total };
}
