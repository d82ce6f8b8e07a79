// Forward/backward pairs of Vchitect's conditioning path, llm.c style (training.md section 1), on the existing ops and
// backward ops (no tape, no new kernels):
//   temb = linear_2(SiLU(linear_1(sinusoid(t)))) + text_linear_2(SiLU(text_linear_1(pooled)))   (time_text_embed.*)
//   mods = linear(SiLU(temb)) chunked into n (norm1.linear, norm1_context.linear, norm_out.linear: the adaLN projections)
// The sinusoid of the timestep has no parameters and gets no gradient. Several projections read the same SiLU(temb):
// adaLnBackward sums their input gradients before the SiLU backward. Rows B: one timestep / pooled vector per item.

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { add, silu } from '../ops/elementwise.js';
import { siluBackward } from '../ops/elementwise-backward.js';
import { concat, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import { timestepEmbedding } from '../ops/timestep-embedding.js';

/** Two linears with SiLU between: weights [D, In] / [D], then [D, D] / [D]. */
export interface EmbedMlpParams {
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  b2: Tensor;
}

export interface TembParams {
  /** time_text_embed.timestep_embedder.linear_1 / linear_2 (In = the sinusoid width, 256 in the model). */
  timestep: EmbedMlpParams;
  /** time_text_embed.text_embedder.linear_1 / linear_2 (In = pooledProjectionDim). */
  text: EmbedMlpParams;
}

/** Checkpoint names of TembParams, `${TEMB_PREFIX[group]}.linear_{1,2}.{weight,bias}`. */
export const TEMB_PREFIX = { timestep: 'time_text_embed.timestep_embedder', text: 'time_text_embed.text_embedder' } as const;

/** What tembBackward needs. tSin, zt, at, zp, ap are owned (disposeTembSaved); pooled and params are the caller's. */
export interface TembSaved {
  B: number;
  D: number;
  P: number;
  pooled: Tensor;
  params: TembParams;
  /** Sinusoid [B, S]; pre-activations [B, D] and SiLU outputs [B, D] of both first linears. */
  tSin: Tensor;
  zt: Tensor;
  at: Tensor;
  zp: Tensor;
  ap: Tensor;
}

export interface TembGrads {
  /** Shaped like pooled. */
  dpooled: Tensor;
  /** f32 parameter gradients, shaped like the parameters. */
  timestep: EmbedMlpParams;
  text: EmbedMlpParams;
}

const fmt = (t: Tensor) => `[${t.shape.join(', ')}]`;

function checkMlp(name: string, p: EmbedMlpParams, D: number): number {
  const [N1, In] = p.w1.shape as [number, number];
  const ok = p.w1.shape.length === 2 && N1 === D && In > 0 && p.b1.shape.join(',') === `${D}`
    && p.w2.shape.join(',') === `${D},${D}` && p.b2.shape.join(',') === `${D}`;
  if (!ok) {
    throw new ShapeError(`vchitect temb: ${name} weights w1 ${fmt(p.w1)}, b1 ${fmt(p.b1)}, w2 ${fmt(p.w2)}, b2 ${fmt(p.b2)} must be [${D}, ${In}], [${D}], [${D}, ${D}], [${D}] (D from timestep.w2)`);
  }
  return In;
}

/**
 * The forward for timesteps [B] (sigma * 1000) and pooled [B, P] (any shape with B * P values and last axis P):
 * temb [B, D] and the saved activations. Caller disposes temb and disposeTembSaved(saved).
 */
export function tembForward(timesteps: Tensor, pooled: Tensor, params: TembParams): { temb: Tensor; saved: TembSaved } {
  const D = params.timestep.w2.shape[0]!;
  if (params.timestep.w2.shape.length !== 2 || !D) throw new ShapeError(`vchitect temb: timestep.w2 ${fmt(params.timestep.w2)} must be [D, D]`);
  const S = checkMlp('timestep', params.timestep, D);
  if (S % 2) throw new ShapeError(`vchitect temb: timestep.w1 ${fmt(params.timestep.w1)} must read an even sinusoid width (256 in the model)`);
  const P = checkMlp('text', params.text, D);
  if (timesteps.shape.length !== 1 || !timesteps.shape[0]) throw new ShapeError(`vchitect temb: timesteps ${fmt(timesteps)} must be [B], one per item`);
  const B = timesteps.shape[0];
  if (pooled.numel !== B * P || pooled.shape[pooled.shape.length - 1] !== P) {
    throw new ShapeError(`vchitect temb: pooled ${fmt(pooled)} must be [${B}, ${P}] (one pooled vector of text.w1's width per timestep)`);
  }
  const { timestep: tp, text: xp } = params;
  const tSin = timestepEmbedding(timesteps, { dim: S, dtype: pooled.dtype === 'f16' ? 'f16' : 'f32' });
  const zt = linear(tSin, tp.w1, tp.b1);
  const at = silu(zt);
  const tTerm = linear(at, tp.w2, tp.b2);
  const p2 = pooled.reshape([B, P]);
  const zp = linear(p2, xp.w1, xp.b1);
  const ap = silu(zp);
  const temb = linear(ap, xp.w2, xp.b2, { residual: { x: tTerm } });
  tTerm.dispose();
  p2.dispose();
  return { temb, saved: { B, D, P, pooled, params, tSin, zt, at, zp, ap } };
}

export function disposeTembSaved(s: TembSaved): void {
  for (const t of [s.tSin, s.zt, s.at, s.zp, s.ap]) t.dispose();
}

/** The backward for dTemb [B, D]: dpooled and the four linears' dW / db, new tensors the caller disposes. */
export function tembBackward(s: TembSaved, dTemb: Tensor): TembGrads {
  const { B, D, P, params } = s;
  if (dTemb.numel !== B * D || dTemb.shape[dTemb.shape.length - 1] !== D) {
    throw new ShapeError(`vchitect temb backward: dTemb ${fmt(dTemb)} must have the forward's shape [${B}, ${D}]`);
  }
  const dT = dTemb.reshape([B, D]);
  const p2 = s.pooled.reshape([B, P]);
  // temb = tTerm + text term: both branches get dTemb.
  const t2 = linearBackward(s.at, params.timestep.w2, dT);
  const t1 = linearBackward(s.tSin, params.timestep.w1, t2.dx, { epilogue: 'silu', z: s.zt });
  const x2 = linearBackward(s.ap, params.text.w2, dT);
  const x1 = linearBackward(p2, params.text.w1, x2.dx, { epilogue: 'silu', z: s.zp });
  const grads: TembGrads = {
    dpooled: x1.dx.reshape(s.pooled.shape),
    timestep: { w1: t1.dw, b1: t1.db!, w2: t2.dw, b2: t2.db! },
    text: { w1: x1.dw, b1: x1.db!, w2: x2.dw, b2: x2.db! },
  };
  // t1.dx is the sinusoid's gradient: it has no parameters, so it is dropped.
  for (const t of [dT, p2, t2.dx, t1.dx, x2.dx, x1.dx]) t.dispose();
  return grads;
}

/** One adaLN projection: w [n*D, D], b [n*D] (n = 6 for norm1 / norm1_context, 2 for norm_out and the last context). */
export interface AdaLnProjection {
  w: Tensor;
  b: Tensor;
}

/** What adaLnBackward needs. e = SiLU(temb) is owned (disposeAdaLnSaved); temb and the projections are the caller's. */
export interface AdaLnSaved {
  B: number;
  D: number;
  temb: Tensor;
  projections: readonly AdaLnProjection[];
  /** Chunks n of each projection. */
  chunks: number[];
  /** SiLU(temb) [B, D]. */
  e: Tensor;
}

export interface AdaLnGrads {
  /** Shaped like temb: the sum over every projection. */
  dtemb: Tensor;
  /** f32, one per projection. */
  dW: Tensor[];
  db: Tensor[];
}

/**
 * The forward for temb [B, D] (or [D]): mods[p][j] is chunk j of projection p, shaped like temb (chunk order as
 * stored: shift, scale, gate, ... for norm1). Caller disposes every chunk and disposeAdaLnSaved(saved).
 */
export function adaLnForward(temb: Tensor, projections: readonly AdaLnProjection[]): { mods: Tensor[][]; saved: AdaLnSaved } {
  const D = temb.shape[temb.shape.length - 1]!;
  if (!temb.shape.length || temb.shape.length > 2 || !D) throw new ShapeError(`vchitect adaLN: temb ${fmt(temb)} must be [B, D] or [D]`);
  if (!projections.length) throw new ShapeError('vchitect adaLN: no projections (pass e.g. norm1.linear and norm1_context.linear)');
  const B = temb.numel / D;
  const chunks = projections.map((p, i) => {
    const n = p.w.shape[0]! / D;
    if (p.w.shape.length !== 2 || p.w.shape[1] !== D || !Number.isInteger(n) || n < 1 || p.b.shape.join(',') !== `${p.w.shape[0]}`) {
      throw new ShapeError(`vchitect adaLN: projection ${i} w ${fmt(p.w)}, b ${fmt(p.b)} must be [n*${D}, ${D}] and [n*${D}] (n chunks of temb's width ${D})`);
    }
    return n;
  });
  const t2 = temb.reshape([B, D]);
  const e = silu(t2);
  t2.dispose();
  const mods = projections.map((p, i) => {
    const n = chunks[i]!;
    const y = linear(e, p.w, p.b);
    const y3 = y.reshape([B, n, D]);
    const out = Array.from({ length: n }, (_, j) => {
      const c = slice(y3, 1, j, j + 1);
      const v = c.reshape(temb.shape);
      c.dispose();
      return v;
    });
    y.dispose();
    y3.dispose();
    return out;
  });
  return { mods, saved: { B, D, temb, projections, chunks, e } };
}

export function disposeAdaLnSaved(s: AdaLnSaved): void {
  s.e.dispose();
}

/**
 * The backward: dmods[p] is projection p's gradient, either one tensor of B * n * D values ([B, n*D], chunk-major
 * as stored) or its n chunk gradients shaped like temb. Returns dtemb (summed over the projections) and each dW / db.
 */
export function adaLnBackward(s: AdaLnSaved, dmods: readonly (Tensor | readonly Tensor[])[]): AdaLnGrads {
  const { B, D } = s;
  if (dmods.length !== s.projections.length) {
    throw new ShapeError(`vchitect adaLN backward: ${dmods.length} gradients for ${s.projections.length} projections (one per projection, in the forward's order)`);
  }
  let de: Tensor | undefined;
  const dW: Tensor[] = [], db: Tensor[] = [];
  dmods.forEach((g, i) => {
    const n = s.chunks[i]!;
    let dy: Tensor;
    if (Array.isArray(g)) {
      const parts = g as readonly Tensor[];
      if (parts.length !== n || parts.some((c) => c.numel !== B * D || c.shape[c.shape.length - 1] !== D)) {
        throw new ShapeError(`vchitect adaLN backward: projection ${i} needs ${n} chunk gradients shaped like temb [${s.temb.shape.join(', ')}], got ${parts.length}: ${parts.map(fmt).join(' ')}`);
      }
      const views = parts.map((c) => c.reshape([B, 1, D]));
      const cat = concat(views, 1);
      dy = cat.reshape([B, n * D]);
      for (const t of [...views, cat]) t.dispose();
    } else {
      const t = g as Tensor;
      if (t.numel !== B * n * D || t.shape[t.shape.length - 1] % D) {
        throw new ShapeError(`vchitect adaLN backward: projection ${i}'s gradient ${fmt(t)} must be [${B}, ${n * D}] (or its ${n} chunks)`);
      }
      dy = t.reshape([B, n * D]);
    }
    const l = linearBackward(s.e, s.projections[i]!.w, dy);
    dy.dispose();
    dW.push(l.dw);
    db.push(l.db!);
    if (!de) de = l.dx;
    else {
      const sum = add(de, l.dx);
      de.dispose();
      l.dx.dispose();
      de = sum;
    }
  });
  const t2 = s.temb.reshape([B, D]);
  const dt = siluBackward(t2, de!);
  const dtemb = dt.reshape(s.temb.shape);
  for (const t of [t2, dt, de!]) t.dispose();
  return { dtemb, dW, db };
}
