// The diffusers AutoencoderKL (2-D) on the GPU, composed of engine ops: decoder (conv_in, mid block with one
// single-head attention over H*W, up blocks with nearest-2x + conv, GroupNorm+SiLU, conv_out) and encoder, plus
// decodeFrames: latents [1, F, C, h, w] -> z/scaling_factor + shift_factor -> RGB bytes, one frame at a time.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { validateVae, type SubModel } from '../io/checkpoint.js';
import type { AutoencoderKLConfig } from '../io/configs.js';
import { attention } from '../ops/attention.js';
import { conv2d, type Conv2dOptions } from '../ops/conv2d.js';
import { add, scale } from '../ops/elementwise.js';
import { groupNorm } from '../ops/groupnorm.js';
import { permute, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { Tensor } from '../tensor.js';
import { Scratch } from './scratch.js';
import { GpuWeights, type LoadProgress } from './weights.js';

/** Every norm of the diffusers VAE (resnets, attention, conv_norm_out) uses eps 1e-6. */
export const VAE_NORM_EPS = 1e-6;

export interface VaeLoadOptions {
  /** Weights and activations dtype (f16 needs shader-f16). Default f32. */
  dtype?: DType;
  onProgress?: (p: LoadProgress) => void;
}

/** Decoded frames as interleaved RGB bytes, row-major (H x W x 3), ready for a video encoder. */
export interface DecodedFrames {
  width: number;
  height: number;
  frames: Uint8Array[];
}

/** Decoder output [3, H, W] in [-1, 1] (planar) -> interleaved RGB bytes round(clamp(x/2 + 0.5, 0, 1) * 255). */
export function planarToRgbBytes(chw: ArrayLike<number>, height: number, width: number): Uint8Array {
  const n = height * width;
  if (chw.length !== 3 * n) throw new ShapeError(`planarToRgbBytes: expected 3 x ${height} x ${width} = ${3 * n} values, got ${chw.length}`);
  const out = new Uint8Array(3 * n);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) {
      const v = chw[c * n + i]! / 2 + 0.5;
      out[3 * i + c] = Math.round((v < 0 ? 0 : v > 1 ? 1 : v) * 255); // NaN -> 0
    }
  }
  return out;
}

export class VaeModel {
  constructor(
    readonly device: Device,
    readonly config: AutoencoderKLConfig,
    readonly weights: GpuWeights,
    readonly dtype: DType,
  ) {}

  /** Validates the VAE against its config, then streams its weights to the GPU. */
  static async load(device: Device, sub: SubModel<AutoencoderKLConfig>, opts: VaeLoadOptions = {}): Promise<VaeModel> {
    const config = validateVae(sub);
    const dtype = opts.dtype ?? 'f32';
    const weights = await GpuWeights.load(device, sub.weights, dtype, opts.onProgress);
    return new VaeModel(device, config, weights, dtype);
  }

  /** Spatial factor between latents and pixels: 2^(number of blocks - 1). */
  get scaleFactor(): number {
    return 2 ** (this.config.block_out_channels.length - 1);
  }

