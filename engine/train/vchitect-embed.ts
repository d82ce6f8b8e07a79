// Forward/backward pairs of Vchitect's input embeddings (steps 1-2 and 4 of engine/model/vchitect.ts), llm.c style
// (training.md section 1), on the existing ops and backward ops (no tape, no new kernels):
//   patch embed: tokens[f, row*w + col, :] = conv2d(latents[f], W, b, kernel = stride = P)[:, row, col] + pos[row, col]
//     where pos is pos_embed.pos_embed [1, M*M, D] centre-cropped to h x w (top = (M-h)//2, left = (M-w)//2);
//   context embedder: C = encoder_hidden_states [1, T, J] W^T + b -> [1, T, D].
// Both are affine, so the backward needs only the forward's inputs (saved by reference, nothing owned). The position
// table's gradient is the sum over frames of the token gradient, scattered into the cropped rows (other rows zero).

import { ShapeError } from '../gpu/errors.js';
import { Tensor } from '../tensor.js';
import { conv2d } from '../ops/conv2d.js';
import { conv2dBackward } from '../ops/conv2d-backward.js';
import { columnSums } from '../ops/colsum.js';
import { add } from '../ops/elementwise.js';
import { contiguousStrides, permute, slice, stridedCopy } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';

export interface PatchEmbedParams {
  /** pos_embed.proj: [D, C, P, P], [D]. */
  projW: Tensor;
  projB: Tensor;
  /** pos_embed.pos_embed: [1, M*M, D] (or [M*M, D]). */
  pos: Tensor;
}

/** What patchEmbedBackward needs: the forward's input and parameters (the caller's) and the geometry. */
export interface PatchEmbedSaved {
  latents: Tensor;
  params: PatchEmbedParams;
  F: number;
  C: number;
  D: number;
  P: number;
  M: number;
  h: number;
  w: number;
}

export interface PatchEmbedGrads {
  /** Shaped like latents. */
  dLatents: Tensor;
  /** f32, shaped like the parameters; dPos is zero outside the cropped rows. */
  dProjW: Tensor;
  dProjB: Tensor;
  dPos: Tensor;
}

const fmt = (t: Tensor) => `[${t.shape.join(', ')}]`;

/** Top-left corner of the centre crop of an M x M grid to h x w. */
const cropOrigin = (M: number, h: number, w: number) => ({ top: Math.floor((M - h) / 2), left: Math.floor((M - w) / 2) });

/**
 * The forward for latents [F, C, Hl, Wl] (or [1, F, C, Hl, Wl]): tokens [F, h*w, D] with h = Hl/P, w = Wl/P, and the
 * saved inputs. Caller disposes tokens.
 */
export function patchEmbedForward(latents: Tensor, params: PatchEmbedParams): { tokens: Tensor; saved: PatchEmbedSaved } {
  const { projW, projB, pos } = params;
  if (projW.shape.length !== 4 || projW.shape[2] !== projW.shape[3] || !projW.shape[2]) {
    throw new ShapeError(`vchitect patch embed: pos_embed.proj weight ${fmt(projW)} must be [D, C, P, P]`);
  }
  const [D, C, P] = projW.shape as [number, number, number];
  if (projB.shape.join(',') !== `${D}`) throw new ShapeError(`vchitect patch embed: pos_embed.proj bias ${fmt(projB)} must be [${D}]`);
  const M = Math.round(Math.sqrt(pos.numel / D));
  if (pos.shape[pos.shape.length - 1] !== D || M * M * D !== pos.numel || pos.numel / D !== pos.shape[pos.shape.length - 2]) {
    throw new ShapeError(`vchitect patch embed: pos_embed.pos_embed ${fmt(pos)} must be [1, M*M, ${D}] (a square position grid of width D)`);
  }
  const lead = latents.shape.length === 5 && latents.shape[0] === 1 ? 1 : 0;
  if (latents.shape.length - lead !== 4 || latents.shape[lead + 1] !== C) {
    throw new ShapeError(`vchitect patch embed: latents ${fmt(latents)} must be [F, ${C}, Hl, Wl] or [1, F, ${C}, Hl, Wl] (C from pos_embed.proj)`);
  }
  const [F, , Hl, Wl] = latents.shape.slice(lead) as [number, number, number, number];
  if (Hl % P || Wl % P) throw new ShapeError(`vchitect patch embed: latent size ${Hl}x${Wl} must be a multiple of the patch size ${P}; crop or pad the latents`);
  const h = Hl / P, w = Wl / P;
  if (h > M || w > M) throw new ShapeError(`vchitect patch embed: ${h}x${w} patches exceed the position table (pos_embed_max_size ${M}); use a smaller resolution`);
  const x = latents.reshape([F, C, Hl, Wl]);
  const y = conv2d(x, projW, { bias: projB, stride: P });
  const yt = permute(y, [0, 2, 3, 1]);
  const tok = yt.reshape([F, h * w, D]);
  const { top, left } = cropOrigin(M, h, w);
  const grid = pos.reshape([M, M, D]);
  const rows = slice(grid, 0, top, top + h);
  const crop = slice(rows, 1, left, left + w);
  const cropRows = crop.reshape([h * w, D]);
  const tokens = add(tok, cropRows);
  for (const t of [x, y, yt, tok, grid, rows, crop, cropRows]) t.dispose();
  return { tokens, saved: { latents, params, F, C, D, P, M, h, w } };
}

