// One rank's stage of the DualParal layer pipeline (../shared/spec/parallel.md section 3): the Vchitect-2.0
// transformer restricted to a contiguous range of its blocks (splitLayers), with only that range's weights on the
// GPU; rank 0 also embeds (patch + position table, context embedder), the last rank also runs the final layer. Every
// rank computes temb itself (cheap, spec 3a). Temporal attention runs over a block window: the window's own frames as
// queries, keys/values extended by the cached K/V of the next block's first C frames, window-local RoPE; while a
// block runs, the K/V (before RoPE) of its first C own frames are cached per layer for the previous block of the
// same sweep. Spatial and cross attention are per frame; cross attention uses the window's first frame's text K/V
// (the model sees each window as its own short video).

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateTransformer, type SubModel, type TransformerDims } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import { attention, temporalView } from '../ops/attention.js';
import { add, silu } from '../ops/elementwise.js';
import { concat, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { patchify, unpatchify } from '../ops/patch.js';
import { rope } from '../ops/rope.js';
import { Tensor } from '../tensor.js';
import { Scratch } from '../model/scratch.js';
import { GpuWeights } from '../model/weights.js';
import { ROPE_THETA, VchitectTransformer, type VchitectLoadOptions } from '../model/vchitect.js';
import type { RankLayers } from './dualparal-plan.js';

/** K and V (unroped) [C, S, D] of the next block's first C frames, one entry per layer. */
export type KvCache = Map<number, { k: Tensor; v: Tensor }>;

/** How the temporal attention of one window forward treats the cache. */
export interface WindowCache {
  /** K/V of the next block's context to append to the keys (null: the queue's tail, or no context). */
  next: KvCache | null;
  /** Cache the K/V of window frames [from, from + count) into `into` (null: this block is nobody's next context). */
  save: { from: number; count: number; into: KvCache } | null;
}

/** The hidden states that travel rank to rank: visual stream X [F, L, D], text stream C ([1 or F, T, D]). */
export interface StageHidden {
  X: Tensor;
  C: Tensor;
}

export class DualParalVchitect extends VchitectTransformer {
  private window: WindowCache | null = null;

  constructor(device: Device, dims: TransformerDims, weights: GpuWeights, dtype: DType, readonly part: RankLayers) {
    super(device, dims, weights, dtype);
  }

  /** Loads only what `part` runs: its blocks, temb on every rank, the embedders on rank 0, the final layer on the last. */
  static async loadPart(device: Device, sub: SubModel<VchitectTransformerConfig>, part: RankLayers, opts: VchitectLoadOptions = {}): Promise<DualParalVchitect> {
    const dims = validateTransformer(sub);
    if (part.end > dims.numLayers) throw new Error(`dualparal: rank ${part.rank} runs blocks [${part.start}, ${part.end}) but the transformer has ${dims.numLayers}`);
    const dtype = opts.dtype ?? 'f32';
    const keep = (key: string): boolean => {
      const m = /^transformer_blocks\.(\d+)\./.exec(key);
      if (m) return Number(m[1]) >= part.start && Number(m[1]) < part.end;
      if (key.startsWith('pos_embed.') || key.startsWith('context_embedder.')) return part.embeds;
      if (key.startsWith('norm_out.') || key.startsWith('proj_out.')) return part.finalLayerAndCfg;
      return true;
    };
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress, keep);
    return new DualParalVchitect(device, dims, weights, dtype, part);
  }

  /** silu(temb) [1, D] for a timestep and pooled text (every rank; the caller disposes it). */
  embedTime(timestep: number, pooled: Tensor): Tensor {
    const s = new Scratch();
    const eAct = silu(this.timeTextEmbedding(timestep, pooled, s));
    s.release();
    return eAct;
  }

  /** Rank 0: window latents [1, F, C, Hl, Wl] and text [1, T, J] -> the hidden states entering block 0. */
  embed(hidden: Tensor, context: Tensor): StageHidden {
    if (!this.part.embeds) throw new Error(`internal error: dualparal rank ${this.part.rank} does not embed`);
    const { D, patchSize: P, inChannels } = this.dims;
    const [, F, , Hl, Wl] = hidden.shape as [number, number, number, number, number];
    const s = new Scratch();
    const frames = s.t(hidden.reshape([F, inChannels, Hl, Wl]));
    const patches = s.t(patchify(frames, { patch: P }));
    const projW = s.t(this.w('pos_embed.proj.weight').reshape([D, inChannels * P * P]));
    const tokens = s.t(linear(patches, projW, this.w('pos_embed.proj.bias')));
    const X = add(tokens, this.positionTable(Hl / P, Wl / P));
    const T = context.shape[1]!;
    const C = this.lin(s.t(context.reshape([1, T, this.dims.jointAttentionDim])), 'context_embedder');
    s.release();
    return { X, C };
  }

  /** This rank's blocks over a window of F frames; consumes `h` (disposes its tensors) and returns the new streams. */
  runLayers(h: StageHidden, eAct: Tensor, F: number, cache: WindowCache): StageHidden {
    let { X, C } = h;
    this.window = cache;
    try {
      for (let i = this.part.start; i < this.part.end; i++) {
        const out = this.block(i, X, C, eAct, F);
        X.dispose();
        if (out.C !== C) C.dispose();
        X = out.X;
        C = out.C;
      }
    } finally {
      this.window = null;
    }
    return { X, C };
  }

  /** Last rank: final layer + unpatchify -> velocity [1, F, outChannels, Hl, Wl]. Consumes `h`. */
  final(h: StageHidden, eAct: Tensor, Hl: number, Wl: number): Tensor {
    if (!this.part.finalLayerAndCfg) throw new Error(`internal error: dualparal rank ${this.part.rank} does not run the final layer`);
    const { patchSize: P, outChannels } = this.dims;
    const F = h.X.shape[0]!;
    h.C.dispose();
    const s = new Scratch();
    const out = s.t(this.outputRows(h.X, eAct, s));
    const video = unpatchify(out, Hl / P, Wl / P, { patch: P });
    s.release();
    const result = video.reshape([1, F, outChannels, Hl, Wl]);
    video.dispose();
    return result;
  }

  /** Window temporal attention: keys/values = [window | next block's cached context], window-local RoPE. */
  protected override temporalAttention(i: number, Qj: Tensor, Kj: Tensor, Vj: Tensor, s: Scratch): Tensor {
    const w = this.window;
    if (!w) return super.temporalAttention(i, Qj, Kj, Vj, s);
    const { heads, headDim } = this.dims;
    const [F, S, D] = Qj.shape as [number, number, number];
    if (w.save) {
      const { from, count, into } = w.save;
      const old = into.get(i);
      if (old) [old.k, old.v].forEach((t) => t.dispose());
      into.set(i, { k: slice(Kj, 0, from, from + count), v: slice(Vj, 0, from, from + count) });
    }
    const nx = w.next?.get(i);
    if (w.next && !nx) throw new Error(`internal error: dualparal rank ${this.part.rank} has no cached next-context K/V for layer ${i}`);
    const K = nx ? s.t(concat([Kj, nx.k], 0)) : Kj;
    const V = nx ? s.t(concat([Vj, nx.v], 0)) : Vj;
    const Fk = K.shape[0]!;
    const pos = (n: number) => Array.from({ length: n }, (_, f) => f);
    const Qt = s.t(rope(Qj, { headDim, positions: pos(F), axis: 0, theta: ROPE_THETA }));
    const Kt = s.t(rope(K, { headDim, positions: pos(Fk), axis: 0, theta: ROPE_THETA }));
    const Tout = s.t(Tensor.empty(this.device, [F, S, D], Qt.dtype, 'window temporal out'));
    attention(temporalView(Qt), temporalView(Kt), temporalView(V), { heads, headDim, out: temporalView(Tout) });
    return Tout;
  }
}

/** Disposes every tensor of a cache and empties it. */
export function clearCache(c: KvCache): void {
  for (const { k, v } of c.values()) [k, v].forEach((t) => t.dispose());
  c.clear();
}
