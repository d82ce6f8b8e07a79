// Float64 oracle for the VAE training tests: the AutoencoderKL encoder / decoder on a batch [N, C, H, W] and their
// analytic backward, composed only of the op references (conv2dRef / conv2dBackwardRef, groupNormRef /
// groupNormBackwardRef, linearRef / linearBackwardRef, attentionRef / attentionBackwardRef, permuteRef), module by
// module in the order of diffusers' AutoencoderKL; plus the training objective (posterior sample, MSE, KL, logvar clamp).
// The tests check the forward against engine/reference/vae.ts and the backward against finite differences.
import { conv2dBackwardRef, conv2dRef, type Conv2dRefArgs } from '../../engine/ops/conv2d.ref.js';
import { groupNormBackwardRef, groupNormRef } from '../../engine/ops/groupnorm.ref.js';
import { attentionBackwardRef, attentionRef, type RefView } from '../../engine/ops/attention.ref.js';
import { linearBackwardRef, linearRef } from '../../engine/ops/linear.ref.js';
import { permuteRef } from '../../engine/ops/layout.ref.js';
import type { AutoencoderKLConfig } from '../../engine/io/configs.js';
import type { Tensor64 } from '../../engine/reference/tensor64.js';

export type Weights64 = Map<string, Tensor64>;
export type Grads64 = Map<string, Float64Array>;
type Kind = 'same' | 'down' | 'up';
const EPS = 1e-6;

function w64(w: Weights64, name: string): Float64Array {
  const t = w.get(name);
  if (!t) throw new Error(`vae64: weight ${name} missing`);
  return t.data;
}

function addGrad(g: Grads64, name: string, d: Float64Array): void {
  if (g.has(name)) throw new Error(`vae64: second gradient for ${name}`);
  g.set(name, d);
}

const add = (a: Float64Array, b: Float64Array) => a.map((v, i) => v + b[i]!);

function convArgs(w: Weights64, name: string, x: Tensor64, kind: Kind): Conv2dRefArgs {
  const ws = w.get(`${name}.weight`)!.shape;
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  if (ws[1] !== Cin) throw new Error(`vae64: ${name}.weight [${ws.join(',')}] does not take ${Cin} channels`);
  const k = ws[2]!;
  const p = (k - 1) / 2;
  const pad = kind === 'down' ? { top: 0, bottom: 1, left: 0, right: 1 } : { top: p, bottom: p, left: p, right: p };
  return { N, Cin, H, W, Cout: ws[0]!, KH: k, KW: ws[3]!, stride: kind === 'down' ? 2 : 1, ...pad, upsample: kind === 'up', bias: w64(w, `${name}.bias`) };
}

function conv(w: Weights64, name: string, x: Tensor64, kind: Kind = 'same'): Tensor64 {
  const a = convArgs(w, name, x, kind);
  const H = a.upsample ? 2 * a.H : a.H, W = a.upsample ? 2 * a.W : a.W;
  const Ho = Math.floor((H + a.top + a.bottom - a.KH) / a.stride) + 1;
  const Wo = Math.floor((W + a.left + a.right - a.KW) / a.stride) + 1;
  return { shape: [a.N, a.Cout, Ho, Wo], data: conv2dRef(x.data, w64(w, `${name}.weight`), a) };
}

function convBack(w: Weights64, name: string, x: Tensor64, dy: Float64Array, g: Grads64, kind: Kind = 'same'): Float64Array {
  const r = conv2dBackwardRef(x.data, w64(w, `${name}.weight`), dy, convArgs(w, name, x, kind));
  addGrad(g, `${name}.weight`, r.dw);
  addGrad(g, `${name}.bias`, r.db);
  return r.dx;
}

function gn(w: Weights64, name: string, groups: number, x: Tensor64, silu: boolean): Tensor64 {
  return { shape: x.shape, data: groupNormRef(x.data, x.shape[0]!, x.shape[1]!, groups, EPS, w64(w, `${name}.weight`), w64(w, `${name}.bias`), silu) };
}

