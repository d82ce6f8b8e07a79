// Ulysses sequence-parallel training of the whole Vchitect transformer (training.md section 4,
// ../shared/spec/parallel.md section 1): one rank of an SP group of P ranks, as a row split of the block-by-block
// driver (blockwise.ts), which brings the memory plan (recompute, offload) and the per-unit parameter source (ZeRO 3).
// Every rank passes the same item; the rank holds a contiguous share of each frame's visual token rows and
// (separately) of the text rows, as inference splits them (tokenShard of engine/parallel/ulysses.ts: padded to a
// multiple of P, rank r holds rows [r*per, (r+1)*per), padding rows zero). The blocks run on the local rows
// (blockPre / blockPost of vchitect-backward.ts around spAttnForward, the all-to-alls inside the attention; a
// checkpointed block reruns them, collectives included, in the backward). The cheap ends are replicated: patch embed,
// context embedder and temb run whole on every rank and each rank keeps its rows; the final layer runs on the
// all-gathered rows, so every rank has the whole velocity (the loss is computed identically everywhere).
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
import { blockwiseItemGradients, type BlockwiseOptions, type RowSplit, type RowSplitFor, type UnitSource } from './blockwise.js';
import { disposeSpAttnSaved, spAttnBackward, spAttnForward, type SpAttnSaved, type SpShards } from './sp-attn.js';
import type { TrainBatch } from './train-step.js';
import type { GradMap } from './update.js';
import {
  blockBackwardFf, blockBackwardRest, blockPost, blockPre, disposeBlockParts, disposeBlockPre, type BlockSaved, type ModelShape,
} from './vchitect-backward.js';

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

type SpBlock = BlockSaved<SpAttnSaved>;

/**
 * The row split of one SP rank for the block-by-block driver (blockwise.ts RowSplit): see the header. Collective
 * over the SP group: every rank of it runs the same item with the same memory plan.
 */
export function spRows(sp: SpGroup, shape: ModelShape): RowSplitFor {
  return (inp) => {
    const hs = inp.hidden.shape;
    if (hs.length !== 5 || hs[0] !== 1) throw new Error(`vchitect SP forward: hidden [${hs.join(', ')}] must be [1, F, C, Hl, Wl]`);
    const P = sp.group.size, rank = sp.group.rank;
    const [, , , Hl, Wl] = hs as [number, number, number, number, number];
    const ps = shape.patchSize;
    if (Hl % ps || Wl % ps) throw new Error(`vchitect SP forward: latents ${Hl}x${Wl} are not a multiple of the patch size ${ps}`);
    const Tn = inp.context.shape[inp.context.shape.length - 2]!;
    const sh: SpShards = { stager: sp.stager, P, vis: tokenShard((Hl / ps) * (Wl / ps), P, rank), txt: tokenShard(Tn, P, rank) };
    const split: RowSplit<SpBlock> = {
      enter: (tokens, C) => {
        const x = shardRows(tokens, sh.vis), c = shardRows(C, sh.txt);
        tokens.dispose();
        C.dispose();
        return { x, c };
      },
      block: async (p, sp2, i, x, c, temb) => {
        const pre = blockPre(p, sp2, i, x, c, temb);
        let a;
        try {
          a = await spAttnForward(pre.xh, pre.ch, pre.ap, sp2.heads, sh);
        } catch (e) {
          disposeBlockPre(pre);
          throw e;
        }
        return blockPost(p, sp2, pre, a);
      },
      blockBackward: async (bs, dx, dc, grads) => {
        const m = blockBackwardFf(bs, dx, dc, grads);
        const ga = await spAttnBackward(bs.attn, m.dAx, m.dText);
        return blockBackwardRest(bs, m, ga, grads);
      },
      disposeBlock: (bs) => {
        disposeSpAttnSaved(bs.attn);
        disposeBlockParts(bs);
      },
      exit: async (x) => {
        // The final layer on every rank: the local rows all-gathered to [F, L, D].
        const [F, , D] = x.shape as [number, number, number];
        let all: Tensor;
        try {
          all = await sp.stager.allGather(x, 'sp final rows'); // [P, F, nL, D]
        } finally {
          x.dispose();
        }
        const byFrame = permute(all, [1, 0, 2, 3]);
        all.dispose();
        const rows = byFrame.reshape([F, P * sh.vis.per, D]);
        byFrame.dispose();
        const out = slice(rows, 1, 0, sh.vis.n);
        rows.dispose();
        return out;
      },
      finalBack: (grads, run, into) => {
        let dtemb = run.dtemb;
        if (rank === 0) for (const [k, g] of grads) into.set(k, g);
        else {
          // Every rank computed the same final-layer gradients; rank 0's count once in the SP sum.
          for (const [k, g] of grads) { into.set(k, T.zeros(g.device, g.shape, 'f32')); g.dispose(); }
          dtemb = T.zeros(run.dtemb.device, run.dtemb.shape, 'f32');
          run.dtemb.dispose();
        }
        const dx = shardRows(run.dx, sh.vis);
        run.dx.dispose();
        return { dx, dc: null, dtemb };
      },
      leave: (dx, dc) => {
        const out = { dTokens: unshardRows(dx, sh.vis), dC: unshardRows(dc, sh.txt) };
        dx.dispose();
        dc.dispose();
        return out;
      },
    };
    return split as RowSplit<unknown>;
  };
}

/**
 * itemGradients for one rank of an SP group: the same item on every rank, the loss on the whole (gathered) velocity,
 * this rank's share of the gradients (summed over the group by the caller) added into acc. `source` gives the
 * parameters unit by unit (fullSource, or ZeRO 3's gathering source over the data-parallel group), `plan` the
 * checkpointed and offloaded blocks, `onBlockGrads` runs after each block's backward (ZeRO 2/3 reduce there).
 */
export async function spItemGradients(source: UnitSource, shape: ModelShape, item: TrainBatch | null, draw: { sigma: number; eps: Float32Array } | null, weight: number, acc: GradMap, sp: SpGroup, o: Omit<BlockwiseOptions, 'rows'>): Promise<Tensor | null> {
  return blockwiseItemGradients(source, shape, item, draw, weight, acc, { ...o, rows: spRows(sp, shape) });
}
