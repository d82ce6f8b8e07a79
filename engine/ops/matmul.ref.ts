// Float64 CPU reference of matmul (engine/ops/matmul.ts), written from the math: batched, broadcast, transposeB.

/** a [batchA, M, K] @ b [batchB, K, N] (or [batchB, N, K] when transposeB); batchA or batchB may be 1. */
export function matmulRef(
  a: ArrayLike<number>, b: ArrayLike<number>, dims: { batchA: number; batchB: number; M: number; K: number; N: number; transposeB?: boolean },
): Float64Array {
  const { batchA, batchB, M, K, N, transposeB } = dims;
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ao = (batchA === 1 ? 0 : z) * M * K;
    const bo = (batchB === 1 ? 0 : z) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + m * K + k]! * b[bo + (transposeB ? n * K + k : k * N + n)]!;
        out[z * M * N + m * N + n] = s;
      }
    }
  }
  return out;
}