function gnBack(w: Weights64, name: string, groups: number, x: Tensor64, dy: Float64Array, silu: boolean, g: Grads64): Float64Array {
  const r = groupNormBackwardRef(x.data, dy, x.shape[0]!, x.shape[1]!, groups, EPS, w64(w, `${name}.weight`), w64(w, `${name}.bias`), silu);
  addGrad(g, `${name}.weight`, r.dweight!);
  addGrad(g, `${name}.bias`, r.dbias!);
  return r.dx;
}

type Stage64 =
  | { kind: 'conv'; name: string; conv: Kind; x: Tensor64 }
  | { kind: 'gn'; name: string; x: Tensor64 }
  | { kind: 'resnet'; prefix: string; x: Tensor64; a: Tensor64; h1: Tensor64; b: Tensor64 }
  | { kind: 'attn'; prefix: string; x: Tensor64; tokens: Float64Array; q: Float64Array; k: Float64Array; v: Float64Array; att: Float64Array };

export interface Saved64 { stages: Stage64[]; groups: number; out: Tensor64 }

function resnet(w: Weights64, prefix: string, groups: number, x: Tensor64): { out: Tensor64; st: Stage64 } {
  const a = gn(w, `${prefix}.norm1`, groups, x, true);
  const h1 = conv(w, `${prefix}.conv1`, a);
  const b = gn(w, `${prefix}.norm2`, groups, h1, true);
  const h2 = conv(w, `${prefix}.conv2`, b);
  const skip = w.has(`${prefix}.conv_shortcut.weight`) ? conv(w, `${prefix}.conv_shortcut`, x) : x;
  return { out: { shape: h2.shape, data: add(h2.data, skip.data) }, st: { kind: 'resnet', prefix, x, a, h1, b } };
}

function resnetBack(w: Weights64, s: Extract<Stage64, { kind: 'resnet' }>, groups: number, dOut: Float64Array, g: Grads64): Float64Array {
  const dB = convBack(w, `${s.prefix}.conv2`, s.b, dOut, g);
  const dH1 = gnBack(w, `${s.prefix}.norm2`, groups, s.h1, dB, true, g);
  const dA = convBack(w, `${s.prefix}.conv1`, s.a, dH1, g);
  const dX = gnBack(w, `${s.prefix}.norm1`, groups, s.x, dA, true, g);
  const dSkip = w.has(`${s.prefix}.conv_shortcut.weight`) ? convBack(w, `${s.prefix}.conv_shortcut`, s.x, dOut, g) : dOut;
  return add(dX, dSkip);
}

const view = (data: Float64Array, N: number, S: number, C: number): RefView => ({ data, batch: N, seq: S, batchStride: S * C, seqStride: C });

function attn(w: Weights64, prefix: string, groups: number, x: Tensor64): { out: Tensor64; st: Stage64 } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const S = H * W;
  const n = gn(w, `${prefix}.group_norm`, groups, x, false);
  const tokens = permuteRef(n.data, [N, C, S], [0, 2, 1]);
  const lin = (t: Float64Array, name: string) => linearRef({ x: t, w: w64(w, `${prefix}.${name}.weight`), bias: w64(w, `${prefix}.${name}.bias`), M: N * S, K: C, N: C });
  const q = lin(tokens, 'to_q'), k = lin(tokens, 'to_k'), v = lin(tokens, 'to_v');
  const att = attentionRef(view(q, N, S, C), view(k, N, S, C), view(v, N, S, C), { heads: 1, headDim: C });
  const o = permuteRef(lin(att, 'to_out.0'), [N, S, C], [0, 2, 1]);
  return { out: { shape: x.shape, data: add(x.data, o) }, st: { kind: 'attn', prefix, x, tokens, q, k, v, att } };
}

