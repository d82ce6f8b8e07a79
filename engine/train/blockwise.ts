// The transformer's forward/backward of one training item driven block by block, with asynchronous per-unit
// parameter hooks: what ZeRO stages 2 and 3 need (training.md section 4). It runs under itemGradientsWith (the
// same objective) and chains the same steps in the same order as modelForward / modelBackward (the non-block ends
// from vchitect-ends.ts, the blocks from vchitect-backward.ts, which stays the one-rank path), so the loss and every
// gradient are bit-identical to `itemGradients` (tested by the ZeRO invariance tests):
//   - `source.acquire(u)` is awaited before unit u's parameters are used (u < numLayers: block u; u = numLayers: the
//     non-block unit, acquired once for the item) and `source.release(u)` is called when they are no longer needed,
//     so a source may all-gather a unit from its owner and free it after (ZeRO-3);
//   - with `recompute`, a block keeps only its inputs after its forward: its parameters are released and acquired
//     again in the backward, where the block's forward is rerun (deterministic kernels: the same saved tensors) before
//     its backward. Without it a block's parameters stay acquired from its forward to its backward;
//   - `onBlockGrads(i)` is awaited after block i's backward, once its gradients of this item are added into the
//     accumulator (so on a rank's last item they are final: ZeRO-2/3 reduce them to the owner there and free them).
// With `item` null the driver makes the same acquire/release/onBlockGrads calls without computing anything: ranks
// with fewer items than others still join every collective a gathering source or the hook issues.

import type { Tensor } from '../tensor.js';
import { itemGradientsWith, type ItemPass, type TrainBatch } from './train-step.js';
import { addGrads, type GradMap, type ParamMap } from './update.js';
import { blockBackward, blockForward, disposeBlockSaved, recomputeBlock, type BlockSaved, type ModelInputs, type ModelShape } from './vchitect-backward.js';
import { chainBlockGrads, embedBackward, embedForward, finalLayerBackward, finalLayerForward } from './vchitect-ends.js';
import { disposeFinalSaved, type FinalSaved } from './vchitect-final.js';
import { disposeTembSaved, type TembSaved } from './vchitect-temb.js';

export interface UnitSource {
  /** Unit u's parameters by checkpoint name (block u, or the non-block unit for u = numLayers). */
  acquire(u: number): Promise<ParamMap>;
  /** The driver no longer uses what acquire(u) returned. */
  release(u: number): void;
}

export interface BlockwiseOptions {
  recompute: boolean;
  /** Awaited after block i's backward (its gradients of this item already in the accumulator). */
  onBlockGrads?: (block: number, acc: GradMap) => Promise<void>;
}

function get(p: ParamMap, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`blockwise training: parameter ${name} missing from its unit`);
  return t;
}

/**
 * One item's forward and backward at a (sigma, eps) draw, gradients scaled by weight / n and added into acc;
 * returns the item's loss f32[1] (null when item is null). Same contract and same bits as itemGradients.
 */
export async function blockwiseItemGradients(source: UnitSource, shape: ModelShape, item: TrainBatch | null, draw: { sigma: number; eps: Float32Array } | null, weight: number, acc: GradMap, o: BlockwiseOptions): Promise<Tensor | null> {
  const L = shape.numLayers;
  if (!item || !draw) {
    for (let i = 0; i < L; i++) { await source.acquire(i); if (o.recompute) source.release(i); }
    for (let i = L - 1; i >= 0; i--) {
      if (o.recompute) await source.acquire(i);
      source.release(i);
      await o.onBlockGrads?.(i, acc);
    }
    return null;
  }
  const { loss } = await itemGradientsWith(item, draw, weight, acc, (inputs) => blockwisePass(source, shape, inputs, acc, o));
  return loss;
}

/** The model's pass for itemGradientsWith, unit by unit; block gradients go into acc during the backward. */
async function blockwisePass(source: UnitSource, shape: ModelShape, inp: ModelInputs, acc: GradMap, o: BlockwiseOptions): Promise<ItemPass> {
  const L = shape.numLayers;
  const rest = await source.acquire(L);
  const owned: Tensor[] = [];
  const inputs: { x: Tensor; c: Tensor }[] = [];
  const saved: (BlockSaved | null)[] = [];
  let fin: FinalSaved | null = null;
  let tembSaved: TembSaved | null = null;
  const dispose = () => {
    for (let i = 0; i < saved.length; i++) {
      const s = saved[i];
      if (s) { disposeBlockSaved(s); source.release(i); saved[i] = null; }
    }
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
    owned.push(pe.tokens, cx.C, te.temb);
    tembSaved = te.saved;
    let x = pe.tokens;
    let c: Tensor | null = cx.C;
    for (let i = 0; i < L; i++) {
      if (!c) throw new Error(`vchitect block ${i}: text stream missing (only the last block drops it)`);
      const p = await source.acquire(i);
      inputs.push({ x, c });
      const r = blockForward(p, shape, i, x, c, te.temb);
      if (o.recompute) { disposeBlockSaved(r.saved); source.release(i); saved.push(null); } else saved.push(r.saved);
      x = r.x;
      c = r.c;
      owned.push(x);
      if (c) owned.push(c);
    }
    const f = finalLayerForward(getRest, shape.patchSize, shape.eps, x, te.temb, F, Hl, Wl);
    fin = f.saved;
    const backward = async (dOut: Tensor): Promise<GradMap> => {
      // As modelBackward, one block at a time.
      const fb = finalLayerBackward(fin!, dOut, hs);
      fin = null;
      const g: GradMap = new Map(fb.grads);
      const run = fb.run;
      for (let i = L - 1; i >= 0; i--) {
        const s = saved[i] ?? recomputeBlock(await source.acquire(i), shape, i, inputs[i]!.x, inputs[i]!.c, te.temb);
        const gb: GradMap = new Map();
        const r = blockBackward(s, run.dx, run.dc, gb);
        disposeBlockSaved(s);
        saved[i] = null;
        source.release(i);
        chainBlockGrads(run, r);
        addGrads(acc, gb);
        await o.onBlockGrads?.(i, acc);
      }
      const dLatents = embedBackward({ patch: pe.saved, ctx: cx.saved, temb: te.saved }, run.dx, run.dc!, run.dtemb, g);
      run.dtemb.dispose();
      disposeTembSaved(te.saved);
      tembSaved = null;
      dLatents.dispose();
      return g;
    };
    return { out: f.out, backward, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
