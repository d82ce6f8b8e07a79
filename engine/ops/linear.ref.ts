// Float64 CPU reference of linear (engine/ops/linear.ts): x @ w^T + b, activation, gated residual.

import { geluTanhRef, siluRef } from './elementwise.ref.js';
import type { Epilogue } from './matmul.js';

export interface LinearRefArgs {
  x: ArrayLike<number>;
  /** [N, K] as stored in checkpoints. */
  w: ArrayLike<number>;
  bias?: ArrayLike<number>;
  M: number;
  K: number;
  N: number;
  epilogue?: Epilogue;
  residual?: ArrayLike<number>;
  /** [G, N]; row m uses gate row floor(m / gateRows). */
  gate?: ArrayLike<number>;
  gateRows?: number;
}

export function linearRef(r: LinearRefArgs): Float64Array {
  const { x, w, bias, M, K, N } = r;
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = bias ? bias[n]! : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
      if (r.epilogue === 'gelu_tanh') s = geluTanhRef(s);
      else if (r.epilogue === 'silu') s = siluRef(s);
      if (r.residual) {
        const g = r.gate ? r.gate[Math.floor(m / (r.gateRows ?? M)) * N + n]! : 1;
        s = r.residual[m * N + n]! + g * s;
      }
      out[m * N + n] = s;
    }
  }
  return out;
}
