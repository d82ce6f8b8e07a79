// Float64 CPU reference of the elementwise ops (engine/ops/elementwise.ts), written from the math.

import type { ElementwiseOp } from './elementwise.js';

export function siluRef(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function geluTanhRef(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
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
      case 'exp': out[i] = Math.exp(x); break;
      case 'add': out[i] = x + y; break;
      case 'sub': out[i] = x - y; break;
      case 'mul': out[i] = x * y; break;
      case 'axpby': out[i] = alpha * x + beta * y; break;
      case 'modulate': out[i] = x * (1 + y) + z; break;
      case 'gated_add': out[i] = x + y * z; break;
    }
  }
  return out;
}
