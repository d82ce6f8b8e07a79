// The Vchitect transformer's non-block ends for training (training.md sections 1-2): the embeddings in front of the
// blocks (patch embed + context embedder + temb) and the final layer after them, forward and backward, with the
// running (dx, dc, dtemb) carried back through the blocks. One copy of these steps serves every driver of the
// model: modelForward / modelBackward (vchitect-backward.ts), the block-by-block driver (blockwise.ts) and a
// sequence-parallel rank (sp-model.ts), so their losses and gradients are the same bits by construction.
// Parameters are read through `get` (each driver names a missing parameter in its own words); gradients are set
// under the checkpoint's names in the order the drivers have always used.

import type { Tensor } from '../tensor.js';
import { add } from '../ops/elementwise.js';
import { contextBackward, contextForward, patchEmbedBackward, patchEmbedForward, type ContextSaved, type PatchEmbedSaved } from './vchitect-embed.js';
import { disposeFinalSaved, finalBackward, finalForward, type FinalSaved } from './vchitect-final.js';
import { TEMB_PREFIX, tembBackward, tembForward, type TembSaved } from './vchitect-temb.js';

/** A parameter by checkpoint name (throws a clear error when it is missing). */
export type ParamGetter = (name: string) => Tensor;

export interface EmbedOut {
  pe: { tokens: Tensor; saved: PatchEmbedSaved };
  cx: { C: Tensor; saved: ContextSaved };
  te: { temb: Tensor; saved: TembSaved };
}

/** Patch embed of lat [F, C, Hl, Wl], the context embedder and temb: the blocks' first x, c and their temb. */
export function embedForward(get: ParamGetter, lat: Tensor, context: Tensor, timestep: Tensor, pooled: Tensor): EmbedOut {
  const pe = patchEmbedForward(lat, { projW: get('pos_embed.proj.weight'), projB: get('pos_embed.proj.bias'), pos: get('pos_embed.pos_embed') });
  const cx = contextForward(context, { w: get('context_embedder.weight'), b: get('context_embedder.bias') });
  const mlp = (pre: string) => ({ w1: get(`${pre}.linear_1.weight`), b1: get(`${pre}.linear_1.bias`), w2: get(`${pre}.linear_2.weight`), b2: get(`${pre}.linear_2.bias`) });
  const te = tembForward(timestep, pooled, { timestep: mlp(TEMB_PREFIX.timestep), text: mlp(TEMB_PREFIX.text) });
  return { pe, cx, te };
}

/** The final layer on the last block's x [F, L, D]: the velocity [1, F, outC, Hl, Wl] and its saved activations. */
export function finalLayerForward(get: ParamGetter, patchSize: number, eps: number, x: Tensor, temb: Tensor, F: number, Hl: number, Wl: number): { out: Tensor; saved: FinalSaved } {
  const P = patchSize;
  const fin = finalForward(x, temb, { normW: get('norm_out.linear.weight'), normB: get('norm_out.linear.bias'), projW: get('proj_out.weight'), projB: get('proj_out.bias') },
    { h: Hl / P, w: Wl / P, patch: P }, eps);
  const out = fin.out.reshape([1, F, fin.out.shape[1]!, Hl, Wl]);
  fin.out.dispose();
  return { out, saved: fin.saved };
}

/** What flows back through the blocks: d(x), d(c) (null above the last block) and the summed d(temb). */
export interface BackRun {
  dx: Tensor;
  dc: Tensor | null;
  dtemb: Tensor;
}

/**
 * The final layer's backward for dOut (shaped like the velocity; hiddenShape [1, F, C, Hl, Wl]): its parameter
 * gradients in order, and the run entering the last block. Frees `saved`.
 */
export function finalLayerBackward(saved: FinalSaved, dOut: Tensor, hiddenShape: readonly number[]): { grads: [string, Tensor][]; run: BackRun } {
  const [, F, , Hl, Wl] = hiddenShape as [number, number, number, number, number];
  const d4 = dOut.reshape([F, dOut.numel / (F * Hl * Wl), Hl, Wl]);
  const gf = finalBackward(saved, d4);
  d4.dispose();
  disposeFinalSaved(saved);
  return {
    grads: [['norm_out.linear.weight', gf.dNormW], ['norm_out.linear.bias', gf.dNormB], ['proj_out.weight', gf.dProjW], ['proj_out.bias', gf.dProjB]],
    run: { dx: gf.dX, dc: null, dtemb: gf.dtemb },
  };
}

/** After a block's backward: its input gradients replace run.dx / run.dc (the old ones freed), its dtemb is added. */
export function chainBlockGrads(run: BackRun, r: { dx: Tensor; dc: Tensor; dtemb: Tensor }): void {
  run.dx.dispose();
  run.dc?.dispose();
  run.dx = r.dx;
  run.dc = r.dc;
  const dt2 = r.dtemb.reshape(run.dtemb.shape);
  r.dtemb.dispose();
  const sum = add(run.dtemb, dt2);
  run.dtemb.dispose(); dt2.dispose();
  run.dtemb = sum;
}

/**
 * The embeddings' backward: the gradients of the patch embed (from dTokens [F, L, D]), the context embedder (from
 * dC) and temb (from dtemb) set into grads; returns d(latents) [F, C, Hl, Wl] (owned by the caller). `dTokens` and
 * `dC` are freed as soon as they are used; dtemb and the saved activations stay the caller's.
 */
export function embedBackward(s: { patch: PatchEmbedSaved; ctx: ContextSaved; temb: TembSaved }, dTokens: Tensor, dC: Tensor, dtemb: Tensor, grads: Map<string, Tensor>): Tensor {
  const gp = patchEmbedBackward(s.patch, dTokens);
  dTokens.dispose();
  grads.set('pos_embed.proj.weight', gp.dProjW);
  grads.set('pos_embed.proj.bias', gp.dProjB);
  grads.set('pos_embed.pos_embed', gp.dPos);
  const gc = contextBackward(s.ctx, dC);
  dC.dispose();
  grads.set('context_embedder.weight', gc.dW);
  grads.set('context_embedder.bias', gc.dB);
  gc.dEhs.dispose();
  const gt = tembBackward(s.temb, dtemb);
  for (const g of ['timestep', 'text'] as const) {
    const pre = TEMB_PREFIX[g];
    grads.set(`${pre}.linear_1.weight`, gt[g].w1);
    grads.set(`${pre}.linear_1.bias`, gt[g].b1);
    grads.set(`${pre}.linear_2.weight`, gt[g].w2);
    grads.set(`${pre}.linear_2.bias`, gt[g].b2);
  }
  gt.dpooled.dispose();
  return gp.dLatents;
}
