// 2-D convolution for the VAE (shaders/conv2d.wgsl and conv2d_tiled128.wgsl tiled implicit GEMMs, conv2d_regs.wgsl
// register tiles without workgroup memory for few channels, shaders/conv2d_direct.wgsl simple):
// NCHW, [Cout, Cin, KH, KW] weights, bias, any stride, kernel dilation and (asymmetric) zero padding, optional fused residual add
// and fused nearest 2x input upsampling; plus the standalone upsampleNearest2x (shaders/resample.wgsl).

import type { Device } from '../gpu/device.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { pickVariant, registerVariant } from './registry.js';
import { isCpuAdapter } from './row-variants.js';

export interface Conv2dSpec {
  kernel: 'conv2d' | 'conv2d_tiled128' | 'conv2d_regs' | 'conv2d_direct';
  /** Tiled kernel: output tile (channels x pixels) of one workgroup; conv2d_regs: tileM channels per invocation. */
  tileM?: number;
  tileN?: number;
}

registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_direct', spec: { kernel: 'conv2d_direct' }, priority: 0 });
registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_tiled', spec: { kernel: 'conv2d', tileM: 64, tileN: 64 }, priority: 10 });
registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_tiled128', spec: { kernel: 'conv2d_tiled128', tileM: 128, tileN: 128 }, priority: 20 });
registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_regs4', spec: { kernel: 'conv2d_regs', tileM: 4 }, priority: 1 });
registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_regs8', spec: { kernel: 'conv2d_regs', tileM: 8 }, priority: 1 });
registerVariant<Conv2dSpec>({ op: 'conv2d', name: 'conv2d_regs16', spec: { kernel: 'conv2d_regs', tileM: 16 }, priority: 2 });
registerVariant({ op: 'upsample_nearest2x', name: 'upsample_nearest2x', spec: { kernel: 'resample' } });

export interface Padding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

export interface Conv2dOptions {
  bias?: Tensor;
  stride?: number;
  /** Kernel dilation: the taps are this many pixels apart (CRAFT's fc6: 3x3, dilation 6, padding 6). Default 1. */
  dilation?: number;
  /** Symmetric padding, or per side (the encoder downsample: { top: 0, bottom: 1, left: 0, right: 1 }). Default 0. */
  padding?: number | Padding;
  /** Added to the result (resnet shortcut), shape of the output. */
  residual?: Tensor;
  /** Convolve the nearest-2x upsampled input (the decoder's Upsample2D + conv, without the 4x tensor). */
  upsample?: boolean;
  out?: Tensor;
  /** Force a registered variant (else PARALLAX_KERNEL_CONV2D or the highest priority). */
  variant?: string;
}

const zeroBiases = new WeakMap<Device, Map<string, Tensor>>();

