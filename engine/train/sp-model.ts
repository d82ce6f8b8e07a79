// Ulysses sequence-parallel forward/backward of the whole Vchitect transformer for training (training.md section 4,
// ../shared/spec/parallel.md section 1): one rank of an SP group of P ranks. Every rank passes the same item; the
// rank holds a contiguous share of each frame's visual token rows and (separately) of the text rows, as inference
// splits them (tokenShard of engine/parallel/ulysses.ts: padded to a multiple of P, rank r holds rows
// [r*per, (r+1)*per), padding rows zero). The blocks run on the local rows (blockPre / blockPost of
// vchitect-backward.ts around spAttnForward, the all-to-alls inside the attention). The cheap ends are replicated:
// patch embed, context embedder and temb run whole on every rank and each rank keeps its rows; the final layer
// runs on the all-gathered rows, so every rank has the whole velocity (the loss is computed identically everywhere).
// The backward gives this rank's SHARE of every parameter gradient: the blocks' from their local rows; the embeddings'
// from the local rows' token gradients scattered into zeros; temb's from this rank's partial dtemb (the backward is
// linear in it); the final layer's (and its dtemb) on SP rank 0 only, zeros elsewhere. Summed over the SP group in a
// fixed rank order (DistributedTrainer does it) they are the one-rank gradients up to f32 summation order.
// Any P: Ulysses all-to-alls when H % P == 0, else the K/V all-gather with its reduce-scatter backward (sp-attn.ts).

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import type { ProcessGroup } from '../distributed/collectives.js';
import { contiguousStrides, permute, slice, stridedCopy } from '../ops/layout.js';
import { Stager } from '../parallel/staging.js';
import { spAttentionExchange, tokenShard, type TokenShard } from '../parallel/ulysses.js';
import { disposeSpAttnSaved, spAttnBackward, spAttnForward, type SpAttnSaved, type SpShards } from './sp-attn.js';
import { itemGradientsWith, type TrainBatch } from './train-step.js';
import {
  blockBackwardFf, blockBackwardRest, blockPost, blockPre, disposeBlockParts, disposeBlockPre,
  type BlockSaved, type ModelInputs, type ModelShape,
} from './vchitect-backward.js';
import type { GradMap, ParamMap } from './update.js';
import type { ContextSaved, PatchEmbedSaved } from './vchitect-embed.js';
import { chainBlockGrads, embedBackward, embedForward, finalLayerBackward, finalLayerForward, type BackRun } from './vchitect-ends.js';
import { disposeFinalSaved, type FinalSaved } from './vchitect-final.js';
import { disposeTembSaved, type TembSaved } from './vchitect-temb.js';

/** One rank's sequence-parallel group and the stager moving its tensors through the group's collectives. */
export interface SpGroup {
  group: ProcessGroup;
  stager: Stager;
}

/** This rank's SP group for training on `device` (Ulysses when H % P == 0, else the K/V all-gather: sp-attn.ts). */
export function makeSpGroup(group: ProcessGroup, device: Stager['device'], heads: number): SpGroup {
  spAttentionExchange(heads, group.size);
  return { group, stager: new Stager(device, group) };
}

type SpBlock = BlockSaved<SpAttnSaved>;

export interface SpModelSaved {
  shape: ModelShape;
  hiddenShape: readonly number[];
  params: ParamMap;
  sh: SpShards;
  rank: number;
  patch: PatchEmbedSaved;
  ctx: ContextSaved;
  temb: TembSaved;
  tembOut: Tensor;
  blocks: (SpBlock | null)[];
  /** Per block: its local input rows x [F, nL, D], c [1 | F, nT, D] (owned). */
  inputs: { x: Tensor | null; c: Tensor | null }[];
  lat: Tensor;
  /** The final layer's input: the last block's rows all-gathered to [F, L, D] (owned). */
  finalX: Tensor;
  final: FinalSaved;
  consumed: boolean;
}

/** Rows [shard.start, shard.start + per) of x along axis 1 ([lead, n, D]), zero past the real n rows (one copy). */
function shardRows(x: Tensor, s: TokenShard): Tensor {
  const [lead, n, D] = x.shape as [number, number, number];
  const shape = [lead, s.per, D];
  const real = Math.max(0, Math.min(s.per, s.n - s.start));
  const out = T.empty(x.device, shape, 'f32', 'sp shard');
  return stridedCopy(x, out, {
    shape, srcStrides: [n * D, D, 1], srcOffset: real > 0 ? s.start * D : 0, dstStrides: contiguousStrides(shape), padAxis: 1, padLimit: real,
  }, 'sp_shard');
}

