// Float64 CPU reference of linear (engine/ops/linear.ts): x @ w^T + b, activation, gated residual; and its backward.

import { geluTanhGradRef, geluTanhRef, siluGradRef, siluRef } from './elementwise.ref.js';
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

export interface LinearGradsRef {
  /** [M, K] */
  dx: Float64Array;
  /** [N, K] */
  dw: Float64Array;
  /** [N] */
  db: Float64Array;
  /** [M, N] (the residual passes dY through) */
  dresidual?: Float64Array;
  /** [G, N] */
  dgate?: Float64Array;
}

/**
 * Backward of linearRef for upstream gradient dy [M, N] (training.md section 2): with z = x w^T + b and
 * y = residual + gate * act(z): dz = dy * gate * act'(z); dx = dz w; dw = dz^T x; db = column sums of dz;
 * dgate = sums over each gate group's rows of dy * act(z).
 */
export function linearBackwardRef(r: LinearRefArgs, dy: ArrayLike<number>): LinearGradsRef {
  const { x, w, M, K, N } = r;
  const z = linearRef({ x, w, bias: r.bias, M, K, N });
  const act = r.epilogue === 'gelu_tanh' ? geluTanhRef : r.epilogue === 'silu' ? siluRef : (v: number) => v;
  const actGrad = r.epilogue === 'gelu_tanh' ? geluTanhGradRef : r.epilogue === 'silu' ? siluGradRef : () => 1;
  const groupRows = r.gateRows ?? M;
  const dz = new Float64Array(M * N);
  const dgate = r.gate ? new Float64Array(r.gate.length) : undefined;
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const i = m * N + n;
      const gi = Math.floor(m / groupRows) * N + n;
      const g = r.residual && r.gate ? r.gate[gi]! : 1;
      dz[i] = dy[i]! * g * actGrad(z[i]!);
      if (dgate) dgate[gi] += dy[i]! * act(z[i]!);
    }
  const dx = new Float64Array(M * K);
  const dw = new Float64Array(N * K);
  const db = new Float64Array(N);
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const g = dz[m * N + n]!;
      db[n] += g;
      for (let k = 0; k < K; k++) {
        dx[m * K + k] += g * w[n * K + k]!;
        dw[n * K + k] += g * x[m * K + k]!;
      }
    }
  return { dx, dw, db, dresidual: r.residual ? Float64Array.from(dy) : undefined, dgate: r.residual ? dgate : undefined };
}