function attnBack(w: Weights64, s: Extract<Stage64, { kind: 'attn' }>, groups: number, dOut: Float64Array, g: Grads64): Float64Array {
  const [N, C, H, W] = s.x.shape as [number, number, number, number];
  const S = H * W;
  const args = (x: Float64Array, name: string) => ({ x, w: w64(w, `${s.prefix}.${name}.weight`), bias: w64(w, `${s.prefix}.${name}.bias`), M: N * S, K: C, N: C });
  const dTok = permuteRef(dOut, [N, C, S], [0, 2, 1]);
  const lo = linearBackwardRef(args(s.att, 'to_out.0'), dTok);
  addGrad(g, `${s.prefix}.to_out.0.weight`, lo.dw);
  addGrad(g, `${s.prefix}.to_out.0.bias`, lo.db);
  const ab = attentionBackwardRef(view(s.q, N, S, C), view(s.k, N, S, C), view(s.v, N, S, C), lo.dx, { heads: 1, headDim: C });
  let dTokens = new Float64Array(N * S * C);
  for (const [name, d] of [['to_q', ab.dq], ['to_k', ab.dk], ['to_v', ab.dv]] as const) {
    const l = linearBackwardRef(args(s.tokens, name), d);
    addGrad(g, `${s.prefix}.${name}.weight`, l.dw);
    addGrad(g, `${s.prefix}.${name}.bias`, l.db);
    dTokens = add(dTokens, l.dx);
  }
  const dn = permuteRef(dTokens, [N, S, C], [0, 2, 1]);
  return add(dOut, gnBack(w, `${s.prefix}.group_norm`, groups, s.x, dn, false, g));
}

class Chain64 {
  stages: Stage64[] = [];
  constructor(readonly w: Weights64, readonly groups: number, public x: Tensor64) {}
  conv(name: string, kind: Kind = 'same') { this.stages.push({ kind: 'conv', name, conv: kind, x: this.x }); this.x = conv(this.w, name, this.x, kind); }
  gnSilu(name: string) { this.stages.push({ kind: 'gn', name, x: this.x }); this.x = gn(this.w, name, this.groups, this.x, true); }
  resnet(prefix: string) { const r = resnet(this.w, prefix, this.groups, this.x); this.stages.push(r.st); this.x = r.out; }
  mid(prefix: string) {
    this.resnet(`${prefix}.resnets.0`);
    const r = attn(this.w, `${prefix}.attentions.0`, this.groups, this.x);
    this.stages.push(r.st);
    this.x = r.out;
    this.resnet(`${prefix}.resnets.1`);
  }
  saved(): Saved64 { return { stages: this.stages, groups: this.groups, out: this.x }; }
}

export function encoder64(w: Weights64, cfg: AutoencoderKLConfig, images: Tensor64): Saved64 {
  const c = new Chain64(w, cfg.norm_num_groups, images);
  c.conv('encoder.conv_in');
  const n = cfg.block_out_channels.length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cfg.layers_per_block; j++) c.resnet(`encoder.down_blocks.${i}.resnets.${j}`);
    if (i < n - 1) c.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, 'down');
  }
  c.mid('encoder.mid_block');
  c.gnSilu('encoder.conv_norm_out');
  c.conv('encoder.conv_out');
  if (w.has('quant_conv.weight')) c.conv('quant_conv');
  return c.saved();
}

export function decoder64(w: Weights64, cfg: AutoencoderKLConfig, z: Tensor64): Saved64 {
  const c = new Chain64(w, cfg.norm_num_groups, z);
  if (w.has('post_quant_conv.weight')) c.conv('post_quant_conv');
  c.conv('decoder.conv_in');
  c.mid('decoder.mid_block');
  const n = cfg.block_out_channels.length;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cfg.layers_per_block + 1; j++) c.resnet(`decoder.up_blocks.${i}.resnets.${j}`);
    if (i < n - 1) c.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, 'up');
  }
  c.gnSilu('decoder.conv_norm_out');
  c.conv('decoder.conv_out');
  return c.saved();
}

