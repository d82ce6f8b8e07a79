// Float64 reference of the diffusers AutoencoderKL (2-D) encoder and decoder, one image at a time ([C, H, W]),
// plus decodeLatents64 (z / scaling_factor + shift_factor, each latent frame decoded independently).
import {
  type Tensor64,
  add64,
  assertShape,
  conv2d64,
  groupNorm64,
  index0,
  linear64,
  reshape64,
  scale64,
  sdpa64,
  silu64,
  stack64,
  transpose2d64,
  upsampleNearest2x64,
  map64,
} from './tensor64.js';
import { type WeightSource64, getWeight64, hasWeight64 } from './weights64.js';

export interface VaeConfig64 {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  scalingFactor: number;
  shiftFactor: number;
  /** quant_conv / post_quant_conv present (false for the SD3 VAE); default: detected from the weights. */
  useQuantConv?: boolean;
  usePostQuantConv?: boolean;
}

/** Every VAE norm (resnets, attention, conv_norm_out) uses eps 1e-6. */
export const VAE_EPS = 1e-6;

function conv(w: WeightSource64, prefix: string, x: Tensor64, stride = 1, padding: number | [number, number, number, number] = 1): Tensor64 {
  const weight = getWeight64(w, `${prefix}.weight`);
  if (weight.shape.length !== 4 || weight.shape[1] !== x.shape[0]) {
    throw new Error(`weight "${prefix}.weight": expected [Cout, ${x.shape[0]}, k, k], got [${weight.shape.join(',')}]`);
  }
  return conv2d64(x, weight, getWeight64(w, `${prefix}.bias`, [weight.shape[0]]), { stride, padding });
}

function gn(w: WeightSource64, prefix: string, x: Tensor64, groups: number): Tensor64 {
  const c = x.shape[0];
  return groupNorm64(x, groups, VAE_EPS, getWeight64(w, `${prefix}.weight`, [c]), getWeight64(w, `${prefix}.bias`, [c]));
}

/** ResnetBlock2D: h = conv2(silu(norm2(conv1(silu(norm1 x))))); out = shortcut(x) + h (output_scale_factor 1). */
export function vaeResnet64(w: WeightSource64, prefix: string, x: Tensor64, groups: number): Tensor64 {
  let h = silu64(gn(w, `${prefix}.norm1`, x, groups));
  h = conv(w, `${prefix}.conv1`, h);
  h = silu64(gn(w, `${prefix}.norm2`, h, groups));
  h = conv(w, `${prefix}.conv2`, h);
  const skip = hasWeight64(w, `${prefix}.conv_shortcut.weight`) ? conv(w, `${prefix}.conv_shortcut`, x, 1, 0) : x;
  if (skip.shape[0] !== h.shape[0]) {
    throw new Error(`${prefix}: channels change ${x.shape[0]} -> ${h.shape[0]} but "${prefix}.conv_shortcut.weight" is missing`);
  }
  return add64(skip, h);
}

/** Mid-block attention: GroupNorm, single-head attention over the H*W pixels (linear q/k/v/out), residual. */
export function vaeAttention64(w: WeightSource64, prefix: string, x: Tensor64, groups: number): Tensor64 {
  const [c, h, wd] = x.shape;
  const n = gn(w, `${prefix}.group_norm`, x, groups);
  const tokens = transpose2d64(reshape64(n, [c, h * wd]));
  const lin = (name: string) => linear64(tokens, getWeight64(w, `${prefix}.${name}.weight`, [c, c]), getWeight64(w, `${prefix}.${name}.bias`, [c]));
  const att = sdpa64(lin('to_q'), lin('to_k'), lin('to_v'), 1);
  const out = linear64(att, getWeight64(w, `${prefix}.to_out.0.weight`, [c, c]), getWeight64(w, `${prefix}.to_out.0.bias`, [c]));
  return add64(x, reshape64(transpose2d64(out), [c, h, wd]));
}

/** UNetMidBlock2D: resnet, attention, resnet. */
export function vaeMidBlock64(w: WeightSource64, prefix: string, x: Tensor64, groups: number): Tensor64 {
  let h = vaeResnet64(w, `${prefix}.resnets.0`, x, groups);
  h = vaeAttention64(w, `${prefix}.attentions.0`, h, groups);
  return vaeResnet64(w, `${prefix}.resnets.1`, h, groups);
}

/** Upsample2D: nearest x2 then 3x3 conv (`${prefix}.conv`). */
export function vaeUpsample64(w: WeightSource64, prefix: string, x: Tensor64): Tensor64 {
  return conv(w, `${prefix}.conv`, upsampleNearest2x64(x));
}

