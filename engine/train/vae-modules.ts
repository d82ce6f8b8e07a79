// Forward/backward pairs of the AutoencoderKL's modules for training (training.md sections 1-2), on a batch of images
// [N, C, H, W] (conv2d, GroupNorm and attention all take the batch axis, so one dispatch serves every image). Each
// forward computes exactly what engine/model/vae.ts computes (f32) and returns what its backward needs; each backward
// reads the forward in reverse on the existing backward ops (conv2d, GroupNorm (+SiLU), linear, attention from the
// saved log-sum-exp) and writes the f32 parameter gradients under the checkpoint's names into a GradMap:
//   conv:      y = conv2d(x, W, b) with 'same' padding, the stride-2 downsampler's (0, 1, 0, 1) padding, or the
//              upsampler's fused nearest-2x input;
//   resnet:    a = SiLU(GN1 x); h1 = conv1 a; b = SiLU(GN2 h1); out = conv2 b + (conv_shortcut x | x);
//   attention: n = GN x; t = n as [N, HW, C]; q, k, v = linears of t; att = softmax(q k^T / sqrt C) v (one head);
//              out = x + to_out(att) as [N, C, H, W].

import { ShapeError } from '../gpu/errors.js';
import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { VAE_NORM_EPS } from '../model/vae.js';
import { attention } from '../ops/attention.js';
import { attentionBackward } from '../ops/attention-backward.js';
import { conv2d, type Padding } from '../ops/conv2d.js';
import { conv2dBackward } from '../ops/conv2d-backward.js';
import { add } from '../ops/elementwise.js';
import { groupNorm } from '../ops/groupnorm.js';
import { groupNormBackward } from '../ops/groupnorm-backward.js';
import { permute } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { linearBackward } from '../ops/linear-backward.js';
import type { GradMap, ParamMap } from './update.js';

/** How a conv sees its input: 'same' (odd kernel, stride 1), 'down' (3x3 stride 2, pad right/bottom by 1), 'up' (fused nearest-2x). */
export type ConvKind = 'same' | 'down' | 'up';

export function param(p: ParamMap, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`vae backward: parameter ${name} missing (pass every tensor of the VAE checkpoint as f32)`);
  if (t.dtype !== 'f32') throw new Error(`vae backward: parameter ${name} is ${t.dtype}; training needs f32 master weights`);
  return t;
}

/** Stores a parameter gradient (each parameter is used once per pass, so a second one is a bug). */
export function putGrad(grads: GradMap, name: string, g: Tensor): void {
  if (grads.has(name)) throw new Error(`vae backward: a second gradient for ${name}`);
  grads.set(name, g);
}

function geometry(w: Tensor, kind: ConvKind): { stride: number; padding: number | Padding; upsample: boolean } {
  if (kind === 'down') return { stride: 2, padding: { top: 0, bottom: 1, left: 0, right: 1 }, upsample: false };
  return { stride: 1, padding: (w.shape[2]! - 1) / 2, upsample: kind === 'up' };
}

function convWeight(p: ParamMap, name: string, x: Tensor): Tensor {
  const w = param(p, `${name}.weight`);
  if (w.shape.length !== 4 || w.shape[1] !== x.shape[1]) {
    throw new ShapeError(`${name}.weight is [${w.shape.join(', ')}], expected [Cout, ${x.shape[1]}, k, k] for input [${x.shape.join(', ')}]`);
  }
  return w;
}

/** conv2d with the checkpoint's weight and bias (x [N, Cin, H, W]); residual added when given. */
export function convForward(p: ParamMap, name: string, x: Tensor, kind: ConvKind = 'same', residual?: Tensor): Tensor {
  const w = convWeight(p, name, x);
  return conv2d(x, w, { bias: param(p, `${name}.bias`), residual, ...geometry(w, kind) });
}

/** dW, db into grads; returns dx (undefined with skipDx). The residual's gradient is dy itself. */
export function convBackward(p: ParamMap, name: string, x: Tensor, dy: Tensor, grads: GradMap, kind: ConvKind = 'same', skipDx = false): Tensor | undefined {
  const w = convWeight(p, name, x);
  const r = conv2dBackward(x, w, dy, { ...geometry(w, kind), bias: true, skipDx });
  putGrad(grads, `${name}.weight`, r.dweight);
  putGrad(grads, `${name}.bias`, r.dbias!);
  return r.dx;
}

