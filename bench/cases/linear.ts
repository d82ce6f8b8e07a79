// Benchmark cases for linear layers at Vchitect-2B shapes: the attention projections and the MLP of one frame
// (1,629 joint tokens or 1,296 visual tokens), and the adaLN GEMV on the time embedding.

import { linear } from '../../engine/ops/linear.js';
import { Tensor } from '../../engine/tensor.js';
import type { BenchCase } from '../case.js';

const D = 1536;

function linearCase(name: string, M: number, K: number, N: number, reduced?: string): BenchCase {
  return {
    op: 'linear',
    name,
    shape: `[${M}, ${K}] x [${N}, ${K}]^T + b`,
    reduced,
    flops: 2 * M * K * N,
    bytes: (e) => (M * K + N * K + M * N) * e,
    bound: M === 1 ? 'bytes' : 'flops',
    parallax(device, dtype) {
      const x = Tensor.zeros(device, [M, K], dtype), w = Tensor.zeros(device, [N, K], dtype), b = Tensor.zeros(device, [N], dtype);
      const out = Tensor.empty(device, [M, N], dtype);
      return { run: () => void linear(x, w, b, { out }), dispose: () => [x, w, b, out].forEach((t) => t.dispose()) };
    },
    tfjs(tf) {
      const x = tf.randomNormal([M, K]), w = tf.randomNormal([N, K]), b = tf.randomNormal([N]);
      return { run: () => tf.fused.matMul({ a: x, b: w, transposeB: true, bias: b }), dispose: () => tf.dispose([x, w, b]) };
    },
    torch: { kind: 'linear', args: { M, K, N } },
  };
}

/** On a CPU adapter the token count is cut 8x (the table says so); weights keep their real size. */
export function linearCases(cpu: boolean): BenchCase[] {
  const joint = cpu ? 204 : 1629;
  const visual = cpu ? 162 : 1296;
  const note = cpu ? 'one frame of 40, 1/8 of its tokens' : 'one frame of 40';
  return [
    linearCase('attention projection D->D (joint tokens)', joint, D, D, note),
    linearCase('MLP up D->4D (visual tokens)', visual, D, 4 * D, note),
    linearCase('MLP down 4D->D (visual tokens)', visual, 4 * D, D, note),
    linearCase('adaLN chunk6 GEMV D->6D', 1, D, 6 * D),
  ];
}
