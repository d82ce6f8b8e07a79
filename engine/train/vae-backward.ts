// The AutoencoderKL's encoder and decoder as forward/backward pairs for training, chaining the module pairs of
// ./vae-modules.ts exactly as engine/model/vae.ts (and engine/reference/vae.ts) run them, on a batch [N, C, H, W]:
//   encoder: conv_in -> per down block: layers_per_block resnets, then (all but the last) the stride-2 downsampler
//            -> mid block (resnet, attention, resnet) -> SiLU(conv_norm_out) -> conv_out -> quant_conv (when present)
//            = moments [N, 2 latent_channels, h, w] (mean, then logvar);
//   decoder: post_quant_conv (when present) -> conv_in -> mid block -> per up block: layers_per_block + 1 resnets, then
//            (all but the last) nearest-2x + conv -> SiLU(conv_norm_out) -> conv_out.
// The forward records its fixed module sequence with each module's saved tensors; the backward walks it in reverse.
// Parameters are read and gradients returned (f32) under the checkpoint's own names.

import { ShapeError } from '../gpu/errors.js';
import type { AutoencoderKLConfig } from '../io/configs.js';
import type { Tensor } from '../tensor.js';
import {
  convBackward, convForward, disposeResnetSaved, disposeVaeAttnSaved, gnBackward, gnForward, resnetBackward, resnetForward,
  vaeAttnBackward, vaeAttnForward, type ConvKind, type ResnetSaved, type VaeAttnSaved,
} from './vae-modules.js';
import type { GradMap, ParamMap } from './update.js';

/** One module of the sequence with what its backward needs; `x` is its input. */
type Stage =
  | { kind: 'conv'; name: string; conv: ConvKind; x: Tensor }
  | { kind: 'gn'; name: string; x: Tensor }
  | { kind: 'resnet'; s: ResnetSaved }
  | { kind: 'attn'; s: VaeAttnSaved };

/** A forward's module sequence and the activations between modules (owned; the input and output are not). */
export interface VaeSaved {
  params: ParamMap;
  groups: number;
  stages: Stage[];
  acts: Tensor[];
  inputShape: readonly number[];
  outputShape: readonly number[];
}

class Chain {
  readonly stages: Stage[] = [];
  readonly acts: Tensor[] = [];
  x: Tensor;
  constructor(readonly p: ParamMap, readonly groups: number, input: Tensor) {
    this.x = input;
  }
  private next(out: Tensor, stage: Stage): void {
    this.stages.push(stage);
    this.acts.push(out);
    this.x = out;
  }
  conv(name: string, conv: ConvKind = 'same'): void {
    this.next(convForward(this.p, name, this.x, conv), { kind: 'conv', name, conv, x: this.x });
  }
  gnSilu(name: string): void {
    this.next(gnForward(this.p, name, this.groups, this.x, true), { kind: 'gn', name, x: this.x });
  }
  resnet(prefix: string): void {
    const { out, saved } = resnetForward(this.p, prefix, this.groups, this.x);
    this.next(out, { kind: 'resnet', s: saved });
  }
  mid(prefix: string): void {
    this.resnet(`${prefix}.resnets.0`);
    const { out, saved } = vaeAttnForward(this.p, `${prefix}.attentions.0`, this.groups, this.x);
    this.next(out, { kind: 'attn', s: saved });
    this.resnet(`${prefix}.resnets.1`);
  }
  /** The output (not owned by the saved state) and the saved state. */
  finish(input: Tensor): { out: Tensor; saved: VaeSaved } {
    const out = this.acts.pop()!;
    return { out, saved: { params: this.p, groups: this.groups, stages: this.stages, acts: this.acts, inputShape: input.shape, outputShape: out.shape } };
  }
  /** Frees what was made so far (a forward that failed part way). */
  abort(): void {
    disposeVaeSaved({ params: this.p, groups: this.groups, stages: this.stages, acts: this.acts, inputShape: [], outputShape: [] });
  }
}

function checkInput(what: string, x: Tensor, channels: number, name: string): void {
  if (x.shape.length !== 4 || x.shape[1] !== channels || x.dtype !== 'f32') {
    throw new ShapeError(`vae ${what}: ${name} must be f32 [N, ${channels}, H, W], got ${x.dtype}[${x.shape.join(', ')}]`);
  }
}

function groupsOf(cfg: AutoencoderKLConfig): number {
  const g = cfg.norm_num_groups;
  for (const c of cfg.block_out_channels) {
    if (c % g) throw new Error(`vae: norm_num_groups ${g} must divide every block_out_channels entry (${cfg.block_out_channels.join(', ')})`);
  }
  return g;
}

function run(c: Chain, input: Tensor, body: () => void): { out: Tensor; saved: VaeSaved } {
  try {
    body();
  } catch (e) {
    c.abort();
    throw e;
  }
  return c.finish(input);
}

/**
 * Checks images for the encoder: f32 [N, in_channels, H, W] with H and W multiples of 2^(blocks - 1) (each down block
 * but the last halves them). `who` prefixes the message.
 */
