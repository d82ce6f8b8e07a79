// Video-Infinity clip parallelism with dual-scope temporal attention for the Vchitect-2.0 transformer
// (../shared/spec/parallel.md section 2). Each rank holds a contiguous clip of latent frames; patch embed, spatial and
// cross attention, MLPs and the final layer are per frame and stay local. Temporal attention of the clip's queries sees
// a window of keys [p frames before | clip | p frames after | global set G] (halos from the neighbours, exchanged in two
// parity rounds; G by an all-gather), masked so each query sees its 2p+1 frames plus all of G, with the
// timestep-dependent logit bias. Vchitect's cross attention uses frame 0's text K/V: rank 0 broadcasts them per block.
// With no group (or one rank) the same class computes the whole video on one device, clip by clip, with the windows
// sliced locally: the one-device dual-scope reference that N ranks reproduce.

import type { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure } from '../distributed/errors.js';
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateTransformer, type SubModel, type TransformerDims } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import { additiveMask, attention, sharedView, temporalView } from '../ops/attention.js';
import { add, scale, silu } from '../ops/elementwise.js';
import { concat, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { patchify, unpatchify } from '../ops/patch.js';
import { rope } from '../ops/rope.js';
import { Tensor } from '../tensor.js';
import { Scratch } from '../model/scratch.js';
import { GpuWeights } from '../model/weights.js';
import { ROPE_THETA, SPATIAL_WEIGHT, VchitectTransformer, type VchitectInputs, type VchitectLoadOptions } from '../model/vchitect.js';
import { biasOnGlobal, globalFramesOf, haloPartners, type ClipLayout } from './clip-layout.js';
import { uploadBytes } from './staging.js';

/** Which clips this forward holds: one device holds all of them, rank r of an N-rank group holds clip r. */
interface Held {
  layout: ClipLayout;
  /** Held clip indices (contiguous). */
  clips: number[];
  /** First global frame held. */
  first: number;
  /** Frames held. */
  F: number;
  /** Per held clip: its attention mask and logit bias (the same in every block of one forward; disposed after it). */
  masks: Map<number, { mask: Tensor; bias: Tensor }>;
}

export class ClipParallelVchitect extends VchitectTransformer {
  /** How spatial and cross attention exchange data (UlyssesVchitect's counterpart): not at all, they are per frame. */
  readonly attentionExchange = 'local' as const;

  constructor(
    device: Device,
    dims: TransformerDims,
    weights: GpuWeights,
    dtype: DType,
    /** The clip-parallel group (rank r owns clip r); null = one device holding every clip. */
    readonly group: ProcessGroup | null,
  ) {
    super(device, dims, weights, dtype);
  }

  static async loadClipParallel(device: Device, sub: SubModel<VchitectTransformerConfig>, group: ProcessGroup | null, opts: VchitectLoadOptions = {}): Promise<ClipParallelVchitect> {
    const dims = validateTransformer(sub);
    const dtype = opts.dtype ?? 'f32';
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress);
    return new ClipParallelVchitect(device, dims, weights, dtype, group);
  }

  private get ranks(): number {
    return this.group?.size ?? 1;
  }

  /**
   * Velocity of the frames this rank holds. inp.hidden holds this rank's clip ([1, lengths[rank], C, Hl, Wl]; the
   * whole video with no group), layout the clips of the whole video (one per rank, or any number on one device).
   * A failure on this rank aborts the transport so the other ranks fail at once.
   */
  async forwardClips(inp: VchitectInputs, layout: ClipLayout): Promise<Tensor> {
    try {
      return await this.clipForward(inp, layout);
    } catch (e) {
      if (!this.group) throw e;
      throw abortOnLocalFailure(this.group.transport, `clip-parallel forward on rank ${this.group.rank} (group ${this.group.describe()})`, e);
    }
  }

  private held(layout: ClipLayout, F: number): Held {
    const N = this.ranks;
    if (N > 1 && layout.lengths.length !== N) {
      throw new Error(`clip parallelism: the layout has ${layout.lengths.length} clips for ${N} ranks (one clip per rank)`);
    }
    const clips = N > 1 ? [this.group!.rank] : layout.lengths.map((_, c) => c);
    const first = layout.starts[clips[0]!]!;
    const want = clips.reduce((a, c) => a + layout.lengths[c]!, 0);
    if (F !== want) throw new Error(`clip-parallel forward: hidden_states hold ${F} frames, but clip(s) ${clips.join(', ')} of the layout have ${want}`);
    return { layout, clips, first, F, masks: new Map() };
  }

  private async clipForward(inp: VchitectInputs, layout: ClipLayout): Promise<Tensor> {
    const { D, patchSize: P, inChannels, outChannels } = this.dims;
    const { F, Hl, Wl, h, w, T } = this.inputGeometry(inp, 'Vchitect clip-parallel forward');
    const held = this.held(layout, F);
    const s = new Scratch();
    const frames = s.t(inp.hidden.reshape([F, inChannels, Hl, Wl]));
    const patches = s.t(patchify(frames, { patch: P }));
    const projW = s.t(this.w('pos_embed.proj.weight').reshape([D, inChannels * P * P]));
    const tokens = s.t(linear(patches, projW, this.w('pos_embed.proj.bias')));
    let X = add(tokens, this.positionTable(h, w));
    const temb = this.timeTextEmbedding(inp.timestep, inp.pooled, s);
    const eAct = s.t(silu(temb));
    let C = this.lin(s.t(inp.context.reshape([1, T, this.dims.jointAttentionDim])), 'context_embedder');
    s.release(X, C, eAct);
    try {
      for (let i = 0; i < this.dims.numLayers; i++) {
        const bs = new Scratch();
        const b = this.blockInputs(i, X, C, eAct, F, bs);
        const { visual, text } = await this.clipAttention(i, b.Xh, b.Ch, held, inp.timestep, bs);
        const out = b.finish(visual, text);
        bs.release();
        X.dispose();
        if (out.C !== C) C.dispose();
        X = out.X;
        C = out.C;
      }
    } finally {
      for (const m of held.masks.values()) [m.mask, m.bias].forEach((t) => t.dispose());
    }
    C.dispose();
    const out = s.t(this.outputRows(X, eAct, s));
    const video = unpatchify(out, h, w, { patch: P });
    s.release();
    const result = video.reshape([1, F, outChannels, Hl, Wl]);
    video.dispose();
    return result;
  }

  /** The three branches on the held frames; temporal is dual-scope. */
  private async clipAttention(i: number, Xh: Tensor, Ch: Tensor, held: Held, timestep: number, s: Scratch): Promise<{ visual: Tensor; text: Tensor | null }> {
    const a = `transformer_blocks.${i}.attn.`;
    const last = i === this.dims.numLayers - 1;
    const { heads, headDim } = this.dims;
    const F = held.F;
    const L = Xh.shape[1]!;
    const T = Ch.shape[1]!;
    const lin = (x: Tensor, name: string) => s.t(this.lin(x, `${a}${name}`));
    const cat = (x: Tensor, y: Tensor) => s.t(concat([x, y], 1));
    const [cq, ck, cv] = [lin(Ch, 'add_q_proj'), lin(Ch, 'add_k_proj'), lin(Ch, 'add_v_proj')];
    // (1) spatial per frame; (3) cross against the video's frame-0 text keys/values (rank 0 holds frame 0).
    const Sout = s.t(attention(cat(lin(Xh, 'to_q'), cq), cat(lin(Xh, 'to_k'), ck), cat(lin(Xh, 'to_v'), cv), { heads, headDim }));
    const [ck0, cv0] = await this.frameZeroText(ck, cv, s);
    const Xout = s.t(attention(cat(lin(Xh, 'to_q_cross'), cq), sharedView(ck0, F, 0), sharedView(cv0, F, 0), { heads, headDim }));
    const Hsum = s.t(this.lin(Xout, `${a}to_out_context`, { residual: { x: s.t(scale(Sout, SPATIAL_WEIGHT)) } }));
    const rows = (x: Tensor, from: number, to: number) => s.t(slice(x, 1, from, to));
    // (2) temporal (multiplied by 0 when the whole video is one frame).
    if (held.layout.frames === 1) {
      return { visual: lin(rows(Hsum, 0, L), 'to_out.0'), text: last ? null : lin(rows(Hsum, L, L + T), 'to_add_out') };
    }
    const Qt = cat(lin(Xh, 'to_q_temp'), cq);
    const Kt = cat(lin(Xh, 'to_k_temp'), ck);
    const Vt = cat(lin(Xh, 'to_v_temp'), cv);
    const Tout = await this.dualScope(Qt, Kt, Vt, held, timestep, s);
    const visual = s.t(this.lin(rows(Hsum, 0, L), `${a}to_out.0`, { residual: { x: lin(rows(Tout, 0, L), 'to_out_temporal') } }));
    const text = last ? null : s.t(this.lin(rows(Hsum, L, L + T), `${a}to_add_out`, { residual: { x: lin(rows(Tout, L, L + T), 'to_add_out_temporal') } }));
    return { visual, text };
  }

  /** Frame 0's text keys and values [1, T, D]: local on one device and rank 0, broadcast from rank 0 to the others. */
  private async frameZeroText(ck: Tensor, cv: Tensor, s: Scratch): Promise<[Tensor, Tensor]> {
    const g = this.group;
    const first = (x: Tensor) => s.t(slice(x, 0, 0, 1));
    if (!g || g.size === 1) return [first(ck), first(cv)];
    const [, T, D] = ck.shape as [number, number, number];
    const mine = g.rank === 0 ? new Uint8Array(await s.t(concat([first(ck), first(cv)], 0)).readRaw()) : new Uint8Array(0); // only the root's is sent
    const got = await g.broadcast(mine, 0);
    const both = s.t(uploadBytes(this.device, got, [2, T, D], ck.dtype, 'frame-0 text k/v'));
    return [s.t(slice(both, 0, 0, 1)), s.t(slice(both, 0, 1, 2))];
  }

  /**
   * Dual-scope temporal attention of the held clips: queries Qt, keys Kt, values Vt [F, S, D] (unroped). Returns
   * [F, S, D]. Each clip's key window is [halo before | clip | halo after | G]: sliced locally when the frames are held,
   * else received (halos from the neighbours, G from the all-gather); zeros beyond the video ends.
   */
  private async dualScope(Qt: Tensor, Kt: Tensor, Vt: Tensor, held: Held, timestep: number, s: Scratch): Promise<Tensor> {
    const { layout } = held;
    const o = layout.opts;
    const p = o.window;
    const { headDim, heads } = this.dims;
    const [, S, D] = Qt.shape as [number, number, number];
    const KV = s.t(concat([Kt, Vt], 2)); // [F, S, 2D]: keys and values travel together
    const local = (g0: number, g1: number) => s.t(slice(KV, 0, g0 - held.first, g1 - held.first));
    const zeros = (n: number) => s.t(Tensor.zeros(this.device, [n, S, 2 * D], KV.dtype, 'dual-scope zero halo'));
    // Halos and G of a single held clip come from the other ranks.
    const remote = this.ranks > 1 ? await this.exchange(KV, held, s) : null;
    const glob = remote ? remote.global : s.t(concat(layout.global.map((g) => local(g, g + 1)), 0));
    const outs: Tensor[] = [];
    for (const c of held.clips) {
      const start = layout.starts[c]!;
      const len = layout.lengths[c]!;
      const before = p === 0 ? null : c === 0 ? zeros(p) : remote ? remote.before! : local(start - p, start);
      const after = p === 0 ? null : c === layout.lengths.length - 1 ? zeros(p) : remote ? remote.after! : local(start + len, start + len + p);
      const parts = [before, local(start, start + len), after, glob].filter((x): x is Tensor => x !== null);
      const win = s.t(concat(parts, 0)); // [len + 2p + |G|, S, 2D]
      const nLocal = len + 2 * p;
      const Fk = nLocal + layout.global.length;
      const keyPos = Array.from({ length: Fk }, (_, j) =>
        o.rope === 'window' ? j : j < nLocal ? Math.max(0, start - p + j) : layout.global[j - nLocal]!,
      ); // zero halo keys stay zero under any rotation
      const qPos = Array.from({ length: len }, (_, f) => (o.rope === 'window' ? p + f : start + f));
      const K = s.t(rope(s.t(slice(win, 2, 0, D)), { headDim, positions: keyPos, axis: 0, theta: ROPE_THETA }));
      const V = s.t(slice(win, 2, D, 2 * D));
      const Q = s.t(rope(s.t(slice(Qt, 0, start - held.first, start - held.first + len)), { headDim, positions: qPos, axis: 0, theta: ROPE_THETA }));
      const { mask, bias } = this.clipMask(held, c, timestep);
      const out = s.t(Tensor.empty(this.device, [len, S, D], Q.dtype, 'dual-scope out'));
      attention(temporalView(Q), temporalView(K), temporalView(V), { heads, headDim, mask, bias, out: temporalView(out) });
      outs.push(out);
    }
    return outs.length === 1 ? outs[0]! : s.t(concat(outs, 0));
  }

  /**
   * Clip c's additive mask [len, Fk] (query f sees window keys f .. f+2p, minus the halo keys beyond the video ends
   * with ends = 'mask', and every key of G) and logit bias [Fk] (+bias on G while t >= switch, else on the window).
   */
  private clipMask(held: Held, c: number, timestep: number): { mask: Tensor; bias: Tensor } {
    let m = held.masks.get(c);
    if (m) return m;
    const { layout } = held;
    const o = layout.opts;
    const p = o.window;
    const start = layout.starts[c]!;
    const len = layout.lengths[c]!;
    const nLocal = len + 2 * p;
    const Fk = nLocal + layout.global.length;
    const outside = (j: number) => j < nLocal && (start - p + j < 0 || start - p + j >= layout.frames);
    const mask = additiveMask(this.device, len, Fk, (f, j) => j >= nLocal || (j >= f && j <= f + 2 * p && !(o.ends === 'mask' && outside(j))));
    const onGlobal = biasOnGlobal(timestep, o);
    const bias = Tensor.from(this.device, Float32Array.from({ length: Fk }, (_, j) => ((j >= nLocal) === onGlobal ? o.bias : 0)), [Fk], 'f32', 'dual-scope bias');
    m = { mask, bias };
    held.masks.set(c, m);
    return m;
  }

  /**
   * The communication rounds of the spec: T1 all-gather of this rank's frames of G (K and V), T2/T3 the halo exchange
   * in parity order (pairs (0,1),(2,3),.. then (1,2),(3,4),..), so no rank talks to two neighbours at once.
   */
  private async exchange(KV: Tensor, held: Held, s: Scratch): Promise<{ before: Tensor | null; after: Tensor | null; global: Tensor }> {
    const g = this.group!;
    const { layout } = held;
    const p = layout.opts.window;
    const r = g.rank;
    const [F, S, D2] = KV.shape as [number, number, number];
    const bytesOf = async (x: Tensor) => new Uint8Array(await x.readRaw());
    const framesBytes = async (fs: number[]) => (fs.length ? bytesOf(s.t(concat(fs.map((f) => s.t(slice(KV, 0, f - held.first, f - held.first + 1))), 0))) : new Uint8Array(0));
    const up = (b: Uint8Array, n: number, label: string) => s.t(uploadBytes(this.device, b, [n, S, D2], KV.dtype, label));
    // T1: the global set, concatenated in rank order.
    const parts = await g.allGather(await framesBytes(globalFramesOf(layout, r)));
    const all = new Uint8Array(parts.reduce((a, b) => a + b.byteLength, 0));
    let off = 0;
    for (const b of parts) {
      all.set(b, off);
      off += b.byteLength;
    }
    const global = up(all, layout.global.length, 'dual-scope global k/v');
    // T2, T3: halos. To rank r-1 goes my first p frames, to rank r+1 my last p.
    let before: Tensor | null = null;
    let after: Tensor | null = null;
    if (p > 0) {
      const first = await bytesOf(s.t(slice(KV, 0, 0, p)));
      const lastP = await bytesOf(s.t(slice(KV, 0, F - p, F)));
      for (const partner of haloPartners(r, g.size)) {
        if (partner === null) continue;
        const [, got] = await Promise.all([g.send(partner, partner < r ? first : lastP), g.recv(partner)]);
        if (partner < r) before = up(got, p, 'dual-scope halo before');
        else after = up(got, p, 'dual-scope halo after');
      }
    }
    return { before, after, global };
  }
}