  /** Decoder on one latent image z [latentChannels, h, w] (already unscaled) -> [outChannels, 8h, 8w] in about [-1, 1]. */
  decode(z: Tensor): Tensor {
    const cfg = this.config;
    if (z.shape.length !== 3 || z.shape[0] !== cfg.latent_channels) {
      throw new ShapeError(`VAE decode: z must be [${cfg.latent_channels}, h, w], got [${z.shape.join(', ')}]`);
    }
    if (z.dtype !== this.dtype) throw new ShapeError(`VAE decode: z is ${z.dtype} but the VAE runs in ${this.dtype}; cast first`);
    this.checkFits(z.shape[1]!, z.shape[2]!);
    let x = z;
    const step = (next: Tensor) => {
      if (x !== z) x.dispose();
      x = next;
    };
    if (cfg.use_post_quant_conv || this.weights.has('post_quant_conv.weight')) step(this.conv(x, 'post_quant_conv'));
    step(this.conv(x, 'decoder.conv_in'));
    step(this.midBlock(x, 'decoder.mid_block'));
    const n = cfg.block_out_channels.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layers_per_block + 1; j++) step(this.resnet(x, `decoder.up_blocks.${i}.resnets.${j}`));
      if (i < n - 1) step(this.conv(x, `decoder.up_blocks.${i}.upsamplers.0.conv`, { upsample: true }));
    }
    step(this.gn(x, 'decoder.conv_norm_out', true));
    step(this.conv(x, 'decoder.conv_out'));
    return x;
  }

  /** Encoder on one image [inChannels, H, W] in [-1, 1] -> moments [2*latentChannels, h, w] (mean, then logvar). */
  encode(image: Tensor): Tensor {
    const cfg = this.config;
    if (image.shape.length !== 3 || image.shape[0] !== cfg.in_channels) {
      throw new ShapeError(`VAE encode: image must be [${cfg.in_channels}, H, W], got [${image.shape.join(', ')}]`);
    }
    if (!this.weights.has('encoder.conv_in.weight')) throw new Error('VAE encode: this checkpoint has no encoder weights (encoder.conv_in.weight missing)');
    let x = image;
    const step = (next: Tensor) => {
      if (x !== image) x.dispose();
      x = next;
    };
    step(this.conv(x, 'encoder.conv_in'));
    const n = cfg.block_out_channels.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < cfg.layers_per_block; j++) step(this.resnet(x, `encoder.down_blocks.${i}.resnets.${j}`));
      if (i < n - 1) {
        step(this.conv(x, `encoder.down_blocks.${i}.downsamplers.0.conv`, { stride: 2, padding: { top: 0, bottom: 1, left: 0, right: 1 } }));
      }
    }
    step(this.midBlock(x, 'encoder.mid_block'));
    step(this.gn(x, 'encoder.conv_norm_out', true));
    step(this.conv(x, 'encoder.conv_out'));
    if (cfg.use_quant_conv || this.weights.has('quant_conv.weight')) step(this.conv(x, 'quant_conv'));
    return x;
  }

  /** The latent of an image: (mean of the encoder's Gaussian - shift_factor) * scaling_factor, [latentChannels, h, w]. */
  encodeLatent(image: Tensor): Tensor {
    const lc = this.config.latent_channels;
    const moments = this.encode(image);
    const mean = slice(moments, 0, 0, lc);
    moments.dispose();
    const sf = this.config.scaling_factor;
    const out = scale(mean, sf, -(this.config.shift_factor ?? 0) * sf);
    mean.dispose();
    return out;
  }

  /**
   * Latents [1, F, latentChannels, h, w] -> F RGB frames (H = 8h, W = 8w), decoding each frame independently with
   * z = latents / scaling_factor + shift_factor. Frames are decoded one at a time to bound memory; onFrame sees each.
   */
  async decodeFrames(latents: Tensor, onFrame?: (index: number, rgb: Uint8Array) => void): Promise<DecodedFrames> {
    const cfg = this.config;
    const s = latents.shape;
    if (s.length !== 5 || s[0] !== 1 || s[2] !== cfg.latent_channels) {
      throw new ShapeError(`decodeFrames: latents must be [1, F, ${cfg.latent_channels}, h, w], got [${s.join(', ')}]`);
    }
    if (cfg.out_channels !== 3) throw new Error(`decodeFrames: vae/config.json out_channels is ${cfg.out_channels}; RGB output needs 3`);
    const [, F, C, h, w] = s as [number, number, number, number, number];
    const flat = latents.reshape([F, C * h * w]);
    const sf = cfg.scaling_factor;
    const frames: Uint8Array[] = [];
    let height = 0;
    let width = 0;
    try {
      for (let f = 0; f < F; f++) {
        const row = slice(flat, 0, f, f + 1);
        const zFlat = scale(row, 1 / sf, cfg.shift_factor ?? 0, { dtype: this.dtype });
        const z = zFlat.reshape([C, h, w]);
        row.dispose();
        zFlat.dispose();
        const img = this.decode(z);
        z.dispose();
        [, height, width] = img.shape as [number, number, number];
        const data = await img.read();
        img.dispose();
        const rgb = planarToRgbBytes(data, height, width);
        onFrame?.(f, rgb);
        frames.push(rgb);
      }
    } finally {
      flat.dispose();
    }
    return { width, height, frames };
  }

  /** The decoder's largest activation (per up block: its channels at its resolution) must fit one storage binding. */
  private checkFits(h: number, w: number): void {
    const rev = [...this.config.block_out_channels].reverse();
    const bytesPer = this.dtype === 'f16' ? 2 : 4;
    let worst = 0;
    rev.forEach((c, i) => {
      const prev = i === 0 ? c : rev[i - 1]!;
      worst = Math.max(worst, Math.max(c, prev) * h * w * 4 ** i * bytesPer);
    });
    const limit = this.device.caps.maxStorageBufferBindingSize;
    if (worst > limit) {
      throw new ShapeError(`VAE decode: a ${h}x${w} latent needs ${(worst / 2 ** 20).toFixed(0)} MiB activations, above this device's ${(limit / 2 ** 20).toFixed(0)} MiB storage binding limit; decode a smaller resolution or use dtype f16`);
    }
  }

  /** ResnetBlock2D: conv2(silu(norm2(conv1(silu(norm1 x))))) + shortcut(x) (1x1 conv when channels change). */
  private resnet(x: Tensor, p: string): Tensor {
    const s = new Scratch();
    const h1 = s.t(this.conv(s.t(this.gn(x, `${p}.norm1`, true)), `${p}.conv1`));
    const h2 = s.t(this.gn(h1, `${p}.norm2`, true));
    const skip = this.weights.has(`${p}.conv_shortcut.weight`) ? s.t(this.conv(x, `${p}.conv_shortcut`)) : x;
    if (skip.shape[0] !== h1.shape[0]) {
      throw new Error(`${p}: channels change ${x.shape[0]} -> ${h1.shape[0]} but "${p}.conv_shortcut.weight" is missing`);
    }
    const out = this.conv(h2, `${p}.conv2`, { residual: skip });
    s.release();
    return out;
  }

  /** UNetMidBlock2D: resnet, attention, resnet. */
  private midBlock(x: Tensor, p: string): Tensor {
    const a = this.resnet(x, `${p}.resnets.0`);
    const b = this.attention(a, `${p}.attentions.0`);
    a.dispose();
    const c = this.resnet(b, `${p}.resnets.1`);
    b.dispose();
    return c;
  }

  /** Single-head attention over the H*W pixels: x + to_out(attn(q, k, v of GroupNorm(x))). */
  private attention(x: Tensor, p: string): Tensor {
    const [C, H, W] = x.shape as [number, number, number];
    const s = new Scratch();
    const n = s.t(this.gn(x, `${p}.group_norm`, false));
    const tokens = s.t(permute(s.t(n.reshape([C, H * W])), [1, 0])); // [HW, C]
    const lin = (t: Tensor, name: string) => s.t(linear(t, this.w(`${p}.${name}.weight`), this.w(`${p}.${name}.bias`)));
    const [q, k, v] = [lin(tokens, 'to_q'), lin(tokens, 'to_k'), lin(tokens, 'to_v')];
    let att: Tensor;
    try {
      att = s.t(attention(q, k, v, { heads: 1 }));
    } catch (e) {
      // Head dim C (512 in real VAEs) can exceed the tiled kernel's workgroup memory: use the simple kernel.
      if (!(e instanceof ShapeError)) throw e;
      att = s.t(attention(q, k, v, { heads: 1, variant: 'attention_naive' }));
    }
    const o = lin(s.t(att.reshape([H * W, C])), 'to_out.0');
    const back = s.t(s.t(permute(o, [1, 0])).reshape([C, H, W]));
    const out = add(x, back);
    s.release();
    return out;
  }

  private gn(x: Tensor, p: string, silu: boolean): Tensor {
    return groupNorm(x, this.config.norm_num_groups, VAE_NORM_EPS, this.w(`${p}.weight`), this.w(`${p}.bias`), { silu });
  }

  /** Conv with the checkpoint's weight and bias; 'same' padding for odd kernels unless given. */
  private conv(x: Tensor, p: string, opts: Conv2dOptions = {}): Tensor {
    const weight = this.w(`${p}.weight`);
    if (weight.shape.length !== 4 || weight.shape[1] !== x.shape[0]) {
      throw new ShapeError(`${p}.weight is [${weight.shape.join(', ')}], expected [Cout, ${x.shape[0]}, k, k] for input [${x.shape.join(', ')}]`);
    }
    const k = weight.shape[2]!;
    return conv2d(x, weight, { bias: this.w(`${p}.bias`), padding: (k - 1) / 2, ...opts });
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  dispose(): void {
    this.weights.dispose();
  }
}
