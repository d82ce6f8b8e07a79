// Elementwise ops on GPU tensors: unary activations, binary ops with trailing broadcast, the gated residual
// x + g*y, affine scale and dtype casts. One kernel family: shaders/elementwise.wgsl.

import type { DType } from '../dtype.js';
import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';

/** The expressions each elementwise op evaluates (x = a, y = b broadcast, z = c broadcast). */
export const ELEMENTWISE_EXPR = {
  copy: 'x',
  scale: 'p.alpha * x + p.beta',
  silu: 'silu(x)',
  gelu_tanh: 'gelu_tanh(x)',
  /** x * sigmoid(1.702 x) (CLIP's quick_gelu). */
  quick_gelu: 'quick_gelu(x)',
  /** 0.5 x (1 + erf(x / sqrt 2)) (exact GELU; erf to ~1.5e-7 absolute). */
  gelu_erf: 'gelu_erf(x)',
  relu: 'max(x, x * 0.0)',
  exp: 'exp(x)',
  /** min(max(x, alpha), beta): clamp to [alpha, beta] (the VAE posterior's logvar). */
  clamp: 'clamp_ab(x)',
  add: 'x + y',
  sub: 'x - y',
  mul: 'x * y',
  /** x * (1 + y) + z: adaLN modulation with scale y and shift z. */
  modulate: 'x * (1.0 + y) + z',
  /** x + y * z: gated residual add, y the gate (broadcast), z the branch output. */
  gated_add: 'x + y * z',
  /** alpha * x + beta * y. */
  axpby: 'p.alpha * x + p.beta * y',
  /** Backwards (engine/ops/elementwise-backward.ts), x = the forward input, y = dy: dy * f'(x). */
  silu_backward: 'y * silu_grad(x)',
  gelu_tanh_backward: 'y * gelu_tanh_grad(x)',
  /** x * (1 + y): the gradient through modulate's scale (x = dy, y = scale). */
  mul_1p: 'x * (1.0 + y)',
  /** The gradient through clamp (x = the forward input, y = dy): dy where alpha <= x <= beta, else 0 (torch.clamp's). */
  clamp_backward: 'clamp_grad(x, y)',
} as const;

export type ElementwiseOp = keyof typeof ELEMENTWISE_EXPR;

/** Inputs each op takes (tests build their inputs from this). */
export const ELEMENTWISE_ARITY: Record<ElementwiseOp, 1 | 2 | 3> = {
  copy: 1, scale: 1, silu: 1, gelu_tanh: 1, quick_gelu: 1, gelu_erf: 1, relu: 1, exp: 1, clamp: 1, add: 2, sub: 2, mul: 2, axpby: 2, modulate: 3, gated_add: 3,
  silu_backward: 2, gelu_tanh_backward: 2, mul_1p: 2, clamp_backward: 2,
};

export interface ElementwiseOptions {
  alpha?: number;
  beta?: number;
  /** Output dtype (default: the first input's). */
  dtype?: DType;
  /** Write into this tensor instead of allocating. */
  out?: Tensor;
}

/**
 * Runs one elementwise op. Inputs after the first broadcast along leading axes: their element count must divide
 * the first input's (a [F, L, D] with y [D] or [L, D] works).
 */
export function elementwise(op: ElementwiseOp, inputs: Tensor[], opts: ElementwiseOptions = {}): Tensor {
  const arity = ELEMENTWISE_ARITY[op];
  if (inputs.length !== arity) throw new ShapeError(`${op} takes ${arity} input(s), got ${inputs.length}`);
  const a = inputs[0]!;
  const device = a.device;
  const n = a.numel;
  for (const t of inputs.slice(1)) {
    if (t.numel === 0 || n % t.numel !== 0) {
      throw new ShapeError(`${op}: input [${t.shape.join(', ')}] does not broadcast to [${a.shape.join(', ')}] (its size must divide ${n})`);
    }
  }
  const dtype = opts.dtype ?? a.dtype;
  const out = opts.out ?? Tensor.empty(device, a.shape, dtype, op);
  if (out.numel !== n) throw new ShapeError(`${op}: out has ${out.numel} elements, expected ${n}`);
  const [b, c] = [inputs[1], inputs[2]];
  const nb = b?.numel ?? 4;
  const nc = c?.numel ?? 4;
  const w = n % 4 === 0 && nb % 4 === 0 && nc % 4 === 0 ? 4 : 1;
  const v = (t: DType) => (w === 4 ? `vec4<${t}>` : t);
  device.dispatch({
    op,
    kernel: 'elementwise',
    defines: {
      VTA: v(a.dtype), VTB: v(b?.dtype ?? 'f32'), VTC: v(c?.dtype ?? 'f32'), VTO: v(out.dtype), F: v('f32'),
      ARITY2: arity === 2, ARITY3: arity === 3, EXPR: ELEMENTWISE_EXPR[op],
    },
    params: [u32(n / w), u32(nb / w), u32(nc / w), f32(opts.alpha ?? 1), f32(opts.beta ?? 0)],
    bindings: [...inputs, out],
    workgroups: grid2D(ceilDiv(n / w, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

export const add = (a: Tensor, b: Tensor, o?: ElementwiseOptions) => elementwise('add', [a, b], o);
export const sub = (a: Tensor, b: Tensor, o?: ElementwiseOptions) => elementwise('sub', [a, b], o);
export const mul = (a: Tensor, b: Tensor, o?: ElementwiseOptions) => elementwise('mul', [a, b], o);
export const silu = (a: Tensor, o?: ElementwiseOptions) => elementwise('silu', [a], o);
export const geluTanh = (a: Tensor, o?: ElementwiseOptions) => elementwise('gelu_tanh', [a], o);
export const quickGelu = (a: Tensor, o?: ElementwiseOptions) => elementwise('quick_gelu', [a], o);
export const relu = (a: Tensor, o?: ElementwiseOptions) => elementwise('relu', [a], o);
export const geluErf = (a: Tensor, o?: ElementwiseOptions) => elementwise('gelu_erf', [a], o);
export const scale = (a: Tensor, alpha: number, beta = 0, o?: ElementwiseOptions) => elementwise('scale', [a], { ...o, alpha, beta });
/** x * (1 + scale) + shift, scale and shift broadcast over leading axes. */
export const modulate = (x: Tensor, scaleT: Tensor, shift: Tensor, o?: ElementwiseOptions) => elementwise('modulate', [x, scaleT, shift], o);
/** x + gate * y, gate broadcast over leading axes. */
export const gatedAdd = (x: Tensor, gate: Tensor, y: Tensor, o?: ElementwiseOptions) => elementwise('gated_add', [x, gate, y], o);
export const axpby = (x: Tensor, y: Tensor, alpha: number, beta: number, o?: ElementwiseOptions) => elementwise('axpby', [x, y], { ...o, alpha, beta });
/** Converts to another dtype (f32 <-> f16). */
/** min(max(x, lo), hi). */
export const clamp = (a: Tensor, lo: number, hi: number, o?: ElementwiseOptions) => elementwise('clamp', [a], { ...o, alpha: lo, beta: hi });
export const cast = (a: Tensor, dtype: DType) => elementwise('copy', [a], { dtype });
