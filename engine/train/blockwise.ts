// The transformer's forward/backward of one training item driven block by block, with asynchronous per-unit
// parameter hooks: what ZeRO stages 2 and 3 need (training.md section 4). It chains the same exported pairs in the
// same order as modelForward / modelBackward (engine/train/vchitect-backward.ts, which stays the one-rank path), so
// the loss and every gradient are bit-identical to `itemGradients` (tested by the ZeRO invariance tests):
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
import { Tensor as T } from '../tensor.js';
import { add, axpby, mul, scale, sub } from '../ops/elementwise.js';
import { reduce } from '../ops/reduce.js';
import type { TrainBatch } from './train-step.js';
import type { GradMap, ParamMap } from './update.js';
import { blockBackward, blockForward, disposeBlockSaved, type BlockSaved, type ModelShape } from './vchitect-backward.js';
import { contextBackward, contextForward, patchEmbedBackward, patchEmbedForward } from './vchitect-embed.js';
import { disposeFinalSaved, finalBackward, finalForward } from './vchitect-final.js';
import { disposeTembSaved, TEMB_PREFIX, tembBackward, tembForward } from './vchitect-temb.js';

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

/** Adds the item's gradients into acc in itemGradients' way (acc + g; takes ownership of g's tensors). */
function merge(acc: GradMap, g: GradMap): void {
  for (const [k, t] of g) {
    const a = acc.get(k);
    if (!a) acc.set(k, t);
    else {
      acc.set(k, add(a, t));
      a.dispose(); t.dispose();
    }
  }
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
  const x0 = item.x0;
  const device = x0.device;
  const n = x0.numel;
  if (draw.eps.length !== n) throw new Error(`train step: eps has ${draw.eps.length} elements but x0 has ${n}`);
  const rest = await source.acquire(L);
  const owned: Tensor[] = [];
  try {
    const epsT = T.from(device, draw.eps, x0.shape, 'f32', 'train eps');
    const xt = axpby(x0, epsT, 1 - draw.sigma, draw.sigma);
    const target = sub(epsT, x0);
    epsT.dispose();
    const timestep = T.from(device, [1000 * draw.sigma], [1], 'f32');
    owned.push(xt, target, timestep);
    // Forward: as modelForward.
    const hs = xt.shape;
    const [, F, C, Hl, Wl] = hs as [number, number, number, number, number];
    const lat = xt.reshape([F, C, Hl, Wl]);
    owned.push(lat);
    const pe = patchEmbedForward(lat, { projW: get(rest, 'pos_embed.proj.weight'), projB: get(rest, 'pos_embed.proj.bias'), pos: get(rest, 'pos_embed.pos_embed') });
    const cx = contextForward(item.context, { w: get(rest, 'context_embedder.weight'), b: get(rest, 'context_embedder.bias') });
    const mlp = (pre: string) => ({ w1: get(rest, `${pre}.linear_1.weight`), b1: get(rest, `${pre}.linear_1.bias`), w2: get(rest, `${pre}.linear_2.weight`), b2: get(rest, `${pre}.linear_2.bias`) });
    const te = tembForward(timestep, item.pooled, { timestep: mlp(TEMB_PREFIX.timestep), text: mlp(TEMB_PREFIX.text) });
    owned.push(pe.tokens, cx.C, te.temb);
    const inputs: { x: Tensor; c: Tensor }[] = [];
    const saved: (BlockSaved | null)[] = [];
    let x = pe.tokens;
    let c: Tensor | null = cx.C;
    try {
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
      const P = shape.patchSize;
      const fin = finalForward(x, te.temb, { normW: get(rest, 'norm_out.linear.weight'), normB: get(rest, 'norm_out.linear.bias'), projW: get(rest, 'proj_out.weight'), projB: get(rest, 'proj_out.bias') },
        { h: Hl / P, w: Wl / P, patch: P }, shape.eps);
      const out = fin.out.reshape([1, F, fin.out.shape[1]!, Hl, Wl]);
      fin.out.dispose();
      if (out.numel !== n) {
        out.dispose(); disposeFinalSaved(fin.saved);
        throw new Error(`train step: the model predicts [${out.shape.join(', ')}] but the latents are [${x0.shape.join(', ')}] (out_channels must equal in_channels)`);
      }
      // The objective: as itemGradients.
      const diff = sub(out, target);
      out.dispose();
      const sq = mul(diff, diff);
      const loss = reduce('mean', sq, { axis: 'all' });
      sq.dispose();
      const dOut = scale(diff, (2 * weight) / n);
      diff.dispose();
      try {
        // Backward: as modelBackward, one block at a time.
        const g: GradMap = new Map();
        const d4 = dOut.reshape([F, dOut.numel / (F * Hl * Wl), Hl, Wl]);
        const gf = finalBackward(fin.saved, d4);
        d4.dispose();
        disposeFinalSaved(fin.saved);
        g.set('norm_out.linear.weight', gf.dNormW);
        g.set('norm_out.linear.bias', gf.dNormB);
        g.set('proj_out.weight', gf.dProjW);
        g.set('proj_out.bias', gf.dProjB);
        let dtemb = gf.dtemb;
        let dx = gf.dX;
        let dc: Tensor | null = null;
        for (let i = L - 1; i >= 0; i--) {
          let s = saved[i];
          if (!s) {
            const p = await source.acquire(i);
            const r = blockForward(p, shape, i, inputs[i]!.x, inputs[i]!.c, te.temb);
            r.x.dispose();
            r.c?.dispose();
            s = r.saved;
          }
          const gb: GradMap = new Map();
          const r = blockBackward(s, dx, dc, gb);
          disposeBlockSaved(s);
          saved[i] = null;
          source.release(i);
          dx.dispose();
          dc?.dispose();
          dx = r.dx;
          dc = r.dc;
          const dt2 = r.dtemb.reshape(dtemb.shape);
          r.dtemb.dispose();
          const sum = add(dtemb, dt2);
          dtemb.dispose(); dt2.dispose();
          dtemb = sum;
          merge(acc, gb);
          await o.onBlockGrads?.(i, acc);
        }
        const gp = patchEmbedBackward(pe.saved, dx);
        dx.dispose();
        g.set('pos_embed.proj.weight', gp.dProjW);
        g.set('pos_embed.proj.bias', gp.dProjB);
        g.set('pos_embed.pos_embed', gp.dPos);
        const gc = contextBackward(cx.saved, dc!);
        dc!.dispose();
        g.set('context_embedder.weight', gc.dW);
        g.set('context_embedder.bias', gc.dB);
        gc.dEhs.dispose();
        const gt = tembBackward(te.saved, dtemb);
        dtemb.dispose();
        disposeTembSaved(te.saved);
        for (const k of ['timestep', 'text'] as const) {
          const pre = TEMB_PREFIX[k];
          g.set(`${pre}.linear_1.weight`, gt[k].w1);
          g.set(`${pre}.linear_1.bias`, gt[k].b1);
          g.set(`${pre}.linear_2.weight`, gt[k].w2);
          g.set(`${pre}.linear_2.bias`, gt[k].b2);
        }
        gt.dpooled.dispose();
        gp.dLatents.dispose();
        merge(acc, g);
        return loss;
      } catch (e) {
        loss.dispose();
        throw e;
      } finally {
        dOut.dispose();
      }
    } finally {
      for (let i = 0; i < saved.length; i++) {
        const s = saved[i];
        if (s) { disposeBlockSaved(s); source.release(i); }
      }
    }
  } finally {
    for (const t of owned) t.dispose();
    source.release(L);
  }
}