/** Downsample2D(padding=0): zero-pad right and bottom by one, then 3x3 stride-2 conv (`${prefix}.conv`). */
export function vaeDownsample64(w: WeightSource64, prefix: string, x: Tensor64): Tensor64 {
  return conv(w, `${prefix}.conv`, x, 2, [0, 1, 0, 1]);
}

/** Decoder on one latent image z [latentChannels, h, w] (post_quant_conv applied first when present). */
export function vaeDecode64(w: WeightSource64, cfg: VaeConfig64, z: Tensor64): Tensor64 {
  assertShape(z, [cfg.latentChannels, z.shape[1], z.shape[2]], 'VAE decoder input');
  const g = cfg.normNumGroups;
  const usePost = cfg.usePostQuantConv ?? hasWeight64(w, 'post_quant_conv.weight');
  let x = usePost ? conv(w, 'post_quant_conv', z, 1, 0) : z;
  x = conv(w, 'decoder.conv_in', x);
  x = vaeMidBlock64(w, 'decoder.mid_block', x, g);
  const nBlocks = cfg.blockOutChannels.length;
  for (let i = 0; i < nBlocks; i++) {
    for (let j = 0; j < cfg.layersPerBlock + 1; j++) x = vaeResnet64(w, `decoder.up_blocks.${i}.resnets.${j}`, x, g);
    if (i < nBlocks - 1) x = vaeUpsample64(w, `decoder.up_blocks.${i}.upsamplers.0`, x);
  }
  x = silu64(gn(w, 'decoder.conv_norm_out', x, g));
  return conv(w, 'decoder.conv_out', x);
}

/** Encoder on one image [inChannels, H, W] -> moments [2*latentChannels, H/f, W/f] (mean then logvar). */
export function vaeEncode64(w: WeightSource64, cfg: VaeConfig64, image: Tensor64): Tensor64 {
  assertShape(image, [cfg.inChannels, image.shape[1], image.shape[2]], 'VAE encoder input');
  const g = cfg.normNumGroups;
  let x = conv(w, 'encoder.conv_in', image);
  const nBlocks = cfg.blockOutChannels.length;
  for (let i = 0; i < nBlocks; i++) {
    for (let j = 0; j < cfg.layersPerBlock; j++) x = vaeResnet64(w, `encoder.down_blocks.${i}.resnets.${j}`, x, g);
    if (i < nBlocks - 1) x = vaeDownsample64(w, `encoder.down_blocks.${i}.downsamplers.0`, x);
  }
  x = vaeMidBlock64(w, 'encoder.mid_block', x, g);
  x = silu64(gn(w, 'encoder.conv_norm_out', x, g));
  x = conv(w, 'encoder.conv_out', x);
  const useQuant = cfg.useQuantConv ?? hasWeight64(w, 'quant_conv.weight');
  return useQuant ? conv(w, 'quant_conv', x, 1, 0) : x;
}

/** Latents [1, F, latentChannels, h, w] -> frames [F, outChannels, 8h, 8w] in the decoder's [-1, 1] range. */
export function decodeLatents64(w: WeightSource64, cfg: VaeConfig64, latents: Tensor64): Tensor64 {
  const [b, nf, c, h, wd] = latents.shape;
  if (latents.shape.length !== 5 || b !== 1 || c !== cfg.latentChannels) {
    throw new Error(`decodeLatents64: expected [1, F, ${cfg.latentChannels}, h, w], got [${latents.shape.join(',')}]`);
  }
  const frames = reshape64(latents, [nf, c, h, wd]);
  const out: Tensor64[] = [];
  for (let f = 0; f < nf; f++) {
    const z = map64(index0(frames, f), (v) => v / cfg.scalingFactor + cfg.shiftFactor);
    out.push(vaeDecode64(w, cfg, z));
  }
  return stack64(out);
}

/** Decoder output [.., 3, H, W] in [-1, 1] -> bytes: round(clamp(x/2 + 0.5, 0, 1) * 255). */
export function toUint8Image64(x: Tensor64): Uint8Array {
  const out = new Uint8Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, x.data[i] / 2 + 0.5)) * 255);
  return out;
}

/** Diagonal-Gaussian mean from encoder moments (first half of the channels), scaled into latent space. */
export function encodeToLatent64(w: WeightSource64, cfg: VaeConfig64, image: Tensor64): Tensor64 {
  const moments = vaeEncode64(w, cfg, image);
  const [, h, wd] = moments.shape;
  const mean: Tensor64 = { shape: [cfg.latentChannels, h, wd], data: moments.data.slice(0, cfg.latentChannels * h * wd) };
  return scale64(map64(mean, (v) => v - cfg.shiftFactor), cfg.scalingFactor);
}