export function checkVaeImages(cfg: AutoencoderKLConfig, images: Tensor, who = 'vae encoder'): void {
  const s = images.shape;
  if (images.dtype !== 'f32' || s.length !== 4 || s[1] !== cfg.in_channels || !(s[0]! >= 1)) {
    throw new ShapeError(`${who}: images must be f32 [N, ${cfg.in_channels}, H, W] (N >= 1), got ${images.dtype}[${s.join(', ')}]`);
  }
  const f = 2 ** (cfg.block_out_channels.length - 1);
  if (s[2]! % f || s[3]! % f) {
    throw new ShapeError(`${who}: image size ${s[2]}x${s[3]} must be a multiple of ${f} (2^(number of blocks - 1)) in both axes`);
  }
}

/** Encoder on images [N, in_channels, H, W] (H, W multiples of 2^(blocks-1)) -> moments [N, 2 latent, h, w]. */
export function encoderForward(p: ParamMap, cfg: AutoencoderKLConfig, images: Tensor): { out: Tensor; saved: VaeSaved } {
  checkVaeImages(cfg, images);
  const c = new Chain(p, groupsOf(cfg), images);
  return run(c, images, () => {
    c.conv('encoder.conv_in');
    const n = cfg.block_out_channels.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layers_per_block; j++) c.resnet(`encoder.down_blocks.${i}.resnets.${j}`);
      if (i < n - 1) c.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, 'down');
    }
    c.mid('encoder.mid_block');
    c.gnSilu('encoder.conv_norm_out');
    c.conv('encoder.conv_out');
    if (cfg.use_quant_conv || p.has('quant_conv.weight')) c.conv('quant_conv');
  });
}

/** Decoder on latents z [N, latent_channels, h, w] (unscaled) -> images [N, out_channels, f h, f w]. */
export function decoderForward(p: ParamMap, cfg: AutoencoderKLConfig, z: Tensor): { out: Tensor; saved: VaeSaved } {
  checkInput('decoder', z, cfg.latent_channels, 'z');
  const c = new Chain(p, groupsOf(cfg), z);
  return run(c, z, () => {
    if (cfg.use_post_quant_conv || p.has('post_quant_conv.weight')) c.conv('post_quant_conv');
    c.conv('decoder.conv_in');
    c.mid('decoder.mid_block');
    const n = cfg.block_out_channels.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layers_per_block + 1; j++) c.resnet(`decoder.up_blocks.${i}.resnets.${j}`);
      if (i < n - 1) c.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, 'up');
    }
    c.gnSilu('decoder.conv_norm_out');
    c.conv('decoder.conv_out');
  });
}

export function disposeVaeSaved(s: VaeSaved): void {
  for (const st of s.stages) {
    if (st.kind === 'resnet') disposeResnetSaved(st.s);
    else if (st.kind === 'attn') disposeVaeAttnSaved(st.s);
  }
  for (const t of s.acts) t.dispose();
  s.stages.length = 0;
  s.acts.length = 0;
}

export interface VaeBackwardOptions {
  /** Also return the input's gradient (default true; the training step skips the images' gradient). */
  inputGrad?: boolean;
  /** Add the parameter gradients into this map (names must not be present yet); default a new map. */
  grads?: GradMap;
}

/**
 * Backward of encoderForward / decoderForward for dOut (the output's shape): every parameter gradient of that half
 * (f32, under the checkpoint's names) and the input's gradient. The saved state stays valid (disposeVaeSaved frees it).
 */
export function vaeBackward(saved: VaeSaved, dOut: Tensor, opts: VaeBackwardOptions = {}): { grads: GradMap; dInput?: Tensor } {
  if (dOut.shape.join(',') !== saved.outputShape.join(',') || dOut.dtype !== 'f32') {
    throw new ShapeError(`vae backward: dOut is ${dOut.dtype}[${dOut.shape.join(', ')}], expected the forward's output f32[${saved.outputShape.join(', ')}]`);
  }
  if (!saved.stages.length) throw new Error('vae backward: the saved forward was disposed');
  const grads: GradMap = opts.grads ?? new Map();
  const wantInput = opts.inputGrad ?? true;
  const p = saved.params;
  let d = dOut;
  for (let i = saved.stages.length - 1; i >= 0; i--) {
    const st = saved.stages[i]!;
    const first = i === 0;
    let next: Tensor | undefined;
    if (st.kind === 'conv') next = convBackward(p, st.name, st.x, d, grads, st.conv, first && !wantInput);
    else if (st.kind === 'gn') next = gnBackward(p, st.name, saved.groups, st.x, d, true, grads);
    else if (st.kind === 'resnet') next = resnetBackward(p, st.s, d, grads);
    else next = vaeAttnBackward(p, st.s, d, grads);
    if (d !== dOut) d.dispose();
    if (!next) return { grads };
    d = next;
  }
  if (!wantInput) {
    d.dispose();
    return { grads };
  }
  return { grads, dInput: d };
}
