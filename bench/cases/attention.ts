// Benchmark cases for Vchitect's three attention branches at 2B shapes (24 heads x 64): spatial over the 1,629
// joint tokens of a frame, temporal over 40 frames at every token position, cross from every query to frame 0's
// 333 text keys.

import { attention, sharedView, temporalView } from '../../engine/ops/attention.js';
import { Tensor } from '../../engine/tensor.js';
import type { BenchCase } from '../case.js';

/** On a CPU adapter: 4 of the 24 heads, and 1/8 of the token positions for the temporal branch. */
export function attentionCases(cpu: boolean): BenchCase[] {
  const H = cpu ? 4 : 24, hd = 64, D = H * hd;
  const S = 1629, T = 333, F = 40;
  const P = cpu ? 204 : S;
  const heads = cpu ? ', 4 of 24 heads' : '';
  return [
    {
      op: 'attention',
      name: 'spatial (per frame, joint tokens)',
      shape: `1 frame x ${S} tokens, ${H}x${hd}`,
      reduced: `one frame of 40${heads}`,
      flops: 4 * S * S * D,
      bytes: (e) => 4 * S * D * e,
      bound: 'flops',
      parallax(device, dtype) {
        const [q, k, v] = [0, 1, 2].map(() => Tensor.zeros(device, [1, S, D], dtype));
        const out = Tensor.empty(device, [1, S, D], dtype);
        return { run: () => void attention(q!, k!, v!, { heads: H, out }), dispose: () => [q!, k!, v!, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const [q, k, v] = [0, 1, 2].map(() => tf.randomNormal([H, S, hd]));
        return {
          run: () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(hd))), v!)),
          dispose: () => tf.dispose([q!, k!, v!]),
        };
      },
      torch: { kind: 'attention', args: { B: 1, H, Sq: S, Sk: S, hd } },
    },
    {
      op: 'attention',
      name: 'temporal (per token, over frames)',
      shape: `${P} positions x ${F} frames, ${H}x${hd}`,
      reduced: cpu ? `${P} of ${S} token positions${heads}` : undefined,
      flops: 4 * P * F * F * D,
      bytes: (e) => 4 * F * P * D * e,
      bound: 'flops',
      parallax(device, dtype) {
        const [q, k, v] = [0, 1, 2].map(() => Tensor.zeros(device, [F, P, D], dtype));
        const out = Tensor.empty(device, [F, P, D], dtype);
        return {
          run: () => void attention(temporalView(q!), temporalView(k!), temporalView(v!), { heads: H, headDim: hd, out: temporalView(out) }),
          dispose: () => [q!, k!, v!, out].forEach((t) => t.dispose()),
        };
      },
      tfjs(tf) {
        // TF.js needs the frames axis innermost-but-one: [S*H, F, hd] (its layout cost is not counted).
        const [q, k, v] = [0, 1, 2].map(() => tf.randomNormal([P * H, F, hd]));
        return {
          run: () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(hd))), v!)),
          dispose: () => tf.dispose([q!, k!, v!]),
        };
      },
      torch: { kind: 'attention', args: { B: P, H, Sq: F, Sk: F, hd } },
    },
    {
      op: 'attention',
      name: 'cross (queries vs frame-0 text)',
      shape: `1 frame x ${S} queries vs ${T} keys, ${H}x${hd}`,
      reduced: `one frame of 40${heads}`,
      flops: 4 * S * T * D,
      bytes: (e) => (2 * S * D + 2 * T * D) * e,
      bound: 'flops',
      parallax(device, dtype) {
        const q = Tensor.zeros(device, [1, S, D], dtype);
        const [k, v] = [0, 1].map(() => Tensor.zeros(device, [1, T, D], dtype));
        const out = Tensor.empty(device, [1, S, D], dtype);
        return {
          run: () => void attention(q, sharedView(k!, 1), sharedView(v!, 1), { heads: H, headDim: hd, out }),
          dispose: () => [q, k!, v!, out].forEach((t) => t.dispose()),
        };
      },
      tfjs(tf) {
        const q = tf.randomNormal([H, S, hd]);
        const [k, v] = [0, 1].map(() => tf.randomNormal([H, T, hd]));
        return {
          run: () => tf.tidy(() => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k!, false, true), 1 / Math.sqrt(hd))), v!)),
          dispose: () => tf.dispose([q, k!, v!]),
        };
      },
      torch: { kind: 'attention', args: { B: 1, H, Sq: S, Sk: T, hd } },
    },
  ];
}
