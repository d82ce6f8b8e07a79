// Benchmark cases for the normalisations at 2B shapes: adaLN LayerNorm of one frame's tokens, T5's RMSNorm, and
// the VAE's GroupNorm(32)+SiLU at the latent resolution, plus the VAE's 3x3 convolution (reduced).

import { conv2d } from '../../engine/ops/conv2d.js';
import { groupNorm } from '../../engine/ops/groupnorm.js';
import { layerNorm, rmsNorm } from '../../engine/ops/norm.js';
import { Tensor } from '../../engine/tensor.js';
import type { BenchCase } from '../case.js';

const D = 1536, R = 1629;
const C = 512, GH = 54, GW = 96, G = 32;
const CC = 128;

export function normCases(): BenchCase[] {
  return [
    {
      op: 'layernorm',
      name: 'LayerNorm + adaLN modulation',
      shape: `[${R}, ${D}]`,
      reduced: 'one frame of 40',
      flops: 8 * R * D,
      bytes: (e) => 2 * R * D * e,
      bound: 'bytes',
      parallax(device, dtype) {
        const x = Tensor.zeros(device, [R, D], dtype), s = Tensor.zeros(device, [D], dtype), h = Tensor.zeros(device, [D], dtype);
        const out = Tensor.empty(device, [R, D], dtype);
        return { run: () => void layerNorm(x, { eps: 1e-6, modulation: { scale: s, shift: h }, out }), dispose: () => [x, s, h, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const x = tf.randomNormal([R, D]), s = tf.randomNormal([D]), h = tf.randomNormal([D]);
        return {
          run: () => tf.tidy(() => {
            const { mean, variance } = tf.moments(x, -1, true);
            return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), tf.add(s, 1)), h);
          }),
          dispose: () => tf.dispose([x, s, h]),
        };
      },
      torch: { kind: 'layernorm_mod', args: { R, D } },
    },
    {
      op: 'rmsnorm',
      name: 'RMSNorm (T5-XXL)',
      shape: '[256, 4096]',
      flops: 4 * 256 * 4096,
      bytes: (e) => 2 * 256 * 4096 * e,
      bound: 'bytes',
      parallax(device, dtype) {
        const x = Tensor.zeros(device, [256, 4096], dtype), w = Tensor.zeros(device, [4096], dtype);
        const out = Tensor.empty(device, [256, 4096], dtype);
        return { run: () => void rmsNorm(x, w, 1e-6, { out }), dispose: () => [x, w, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const x = tf.randomNormal([256, 4096]), w = tf.randomNormal([4096]);
        return { run: () => tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), 1e-6))), w)), dispose: () => tf.dispose([x, w]) };
      },
      torch: { kind: 'rmsnorm', args: { R: 256, D: 4096 } },
    },
    {
      op: 'groupnorm',
      name: 'GroupNorm(32) + SiLU (VAE)',
      shape: `[${C}, ${GH}, ${GW}]`,
      flops: 10 * C * GH * GW,
      bytes: (e) => 2 * C * GH * GW * e,
      bound: 'bytes',
      parallax(device, dtype) {
        const x = Tensor.zeros(device, [C, GH, GW], dtype), w = Tensor.zeros(device, [C], dtype), b = Tensor.zeros(device, [C], dtype);
        const out = Tensor.empty(device, [C, GH, GW], dtype);
        return { run: () => void groupNorm(x, G, 1e-6, w, b, { silu: true, out }), dispose: () => [x, w, b, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const x = tf.randomNormal([C, GH, GW]), w = tf.randomNormal([C, 1, 1]), b = tf.randomNormal([C, 1, 1]);
        return {
          run: () => tf.tidy(() => {
            const g = tf.reshape(x, [G, -1]);
            const { mean, variance } = tf.moments(g, -1, true);
            const n = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, 1e-6))), [C, GH, GW]);
            const y = tf.add(tf.mul(n, w), b);
            return tf.mul(y, tf.sigmoid(y));
          }),
          dispose: () => tf.dispose([x, w, b]),
        };
      },
      torch: { kind: 'groupnorm_silu', args: { C, H: GH, W: GW, G } },
    },
    {
      op: 'conv2d',
      name: 'conv 3x3 pad 1 (VAE)',
      shape: `[${CC}, ${GH}, ${GW}] -> ${CC}`,
      reduced: '54x96 instead of the last up block\'s 432x768',
      flops: 2 * CC * CC * 9 * GH * GW,
      bytes: (e) => (2 * CC * GH * GW + CC * CC * 9) * e,
      bound: 'flops',
      parallax(device, dtype) {
        const x = Tensor.zeros(device, [CC, GH, GW], dtype), w = Tensor.zeros(device, [CC, CC, 3, 3], dtype), b = Tensor.zeros(device, [CC], dtype);
        const out = Tensor.empty(device, [CC, GH, GW], dtype);
        return { run: () => void conv2d(x, w, { bias: b, padding: 1, out }), dispose: () => [x, w, b, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const x = tf.randomNormal<import('@tensorflow/tfjs-core').Rank.R4>([1, GH, GW, CC]), w = tf.randomNormal<import('@tensorflow/tfjs-core').Rank.R4>([3, 3, CC, CC]), b = tf.randomNormal([CC]);
        return { run: () => tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b }), dispose: () => tf.dispose([x, w, b]) };
      },
      torch: { kind: 'conv3x3', args: { Cin: CC, Cout: CC, H: GH, W: GW } },
    },
  ];
}
