// Float64 references of the squeeze-excitation ops (engine/ops/squeeze-excite.ts), channels last.

/** x [N, P, C] -> mean over P: [N, C]. */
export function channelMeanRef(x: ArrayLike<number>, N: number, P: number, C: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) out[n * C + c] += x[(n * P + p) * C + c]!;
  return out.map((v) => v / P);
}

/** x [N, P, C] * sigmoid(s [N, C]). */
export function sigmoidGateRef(x: ArrayLike<number>, s: ArrayLike<number>, N: number, P: number, C: number): Float64Array {
  const out = new Float64Array(N * P * C);
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++)
      for (let c = 0; c < C; c++) out[(n * P + p) * C + c] = x[(n * P + p) * C + c]! / (1 + Math.exp(-s[n * C + c]!));
  return out;
}

/** Full SE: reduce [R, C] + rb, SiLU, expand [C, R] + eb, sigmoid gate. */
export function squeezeExciteRef(x: ArrayLike<number>, N: number, P: number, C: number, rw: ArrayLike<number>, rb: ArrayLike<number>, ew: ArrayLike<number>, eb: ArrayLike<number>): Float64Array {
  const R = rb.length;
  const m = channelMeanRef(x, N, P, C);
  const s = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const h = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      let a = rb[r]!;
      for (let c = 0; c < C; c++) a += rw[r * C + c]! * m[n * C + c]!;
      h[r] = a / (1 + Math.exp(-a));
    }
    for (let c = 0; c < C; c++) {
      let a = eb[c]!;
      for (let r = 0; r < R; r++) a += ew[c * R + r]! * h[r]!;
      s[n * C + c] = a;
    }
  }
  return sigmoidGateRef(x, s, N, P, C);
}