/** The inverse scatter: local rows [lead, per, D] into a zero [lead, n, D] at this rank's rows (padding dropped). */
function unshardRows(x: Tensor, s: TokenShard): Tensor {
  const [lead, per, D] = x.shape as [number, number, number];
  const out = T.zeros(x.device, [lead, s.n, D], 'f32', 'sp unshard');
  const real = Math.max(0, Math.min(per, s.n - s.start));
  if (real > 0) stridedCopy(x, out, { shape: [lead, real, D], srcStrides: [per * D, D, 1], dstStrides: [s.n * D, D, 1], dstOffset: s.start * D }, 'sp_unshard');
  return out;
}

function get(p: ParamMap, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`vchitect SP training: parameter ${name} missing (pass every checkpoint tensor of the transformer)`);
  return t;
}

/**
 * This rank's forward: the whole velocity [1, F, outC, Hl, Wl] (the same on every rank of the group) and what
 * spModelBackward needs. Collective over the SP group (every rank calls it with the same inputs).
 */
export async function spModelForward(p: ParamMap, shape: ModelShape, inp: ModelInputs, sp: SpGroup): Promise<{ out: Tensor; saved: SpModelSaved }> {
  const hs = inp.hidden.shape;
  if (hs.length !== 5 || hs[0] !== 1) throw new Error(`vchitect SP forward: hidden [${hs.join(', ')}] must be [1, F, C, Hl, Wl]`);
  const P = sp.group.size, rank = sp.group.rank;
  const [, F, C, Hl, Wl] = hs as [number, number, number, number, number];
  const ps = shape.patchSize;
  if (Hl % ps || Wl % ps) throw new Error(`vchitect SP forward: latents ${Hl}x${Wl} are not a multiple of the patch size ${ps}`);
  const h = Hl / ps, w = Wl / ps;
  const Tn = inp.context.shape[inp.context.shape.length - 2]!;
  const sh: SpShards = { stager: sp.stager, P, vis: tokenShard(h * w, P, rank), txt: tokenShard(Tn, P, rank) };
  const lat = inp.hidden.reshape([F, C, Hl, Wl]);
  const { pe, cx, te } = embedForward((k) => get(p, k), lat, inp.context, inp.timestep, inp.pooled);
  let x = shardRows(pe.tokens, sh.vis);
  let c: Tensor | null = shardRows(cx.C, sh.txt);
  pe.tokens.dispose();
  cx.C.dispose();
  const blocks: (SpBlock | null)[] = [];
  const inputs: { x: Tensor | null; c: Tensor | null }[] = [];
  const cleanup = () => {
    for (const b of blocks) if (b) { disposeSpAttnSaved(b.attn); disposeBlockParts(b); }
    for (const b of inputs) { b.x?.dispose(); b.c?.dispose(); }
    disposeTembSaved(te.saved); te.temb.dispose(); lat.dispose();
  };
  let finalX: Tensor;
  try {
    for (let i = 0; i < shape.numLayers; i++) {
      if (!c) throw new Error(`vchitect block ${i}: text stream missing (only the last block drops it)`);
      inputs.push({ x, c });
      const pre = blockPre(p, shape, i, x, c, te.temb);
      let a;
      try {
        a = await spAttnForward(pre.xh, pre.ch, pre.ap, shape.heads, sh);
      } catch (e) {
        disposeBlockPre(pre);
        throw e;
      }
      const r = blockPost(p, shape, pre, a);
      blocks.push(r.saved);
      x = r.x;
      c = r.c;
    }
    // The final layer on every rank: the local rows all-gathered to [F, L, D].
    const all = await sp.stager.allGather(x, 'sp final rows'); // [P, F, nL, D]
    x.dispose();
    const byFrame = permute(all, [1, 0, 2, 3]);
    all.dispose();
    const rows = byFrame.reshape([F, P * sh.vis.per, x.shape[2]!]);
    byFrame.dispose();
    finalX = slice(rows, 1, 0, sh.vis.n);
    rows.dispose();
  } catch (e) {
    x.dispose();
    c?.dispose();
    cleanup();
    throw e;
  }
  const fin = finalLayerForward((k) => get(p, k), ps, shape.eps, finalX, te.temb, F, Hl, Wl);
  return {
    out: fin.out,
    saved: { shape, hiddenShape: hs, params: p, sh, rank, patch: pe.saved, ctx: cx.saved, temb: te.saved, tembOut: te.temb, blocks, inputs, lat, finalX, final: fin.saved, consumed: false },
  };
}

