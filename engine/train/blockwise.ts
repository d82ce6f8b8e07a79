// The transformer's forward/backward of one training item driven block by block, with asynchronous per-unit
// parameter hooks, a memory plan and a row split: the one driver of ZeRO stages 2 and 3 and of sequence-parallel
// training (training.md section 4). It runs under itemGradientsWith (the same objective) and chains the same steps
// in the same order as modelForward / modelBackward (the non-block ends from vchitect-ends.ts, the blocks from
// vchitect-backward.ts, which stays the one-rank path), so with the local split the loss and every gradient are
// bit-identical to `itemGradients` (tested by the ZeRO invariance tests):
//   - `source.acquire(u)` is awaited before unit u's parameters are used (u < numLayers: block u; u = numLayers: the
//     non-block unit, acquired once for the item) and `source.release(u)` is called when they are no longer needed,
//     so a source may all-gather a unit from its owner and free it after (ZeRO-3);
//   - `plan` (memory-plan.ts): a checkpointed block keeps only its input after its forward (its parameters are
//     released and acquired again in the backward, where its forward is rerun: deterministic kernels and collectives,
//     the same saved tensors) and an offloaded one parks that input in host memory (HostCopy), uploaded again one
//     block ahead in the backward, as modelBackward does. A block that is not checkpointed keeps its parameters
//     acquired from its forward to its backward (ZeRO-3 checkpoints every block);
//   - `onBlockGrads(i)` is awaited after block i's backward, once its gradients of this item are added into the
//     accumulator (so on a rank's last item they are final: ZeRO-2/3 reduce them to the owner there and free them);
//   - `rows` says how this rank holds the token rows between the embeddings and the final layer: all of them
//     (LOCAL_ROWS, the default) or a sequence-parallel share (sp-model.ts spRows: its blocks' attention is collective).
// With `item` null the driver makes the same acquire/release/onBlockGrads calls without computing anything: ranks
// with fewer items than others still join every collective a gathering source or the hook issues.

import type { Tensor } from '../tensor.js';
import type { MemoryPlan } from './memory-plan.js';
import { itemGradientsWith, type ItemPass, type TrainBatch } from './train-step.js';
import { addGrads, type GradMap, type ParamMap } from './update.js';
import {
  blockBackward, blockForward, disposeBlockSaved, disposeInput, parkInput, settleInputs, toGpu,
  type BlockInput, type BlockSaved, type ModelInputs, type ModelShape,
} from './vchitect-backward.js';
import { chainBlockGrads, embedBackward, embedForward, finalLayerBackward, finalLayerForward, type BackRun } from './vchitect-ends.js';
import { disposeFinalSaved, type FinalSaved } from './vchitect-final.js';
import { disposeTembSaved, type TembSaved } from './vchitect-temb.js';

export interface UnitSource {
  /** Unit u's parameters by checkpoint name (block u, or the non-block unit for u = numLayers). */
  acquire(u: number): Promise<ParamMap>;
  /** The driver no longer uses what acquire(u) returned. */
  release(u: number): void;
}

/** Every unit already here (ZeRO 0-2: the parameters are replicated). */
export function fullSource(params: ParamMap): UnitSource {
  return { acquire: async () => params, release: () => {} };
}

/**
 * How a rank holds the token rows of the blocks (S: what a block's forward saves). Methods that take tensors take
 * them over (they free or return them).
 */
export interface RowSplit<S> {
  /** The first block's x, c from the embeddings' whole tokens [F, L, D] and text rows [1, T, D]. */
  enter(tokens: Tensor, C: Tensor): { x: Tensor; c: Tensor };
  /** Block i's forward on this rank's rows (c null out of the last block). */
  block(p: ParamMap, shape: ModelShape, i: number, x: Tensor, c: Tensor, temb: Tensor): Promise<{ x: Tensor; c: Tensor | null; saved: S }>;
  /** Block i's backward: its parameter gradients (this rank's share) into grads; dx, dc, dtemb for the block below. */
  blockBackward(s: S, dx: Tensor, dc: Tensor | null, grads: GradMap): Promise<{ dx: Tensor; dc: Tensor; dtemb: Tensor }>;
  disposeBlock(s: S): void;
  /** The final layer's input [F, L, D] from the last block's x. */
  exit(x: Tensor): Promise<Tensor>;
  /** After the final layer's backward: its gradients (this rank's share) into grads; the run entering the last block. */
  finalBack(grads: [string, Tensor][], run: BackRun, into: GradMap): BackRun;
  /** The embeddings' whole token and text-row gradients from the first block's dx, dc. */
  leave(dx: Tensor, dc: Tensor): { dTokens: Tensor; dC: Tensor };
}