function zeros(device: Device, n: number, dtype: Tensor['dtype']): Tensor {
  let m = zeroBiases.get(device);
  if (!m) zeroBiases.set(device, (m = new Map()));
  const key = `${n}|${dtype}`;
  let t = m.get(key);
  if (!t || t.disposed) m.set(key, (t = Tensor.zeros(device, [n], dtype, 'zero bias')));
  return t;
}

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** x [N, Cin, H, W] (or [Cin, H, W]) * w [Cout, Cin, KH, KW] -> [N, Cout, Ho, Wo] (or [Cout, Ho, Wo]). */
export function conv2d(x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const rank3 = x.shape.length === 3;
  if (!rank3 && x.shape.length !== 4) throw new ShapeError(`conv2d: input must be [N, Cin, H, W] or [Cin, H, W], got ${fmt(x)}`);
  const [N, Cin, H, W] = (rank3 ? [1, ...x.shape] : x.shape) as [number, number, number, number];
  if (w.shape.length !== 4 || w.shape[1] !== Cin) throw new ShapeError(`conv2d: weight must be [Cout, ${Cin}, KH, KW] for input ${fmt(x)}, got ${fmt(w)}`);
  const [Cout, , KH, KW] = w.shape as [number, number, number, number];
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`conv2d: dtype must be f32 or f16, got ${x.dtype}`);
  if (w.dtype !== x.dtype) throw new ShapeError(`conv2d: weight ${fmt(w)} and input ${fmt(x)} dtypes differ; cast one`);
  const stride = opts.stride ?? 1;
  const pad = typeof opts.padding === 'object' ? opts.padding : { top: opts.padding ?? 0, bottom: opts.padding ?? 0, left: opts.padding ?? 0, right: opts.padding ?? 0 };
  const dil = opts.dilation ?? 1;
  if (!Number.isInteger(dil) || dil < 1) throw new ShapeError(`conv2d: dilation must be a positive integer, got ${dil}`);
  const up = opts.upsample ? 2 : 1;
  const He = H * up, We = W * up;
  const Ho = Math.floor((He + pad.top + pad.bottom - dil * (KH - 1) - 1) / stride) + 1;
  const Wo = Math.floor((We + pad.left + pad.right - dil * (KW - 1) - 1) / stride) + 1;
  if (!(Ho >= 1 && Wo >= 1) || !Number.isInteger(stride) || stride < 1) {
    throw new ShapeError(`conv2d: kernel ${KH}x${KW}${dil > 1 ? ` dilation ${dil}` : ''} stride ${stride} padding ${JSON.stringify(pad)} gives no output for input ${He}x${We}`);
  }
  const outShape = rank3 ? [Cout, Ho, Wo] : [N, Cout, Ho, Wo];
  const check = (t: Tensor, what: string) => {
    if (t.dtype !== x.dtype || t.shape.length !== outShape.length || t.shape.some((d, i) => d !== outShape[i])) {
      throw new ShapeError(`conv2d: ${what} is ${fmt(t)}, expected ${x.dtype}[${outShape.join(', ')}]`);
    }
  };
  if (opts.bias && (opts.bias.numel !== Cout || opts.bias.dtype !== x.dtype)) throw new ShapeError(`conv2d: bias is ${fmt(opts.bias)}, expected ${x.dtype}[${Cout}]`);
  if (opts.residual) check(opts.residual, 'residual');
  const device = x.device;
  const out = opts.out ?? Tensor.empty(device, outShape, x.dtype, 'conv2d');
  check(out, 'out');
  const bias = opts.bias ?? zeros(device, Cout, x.dtype);
  const forced = opts.variant ?? (typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_CONV2D : undefined);
  const v = pickVariant<Conv2dSpec>('conv2d', device, forced ?? defaultConv2dVariant(Cout, isCpuAdapter(device)));
  dispatchConv2d(v.spec, { x, w, bias, residual: opts.residual, out }, { N, Cin, H, W, Cout, Ho, Wo, stride, top: pad.top, left: pad.left, KH, KW, upsample: !!opts.upsample, kdil: dil });
  return out;
}

/** Few output channels (conv_out: 3, the latent 8/16, the small VAE's 16 / 32) fill a 128-channel tile poorly: on CPU
 *  adapters the register-tiled kernel (4, 8 or 16 channels per invocation) is 5-7x faster than the 64 x 64 tile there
 *  (lavapipe); GPUs keep the 64 x 64 tile (the register kernel is not measured on one yet). */
export function defaultConv2dVariant(Cout: number, cpu: boolean): string | undefined {
  if (cpu && Cout <= 32) return Cout <= 4 ? 'conv2d_regs4' : Cout <= 8 ? 'conv2d_regs8' : 'conv2d_regs16';
  return Cout <= 64 ? 'conv2d_tiled' : undefined;
}

/** Geometry of one conv2d dispatch: x [N, Cin, H, W] (stored size) -> out [N, Cout, Ho, Wo]. */
export interface ConvGeometry {
  N: number; Cin: number; H: number; W: number; Cout: number; Ho: number; Wo: number;
  stride: number; top: number; left: number; KH: number; KW: number; upsample: boolean;
  /** Read w as the channel-transposed, flipped kernel of a [Cin, Cout, KH, KW] forward (conv2d_regs only; dX). */
  flipW?: boolean;
  /** Read x with dilate - 1 zeros between neighbours, i.e. as [(H-1) dilate + 1, (W-1) dilate + 1] (conv2d_regs; strided dX). */
  dilate?: number;
  /** Kernel dilation (taps kdil pixels apart; default 1). */
  kdil?: number;
}