/** GroupNorm (+ SiLU) with the checkpoint's weight and bias (eps 1e-6 as every VAE norm). */
export function gnForward(p: ParamMap, name: string, groups: number, x: Tensor, silu: boolean): Tensor {
  return groupNorm(x, groups, VAE_NORM_EPS, param(p, `${name}.weight`), param(p, `${name}.bias`), { silu });
}

export function gnBackward(p: ParamMap, name: string, groups: number, x: Tensor, dy: Tensor, silu: boolean, grads: GradMap): Tensor {
  const r = groupNormBackward(x, dy, groups, VAE_NORM_EPS, param(p, `${name}.weight`), param(p, `${name}.bias`), { silu });
  putGrad(grads, `${name}.weight`, r.dweight!);
  putGrad(grads, `${name}.bias`, r.dbias!);
  return r.dx;
}

/** What resnetBackward needs: x is the caller's; a, h1, b are owned (disposeResnetSaved). */
export interface ResnetSaved {
  prefix: string;
  groups: number;
  x: Tensor;
  a: Tensor;
  h1: Tensor;
  b: Tensor;
  shortcut: boolean;
}

/** ResnetBlock2D: out = conv2(SiLU(GN2(conv1(SiLU(GN1 x))))) + (conv_shortcut(x) | x). */
export function resnetForward(p: ParamMap, prefix: string, groups: number, x: Tensor): { out: Tensor; saved: ResnetSaved } {
  const made: Tensor[] = [];
  const t = (x: Tensor) => (made.push(x), x);
  try {
    const a = t(gnForward(p, `${prefix}.norm1`, groups, x, true));
    const h1 = t(convForward(p, `${prefix}.conv1`, a));
    const b = t(gnForward(p, `${prefix}.norm2`, groups, h1, true));
    const shortcut = p.has(`${prefix}.conv_shortcut.weight`);
    const skip = shortcut ? t(convForward(p, `${prefix}.conv_shortcut`, x)) : x;
    if (skip.shape[1] !== h1.shape[1]) {
      throw new Error(`${prefix}: channels change ${x.shape[1]} -> ${h1.shape[1]} but "${prefix}.conv_shortcut.weight" is missing`);
    }
    const out = convForward(p, `${prefix}.conv2`, b, 'same', skip);
    if (shortcut) skip.dispose();
    return { out, saved: { prefix, groups, x, a, h1, b, shortcut } };
  } catch (e) {
    for (const m of made) m.dispose(); // a failure part way (a missing parameter) frees what was made
    throw e;
  }
}

export function disposeResnetSaved(s: ResnetSaved): void {
  for (const t of [s.a, s.h1, s.b]) t.dispose();
}

export function resnetBackward(p: ParamMap, s: ResnetSaved, dOut: Tensor, grads: GradMap): Tensor {
  const { prefix, groups } = s;
  const dB = convBackward(p, `${prefix}.conv2`, s.b, dOut, grads)!;
  const dH1 = gnBackward(p, `${prefix}.norm2`, groups, s.h1, dB, true, grads);
  dB.dispose();
  const dA = convBackward(p, `${prefix}.conv1`, s.a, dH1, grads)!;
  dH1.dispose();
  const dX1 = gnBackward(p, `${prefix}.norm1`, groups, s.x, dA, true, grads);
  dA.dispose();
  const dSkip = s.shortcut ? convBackward(p, `${prefix}.conv_shortcut`, s.x, dOut, grads)! : dOut;
  const dX = add(dX1, dSkip);
  dX1.dispose();
  if (dSkip !== dOut) dSkip.dispose();
  return dX;
}

/** What attnBackward needs: x is the caller's; the rest are owned (disposeVaeAttnSaved). */
export interface VaeAttnSaved {
  prefix: string;
  groups: number;
  x: Tensor;
  /** GroupNorm(x) as tokens [N, HW, C]. */
  tokens: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** The attention output [N, HW, C] and its log-sum-exp [N, 1, HW]. */
  att: Tensor;
  lse: Tensor;
}