/** A row split for one item's inputs (the SP split needs the token counts). */
export type RowSplitFor = (inputs: ModelInputs) => RowSplit<unknown>;

/** Every row on this rank: the blocks of vchitect-backward.ts. */
export const LOCAL_ROWS: RowSplitFor = () => localRows;

const localRows: RowSplit<BlockSaved> = {
  enter: (tokens, C) => ({ x: tokens, c: C }),
  block: async (p, shape, i, x, c, temb) => blockForward(p, shape, i, x, c, temb),
  blockBackward: async (s, dx, dc, grads) => blockBackward(s, dx, dc, grads),
  disposeBlock: disposeBlockSaved,
  exit: async (x) => x,
  finalBack: (grads, run, into) => {
    for (const [k, g] of grads) into.set(k, g);
    return run;
  },
  leave: (dx, dc) => ({ dTokens: dx, dC: dc }),
};

export interface BlockwiseOptions {
  /** Which blocks are checkpointed and which of those have their input offloaded (memoryPlan). */
  plan: MemoryPlan;
  /** Awaited after block i's backward (its gradients of this item already in the accumulator). */
  onBlockGrads?: (block: number, acc: GradMap) => Promise<void>;
  /** This rank's token rows (default LOCAL_ROWS). */
  rows?: RowSplitFor;
}

function get(p: ParamMap, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`blockwise training: parameter ${name} missing from its unit`);
  return t;
}

/**
 * One item's forward and backward at a (sigma, eps) draw, gradients scaled by weight / n and added into acc;
 * returns the item's loss f32[1] (null when item is null). With LOCAL_ROWS the same contract and bits as
 * itemGradients; with a sequence-parallel split this rank's share of the gradients (summed over the SP group by the
 * caller).
 */
export async function blockwiseItemGradients(source: UnitSource, shape: ModelShape, item: TrainBatch | null, draw: { sigma: number; eps: Float32Array } | null, weight: number, acc: GradMap, o: BlockwiseOptions): Promise<Tensor | null> {
  const L = shape.numLayers;
  const ck = o.plan.checkpointed;
  if (ck.length !== L) throw new Error(`internal error: a memory plan for ${ck.length} blocks on a model of ${L}`);
  if (!item || !draw) {
    for (let i = 0; i < L; i++) { await source.acquire(i); if (ck[i]) source.release(i); }
    for (let i = L - 1; i >= 0; i--) {
      if (ck[i]) await source.acquire(i);
      source.release(i);
      await o.onBlockGrads?.(i, acc);
    }
    return null;
  }
  const { loss } = await itemGradientsWith(item, draw, weight, acc, (inputs) => blockwisePass(source, shape, inputs, acc, o));
  return loss;
}