export function disposeSpModelSaved(s: SpModelSaved): void {
  for (const b of s.blocks) if (b) { disposeSpAttnSaved(b.attn); disposeBlockParts(b); }
  s.blocks.fill(null);
  for (const b of s.inputs) { b.x?.dispose(); b.c?.dispose(); b.x = b.c = null; }
  disposeFinalSaved(s.final);
  disposeTembSaved(s.temb);
  for (const t of [s.tembOut, s.lat, s.finalX]) t.dispose();
}

/** Takes block i's gradient shares of this item (ownership passes) as soon as its backward is recorded (ZeRO 2). */
export type BlockGradsHook = (block: number, grads: GradMap) => Promise<void>;

/**
 * This rank's backward for the whole dOut (the same on every rank of the group): its share of every parameter's
 * gradient by checkpoint name (see the header). Collective over the SP group; frees each block as it passes it.
 * With `onBlockGrads`, each block's gradients go to the hook instead of the returned map (which then has the rest).
 */
export async function spModelBackward(s: SpModelSaved, dOut: Tensor, onBlockGrads?: BlockGradsHook): Promise<GradMap> {
  if (s.consumed) throw new Error('vchitect SP backward: these saved activations were already used by a backward, which frees them; run spModelForward again');
  s.consumed = true;
  const grads: GradMap = new Map();
  try {
    const fb = finalLayerBackward(s.final, dOut, s.hiddenShape);
    const gf = fb.run;
    let dtemb: Tensor;
    if (s.rank === 0) {
      for (const [k, g] of fb.grads) grads.set(k, g);
      dtemb = gf.dtemb;
    } else {
      // Every rank computed the same final-layer gradients; rank 0's count once in the SP sum.
      for (const [k, g] of fb.grads) { grads.set(k, T.zeros(g.device, g.shape, 'f32')); g.dispose(); }
      dtemb = T.zeros(gf.dtemb.device, gf.dtemb.shape, 'f32');
      gf.dtemb.dispose();
    }
    const run: BackRun = { dx: shardRows(gf.dx, s.sh.vis), dc: null, dtemb };
    gf.dx.dispose();
    try {
      for (let i = s.blocks.length - 1; i >= 0; i--) {
        const bs = s.blocks[i]!;
        const gb: GradMap = onBlockGrads ? new Map() : grads;
        const m = blockBackwardFf(bs, run.dx, run.dc, gb);
        const ga = await spAttnBackward(bs.attn, m.dAx, m.dText);
        const r = blockBackwardRest(bs, m, ga, gb);
        disposeSpAttnSaved(bs.attn);
        disposeBlockParts(bs);
        s.blocks[i] = null;
        const inp = s.inputs[i]!;
        inp.x?.dispose(); inp.c?.dispose(); inp.x = inp.c = null;
        chainBlockGrads(run, r);
        if (onBlockGrads) await onBlockGrads(i, gb);
      }
      const dLatents = embedBackward(s, unshardRows(run.dx, s.sh.vis), unshardRows(run.dc!, s.sh.txt), run.dtemb, grads);
      dLatents.dispose();
    } finally {
      run.dx.dispose(); run.dc?.dispose(); run.dtemb.dispose();
    }
    return grads;
  } catch (e) {
    for (const g of grads.values()) g.dispose();
    throw e;
  }
}

/**
 * itemGradients for one rank of an SP group: the same item on every rank, the loss on the whole (gathered) velocity,
 * this rank's share of the gradients (summed over the group by the caller) added into acc (blocks' to the hook
 * instead, when given).
 */
export async function spItemGradients(params: ParamMap, shape: ModelShape, item: TrainBatch, draw: { sigma: number; eps: Float32Array }, weight: number, acc: GradMap | null, sp: SpGroup, onBlockGrads?: BlockGradsHook): Promise<{ loss: Tensor; grads: GradMap }> {
  return itemGradientsWith(item, draw, weight, acc, async (inputs) => {
    const { out, saved } = await spModelForward(params, shape, inputs, sp);
    return { out, backward: (dOut) => spModelBackward(saved, dOut, onBlockGrads), dispose: () => disposeSpModelSaved(saved) };
  });
}