const LINEARS = ['to_q', 'to_k', 'to_v'] as const;

/** The mid block's attention: x + to_out(attention(q, k, v of GroupNorm(x) as tokens)), one head over the H*W pixels. */
export function vaeAttnForward(p: ParamMap, prefix: string, groups: number, x: Tensor): { out: Tensor; saved: VaeAttnSaved } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const made: Tensor[] = [];
  const t = (x: Tensor) => (made.push(x), x);
  try {
    const n = t(gnForward(p, `${prefix}.group_norm`, groups, x, false));
    const tokens = t(permute(t(n.reshape([N, C, H * W])), [0, 2, 1]));
    const lin = (u: Tensor, name: string) => t(linear(u, param(p, `${prefix}.${name}.weight`), param(p, `${prefix}.${name}.bias`)));
    const [q, k, v] = LINEARS.map((name) => lin(tokens, name)) as [Tensor, Tensor, Tensor];
    const lse = t(T.empty(x.device, [N, 1, H * W], 'f32', 'vae attention lse'));
    let att: Tensor;
    try {
      att = t(attention(q, k, v, { heads: 1, lse }));
    } catch (e) {
      // As the inference model: a head dim beyond the tiled kernels' workgroup memory takes the simple kernel.
      if (!(e instanceof ShapeError)) throw e;
      att = t(attention(q, k, v, { heads: 1, lse, variant: 'attention_naive' }));
    }
    const oT = t(permute(lin(att, 'to_out.0'), [0, 2, 1]));
    const out = add(x, t(oT.reshape([N, C, H, W])));
    const saved = { prefix, groups, x, tokens, q, k, v, att, lse };
    for (const m of made) if (!Object.values(saved).includes(m)) m.dispose();
    return { out, saved };
  } catch (e) {
    for (const m of made) m.dispose(); // a failure part way (a missing parameter) frees what was made
    throw e;
  }
}

export function disposeVaeAttnSaved(s: VaeAttnSaved): void {
  for (const t of [s.tokens, s.q, s.k, s.v, s.att, s.lse]) t.dispose();
}

export function vaeAttnBackward(p: ParamMap, s: VaeAttnSaved, dOut: Tensor, grads: GradMap): Tensor {
  const [N, C, H, W] = s.x.shape as [number, number, number, number];
  const { prefix } = s;
  const d3 = dOut.reshape([N, C, H * W]);
  const dTok = permute(d3, [0, 2, 1]);
  d3.dispose();
  const w = (name: string) => param(p, `${prefix}.${name}.weight`);
  const lo = linearBackward(s.att, w('to_out.0'), dTok);
  dTok.dispose();
  putGrad(grads, `${prefix}.to_out.0.weight`, lo.dw);
  putGrad(grads, `${prefix}.to_out.0.bias`, lo.db!);
  const ab = attentionBackward(s.q, s.k, s.v, lo.dx, { heads: 1, out: s.att, lse: s.lse });
  lo.dx.dispose();
  let dTokens: Tensor | null = null;
  const dqkv = [ab.dq, ab.dk, ab.dv];
  LINEARS.forEach((name, i) => {
    const l = linearBackward(s.tokens, w(name), dqkv[i]!);
    dqkv[i]!.dispose();
    putGrad(grads, `${prefix}.${name}.weight`, l.dw);
    putGrad(grads, `${prefix}.${name}.bias`, l.db!);
    if (dTokens) {
      const sum = add(dTokens, l.dx);
      dTokens.dispose();
      l.dx.dispose();
      dTokens = sum;
    } else dTokens = l.dx;
  });
  const dn3 = permute(dTokens!, [0, 2, 1]);
  (dTokens as unknown as Tensor).dispose();
  const dn = dn3.reshape([N, C, H, W]);
  dn3.dispose();
  const dxn = gnBackward(p, `${prefix}.group_norm`, s.groups, s.x, dn, false, grads);
  dn.dispose();
  const dX = add(dOut, dxn);
  dxn.dispose();
  return dX;
}