/** Dispatches one conv2d kernel (shapes checked by the caller); shared with conv2d-backward.ts's stride-1 dX. */
export function dispatchConv2d(spec: Conv2dSpec, t: { x: Tensor; w: Tensor; bias: Tensor; residual?: Tensor; out: Tensor }, g: ConvGeometry, op = 'conv2d'): void {
  const device = t.x.device;
  const { N, Cin, H, W, Cout, Ho, Wo, KH, KW } = g;
  const K = Cin * KH * KW;
  const P = Ho * Wo;
  const res = !!t.residual;
  const dilate = g.dilate ?? 1;
  if ((g.flipW || dilate > 1) && spec.kernel !== 'conv2d_regs') throw new Error(`conv2d: flipped weights and dilated inputs need conv2d_regs, not ${spec.kernel}`);
  const defines = { T: t.x.dtype, KH, KW, KD: g.kdil ?? 1, RES: res, UPSAMPLE: g.upsample, OUT_BINDING: res ? 5 : 4, FLIP_W: !!g.flipW, DILATE: dilate > 1 ? dilate : false };
  const params = [Cin, H, W, Cout, Ho, Wo, g.stride, g.top, g.left, K].map(u32);
  const bindings = t.residual ? [t.x, t.w, t.bias, t.residual, t.out] : [t.x, t.w, t.bias, t.out];
  const flops = 2 * N * Cout * P * K;
  if (spec.kernel === 'conv2d_regs') {
    device.dispatch({
      op, kernel: spec.kernel, defines: { ...defines, TM: spec.tileM ?? 16 }, params, bindings, flops,
      workgroups: [ceilDiv(ceilDiv(P, 4) * ceilDiv(Cout, spec.tileM ?? 16), 64), 1, N],
    });
  } else if (spec.kernel !== 'conv2d_direct') {
    device.dispatch({
      op, kernel: spec.kernel, defines, params, bindings, flops,
      workgroups: [ceilDiv(P, spec.tileN ?? 64), ceilDiv(Cout, spec.tileM ?? 64), N],
    });
  } else {
    const n = N * Cout * P;
    device.dispatch({
      op, kernel: 'conv2d_direct', defines, params: [...params, u32(n)], bindings, flops,
      workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
    });
  }
}

/** The cached zero bias of Cout channels (conv2d-backward.ts's dX convolution). */
export function zeroBias(device: Device, n: number, dtype: Tensor['dtype']): Tensor {
  return zeros(device, n, dtype);
}

/** Nearest 2x upsampling of the last two axes: [..., H, W] -> [..., 2H, 2W]. */
export function upsampleNearest2x(x: Tensor, out?: Tensor): Tensor {
  const r = x.shape.length;
  if (r < 2) throw new ShapeError(`upsampleNearest2x: input must be [..., H, W], got ${fmt(x)}`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`upsampleNearest2x: dtype must be f32 or f16, got ${x.dtype}`);
  const [H, W] = [x.shape[r - 2]!, x.shape[r - 1]!];
  const shape = [...x.shape.slice(0, r - 2), 2 * H, 2 * W];
  const o = out ?? Tensor.empty(x.device, shape, x.dtype, 'upsample');
  if (o.dtype !== x.dtype || o.shape.length !== r || o.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`upsampleNearest2x: out is ${fmt(o)}, expected ${x.dtype}[${shape.join(', ')}]`);
  }
  const n = o.numel;
  const device = x.device;
  device.dispatch({
    op: 'upsample_nearest2x', kernel: 'resample', defines: { T: x.dtype }, params: [u32(n), u32(H), u32(W)],
    bindings: [x, o], workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