/** The backward for dTokens [F, h*w, D]: dLatents, dProjW, dProjB, dPos, new tensors the caller disposes. */
export function patchEmbedBackward(s: PatchEmbedSaved, dTokens: Tensor): PatchEmbedGrads {
  const { F, C, D, P, M, h, w, params } = s;
  if (dTokens.shape.join(',') !== `${F},${h * w},${D}`) {
    throw new ShapeError(`vchitect patch embed backward: dTokens ${fmt(dTokens)} must have the forward's output shape [${F}, ${h * w}, ${D}]`);
  }
  // tokens = permute(conv output) + crop: the conv output's gradient is dTokens moved back to [F, D, h, w].
  const d4 = dTokens.reshape([F, h, w, D]);
  const dy = permute(d4, [0, 3, 1, 2]);
  const x = s.latents.reshape([F, C, h * P, w * P]);
  const conv = conv2dBackward(x, params.projW, dy, { stride: P, bias: true });
  // The crop is shared by every frame: its gradient is the sum over frames, written into the cropped rows.
  const flat = dTokens.reshape([F, h * w * D]);
  const dCrop = columnSums(flat);
  const dPos = Tensor.zeros(dTokens.device, params.pos.shape, 'f32', 'vchitect patch embed dPos');
  const { top, left } = cropOrigin(M, h, w);
  stridedCopy(dCrop, dPos, {
    shape: [h, w, D], srcStrides: contiguousStrides([h, w, D]), dstStrides: [M * D, D, 1], dstOffset: (top * M + left) * D,
  }, 'vchitect_pos_scatter');
  const dLatents = conv.dx!.reshape(s.latents.shape);
  for (const t of [d4, dy, x, conv.dx!, flat, dCrop]) t.dispose();
  return { dLatents, dProjW: conv.dweight, dProjB: conv.dbias!, dPos };
}

/** context_embedder: [D, J], [D]. */
export interface ContextParams {
  w: Tensor;
  b: Tensor;
}

export interface ContextSaved {
  /** encoder_hidden_states as passed to the forward (the caller's). */
  ehs: Tensor;
  params: ContextParams;
  T: number;
  J: number;
  D: number;
}

export interface ContextGrads {
  /** Shaped like encoder_hidden_states. */
  dEhs: Tensor;
  /** f32, shaped like the parameters. */
  dW: Tensor;
  dB: Tensor;
}

/** The forward for encoder_hidden_states [1, T, J] (or [T, J]): C [1, T, D]. Caller disposes C. */
export function contextForward(ehs: Tensor, params: ContextParams): { C: Tensor; saved: ContextSaved } {
  const [D, J] = params.w.shape as [number, number];
  if (params.w.shape.length !== 2 || !D || !J || params.b.shape.join(',') !== `${D}`) {
    throw new ShapeError(`vchitect context embedder: weight ${fmt(params.w)} / bias ${fmt(params.b)} must be [D, J] / [D]`);
  }
  const lead = ehs.shape.length === 3 && ehs.shape[0] === 1 ? 1 : 0;
  if (ehs.shape.length - lead !== 2 || ehs.shape[lead + 1] !== J || !ehs.shape[lead]) {
    throw new ShapeError(`vchitect context embedder: encoder_hidden_states ${fmt(ehs)} must be [1, T, ${J}] (J = joint_attention_dim, the weight's width)`);
  }
  const T = ehs.shape[lead]!;
  const x = ehs.reshape([1, T, J]);
  const C = linear(x, params.w, params.b);
  x.dispose();
  return { C, saved: { ehs, params, T, J, D } };
}

/** The backward for dC [1, T, D]: d(encoder_hidden_states), dW, db, new tensors the caller disposes. */
export function contextBackward(s: ContextSaved, dC: Tensor): ContextGrads {
  const { T, J, D } = s;
  if (dC.numel !== T * D || dC.shape[dC.shape.length - 1] !== D) {
    throw new ShapeError(`vchitect context embedder backward: dC ${fmt(dC)} must have the forward's output shape [1, ${T}, ${D}]`);
  }
  const x = s.ehs.reshape([T, J]);
  const dy = dC.reshape([T, D]);
  const g = linearBackward(x, s.params.w, dy);
  const dEhs = g.dx.reshape(s.ehs.shape);
  for (const t of [x, dy, g.dx]) t.dispose();
  return { dEhs, dW: g.dw, dB: g.db! };
}
