// Squeeze-and-excitation on channels-last activations (shaders/squeeze_excite.wgsl): the global average pool
// x [N, P, C] -> [N, C] (also EfficientNet's head pool), the sigmoid gate x * sigmoid(s[n]) and timm's SqueezeExcite
// composed of them with two 1x1 convs as `linear` (reduce + SiLU, expand). Float64 reference: squeeze-excite.ref.ts.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { linear } from './linear.js';

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** [N, H, W, C] or [N, P, C] -> [N, P, C] sizes (a rank-3 tensor is [N, P, C]). */
function npc(x: Tensor, op: string): [number, number, number] {
  if (x.shape.length !== 3 && x.shape.length !== 4) throw new ShapeError(`${op}: input must be [N, H, W, C] or [N, P, C] (channels last), got ${fmt(x)}`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`${op}: dtype must be f32 or f16, got ${x.dtype}`);
  const N = x.shape[0]!;
  const C = x.shape[x.shape.length - 1]!;
  return [N, x.numel / (N * C), C];
}

/** Global average pool over the pixels: x [N, H, W, C] (or [N, P, C]) -> [N, C]. */
export function channelMean(x: Tensor, out?: Tensor): Tensor {
  const [N, P, C] = npc(x, 'channelMean');
  const o = out ?? Tensor.empty(x.device, [N, C], x.dtype, 'channel_mean');
  if (o.dtype !== x.dtype || o.numel !== N * C) throw new ShapeError(`channelMean: out is ${fmt(o)}, expected ${x.dtype}[${N}, ${C}]`);
  x.device.dispatch({
    op: 'channel_mean', kernel: 'squeeze_excite', defines: { T: x.dtype, POOL: true },
    params: [N, P, C, N * C].map(u32), bindings: [x, o], workgroups: [ceilDiv(C, 64), N, 1],
  });
  return o;
}

/** The excitation: x [N, H, W, C] (or [N, P, C]) times sigmoid(s [N, C]) per image and channel. */
export function sigmoidGate(x: Tensor, s: Tensor, out?: Tensor): Tensor {
  const [N, P, C] = npc(x, 'sigmoidGate');
  if (s.numel !== N * C || s.dtype !== x.dtype) throw new ShapeError(`sigmoidGate: gate is ${fmt(s)}, expected ${x.dtype}[${N}, ${C}] for input ${fmt(x)}`);
  const o = out ?? Tensor.empty(x.device, x.shape, x.dtype, 'sigmoid_gate');
  if (o.dtype !== x.dtype || o.numel !== x.numel) throw new ShapeError(`sigmoidGate: out is ${fmt(o)}, expected ${x.dtype}[${x.shape.join(', ')}]`);
  const n = x.numel;
  x.device.dispatch({
    op: 'sigmoid_gate', kernel: 'squeeze_excite', defines: { T: x.dtype, GATE: true },
    params: [N, P, C, n].map(u32), bindings: [x, s, o],
    workgroups: grid2D(ceilDiv(n, 256), x.device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}

/** The weights of one squeeze-excitation (timm SqueezeExcite: conv_reduce [R, C, 1, 1] + bias, conv_expand [C, R, 1, 1] + bias), as [R, C] and [C, R]. */
export interface SqueezeExciteWeights {
  reduceW: Tensor;
  reduceB: Tensor;
  expandW: Tensor;
  expandB: Tensor;
}

/** timm's SqueezeExcite with SiLU: x * sigmoid(expand(silu(reduce(mean_pixels(x))))), x channels last. */
export function squeezeExcite(x: Tensor, w: SqueezeExciteWeights): Tensor {
  const pooled = channelMean(x);
  const r = linear(pooled, w.reduceW, w.reduceB, { epilogue: 'silu' });
  pooled.dispose();
  const e = linear(r, w.expandW, w.expandB);
  r.dispose();
  const out = sigmoidGate(x, e);
  e.dispose();
  return out;
}