/** The analytic backward of encoder64 / decoder64: parameter gradients by name and the input's gradient. */
export function backward64(w: Weights64, s: Saved64, dOut: Float64Array, grads: Grads64 = new Map()): { grads: Grads64; dInput: Float64Array } {
  let d = dOut;
  for (let i = s.stages.length - 1; i >= 0; i--) {
    const st = s.stages[i]!;
    if (st.kind === 'conv') d = convBack(w, st.name, st.x, d, grads, st.conv);
    else if (st.kind === 'gn') d = gnBack(w, st.name, s.groups, st.x, d, true, grads);
    else if (st.kind === 'resnet') d = resnetBack(w, st, s.groups, d, grads);
    else d = attnBack(w, st, s.groups, d, grads);
  }
  return { grads, dInput: d };
}

export interface Objective64 { loss: number; recon: number; kl: number; grads: Grads64; mean: Float64Array; logvar: Float64Array }

/**
 * The training objective of vaeTrainStep in float64: moments = encoder(x); mean / logvar = first / second half of the
 * channels, logvar clamped to [-30, 20]; z = mean + exp(logvar / 2) eps; recon = mean((decoder(z) - x)^2);
 * kl = 0.5 / N * sum(mean^2 + exp(logvar) - 1 - logvar); loss = recon + klWeight kl; and every parameter's gradient
 * (unless withGrads is false).
 */
export function objective64(w: Weights64, cfg: AutoencoderKLConfig, images: Tensor64, eps: ArrayLike<number>, klWeight: number, withGrads = true): Objective64 {
  const enc = encoder64(w, cfg, images);
  const [N, C2, h, wd] = enc.out.shape as [number, number, number, number];
  const L = C2 / 2;
  const per = L * h * wd;
  const mean = new Float64Array(N * per), lvRaw = new Float64Array(N * per);
  for (let n = 0; n < N; n++) {
    mean.set(enc.out.data.subarray(n * 2 * per, n * 2 * per + per), n * per);
    lvRaw.set(enc.out.data.subarray(n * 2 * per + per, (n + 1) * 2 * per), n * per);
  }
  const logvar = lvRaw.map((v) => Math.min(Math.max(v, -30), 20));
  const std = logvar.map((v) => Math.exp(0.5 * v));
  const z = mean.map((m, i) => m + std[i]! * eps[i]!);
  const dec = decoder64(w, cfg, { shape: [N, L, h, wd], data: z });
  const M = images.data.length;
  let recon = 0;
  const dRec = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const e = dec.out.data[i]! - images.data[i]!;
    recon += e * e;
    dRec[i] = (2 * e) / M;
  }
  recon /= M;
  let kl = 0;
  for (let i = 0; i < mean.length; i++) kl += mean[i]! ** 2 + Math.exp(logvar[i]!) - 1 - logvar[i]!;
  kl *= 0.5 / N;
  if (!withGrads) return { loss: recon + klWeight * kl, recon, kl, grads: new Map(), mean, logvar };
  const { grads, dInput: dz } = backward64(w, dec, dRec);
  const dMom = new Float64Array(enc.out.data.length);
  for (let n = 0; n < N; n++)
    for (let j = 0; j < per; j++) {
      const i = n * per + j;
      dMom[n * 2 * per + j] = dz[i]! + (klWeight * mean[i]!) / N;
      const inside = lvRaw[i]! >= -30 && lvRaw[i]! <= 20;
      dMom[n * 2 * per + per + j] = inside ? dz[i]! * eps[i]! * 0.5 * std[i]! + (klWeight * 0.5 * (Math.exp(logvar[i]!) - 1)) / N : 0;
    }
  backward64(w, enc, dMom, grads);
  return { loss: recon + klWeight * kl, recon, kl, grads, mean, logvar };
}
