// Float64 CPU reference of the elementwise ops (engine/ops/elementwise.ts), written from the math.

import type { ElementwiseOp } from './elementwise.js';

export function siluRef(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function geluTanhRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

export function quickGeluRef(x: number): number {
  return x / (1 + Math.exp(-1.702 * x));
}

/** Exact GELU 0.5 x (1 + erf(x / sqrt 2)); erf by its Maclaurin series / continued fraction in float64. */
export function geluErfRef(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  if (ax < 2.5) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) by its continued fraction (Lentz), for 2.5 <= |x| <= 6.
  let f = ax;
  let c = ax;
  let d = 0;
  for (let k = 1; k < 200; k++) {
    const a = k / 2;
    d = 1 / (ax + a * d);
    c = ax + a / c;
    f *= c * d;
  }
  const erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
}

export function elementwiseRef(op: ElementwiseOp, inputs: ArrayLike<number>[], alpha = 1, beta = 0): Float64Array {
  const [a, b, c] = inputs;
  const n = a!.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = a![i]!;
    const y = b ? b[i % b.length]! : 0;
    const z = c ? c[i % c.length]! : 0;
    switch (op) {
      case 'copy': out[i] = x; break;
      case 'scale': out[i] = alpha * x + beta; break;
      case 'silu': out[i] = siluRef(x); break;
      case 'gelu_tanh': out[i] = geluTanhRef(x); break;
      case 'quick_gelu': out[i] = quickGeluRef(x); break;
      case 'gelu_erf': out[i] = geluErfRef(x); break;
      case 'relu': out[i] = Math.max(x, 0); break;
      case 'exp': out[i] = Math.exp(x); break;
      case 'clamp': out[i] = Math.min(Math.max(x, alpha), beta); break;
      case 'clamp_backward': out[i] = x >= alpha && x <= beta ? y : 0; break;
      case 'add': out[i] = x + y; break;
      case 'sub': out[i] = x - y; break;
      case 'mul': out[i] = x * y; break;
      case 'axpby': out[i] = alpha * x + beta * y; break;
      case 'modulate': out[i] = x * (1 + y) + z; break;
      case 'gated_add': out[i] = x + y * z; break;
      case 'silu_backward': out[i] = y * siluGradRef(x); break;
      case 'gelu_tanh_backward': out[i] = y * geluTanhGradRef(x); break;
      case 'mul_1p': out[i] = x * (1 + y); break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- derivatives (for the backward references)

/** d silu(x) / dx = s (1 + x (1 - s)), s = sigmoid(x). */
export function siluGradRef(x: number): number {
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 + x * (1 - s));
}

/** d gelu_tanh(x) / dx with u = sqrt(2/pi) (x + 0.044715 x^3). */
export function geluTanhGradRef(x: number): number {
  const c = Math.sqrt(2 / Math.PI);
  const t = Math.tanh(c * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
}