/** The model's pass for itemGradientsWith, unit by unit; block gradients go into acc during the backward. */
export async function blockwisePass(source: UnitSource, shape: ModelShape, inp: ModelInputs, acc: GradMap, o: BlockwiseOptions): Promise<ItemPass> {
  const L = shape.numLayers;
  const { plan } = o;
  const rows = (o.rows ?? LOCAL_ROWS)(inp);
  const rest = await source.acquire(L);
  const owned: Tensor[] = [];
  const inputs: BlockInput[] = [];
  const saved: unknown[] = [];
  /** Blocks whose parameters are acquired (a block that is not checkpointed holds them until its backward). */
  const held = new Set<number>();
  let fin: FinalSaved | null = null;
  let tembSaved: TembSaved | null = null;
  const dispose = () => {
    for (let i = 0; i < saved.length; i++) {
      if (saved[i]) { rows.disposeBlock(saved[i]); saved[i] = null; }
    }
    for (const i of held) source.release(i);
    held.clear();
    for (const b of inputs) disposeInput(b);
    if (fin) { disposeFinalSaved(fin); fin = null; }
    if (tembSaved) { disposeTembSaved(tembSaved); tembSaved = null; }
    for (const t of owned.splice(0)) t.dispose();
    source.release(L);
  };
  try {
    const hs = inp.hidden.shape;
    const [, F, C, Hl, Wl] = hs as [number, number, number, number, number];
    const lat = inp.hidden.reshape([F, C, Hl, Wl]);
    owned.push(lat);
    const getRest = (k: string) => get(rest, k);
    const { pe, cx, te } = embedForward(getRest, lat, inp.context, inp.timestep, inp.pooled);
    owned.push(te.temb);
    tembSaved = te.saved;
    const first = rows.enter(pe.tokens, cx.C);
    let x: Tensor | null = first.x;
    let c: Tensor | null = first.c;
    for (let i = 0; i < L; i++) {
      if (!c) throw new Error(`vchitect block ${i}: text stream missing (only the last block drops it)`);
      const input: BlockInput = { x, c, host: null };
      inputs.push(input);
      x = c = null;
      const p = await source.acquire(i);
      held.add(i);
      const r = await rows.block(p, shape, i, input.x!, input.c!, te.temb);
      x = r.x;
      c = r.c;
      if (plan.checkpointed[i]) {
        rows.disposeBlock(r.saved);
        saved.push(null);
        held.delete(i);
        source.release(i);
        if (plan.offloaded[i]) parkInput(input);
      } else saved.push(r.saved);
    }
    const last = x!;
    x = null;
    const finalX = await rows.exit(last);
    owned.push(finalX);
    const f = finalLayerForward(getRest, shape.patchSize, shape.eps, finalX, te.temb, F, Hl, Wl);
    fin = f.saved;
    const backward = async (dOut: Tensor): Promise<GradMap> => {
      // As modelBackward, one block at a time.
      await settleInputs(inputs);
      const fb = finalLayerBackward(fin!, dOut, hs);
      fin = null;
      const g: GradMap = new Map();
      const run = rows.finalBack(fb.grads, fb.run, g);
      try {
        for (let i = L - 1; i >= 0; i--) {
          const inp = toGpu(inputs[i]!, i);
          if (i > 0 && plan.offloaded[i - 1]) toGpu(inputs[i - 1]!, i - 1); // prefetch: issued before block i's work
          let s = saved[i];
          if (!s) {
            const p = await source.acquire(i);
            held.add(i);
            const r = await rows.block(p, shape, i, inp.x, inp.c, te.temb);
            r.x.dispose();
            r.c?.dispose();
            s = r.saved;
          }
          saved[i] = s;
          const gb: GradMap = new Map();
          const r = await rows.blockBackward(s, run.dx, run.dc, gb);
          rows.disposeBlock(s);
          saved[i] = null;
          held.delete(i);
          source.release(i);
          disposeInput(inputs[i]!);
          chainBlockGrads(run, r);
          addGrads(acc, gb);
          await o.onBlockGrads?.(i, acc);
        }
        const { dTokens, dC } = rows.leave(run.dx, run.dc!);
        run.dc = null;
        const dLatents = embedBackward({ patch: pe.saved, ctx: cx.saved, temb: te.saved }, dTokens, dC, run.dtemb, g);
        run.dx = dTokens; // freed by embedBackward
        dLatents.dispose();
      } catch (e) {
        run.dx.dispose();
        run.dc?.dispose();
        for (const t of g.values()) t.dispose();
        throw e;
      } finally {
        run.dtemb.dispose();
      }
      disposeTembSaved(te.saved);
      tembSaved = null;
      return g;
    };
    return { out: f.out, backward, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
