// Benchmark cases for elementwise ops at Vchitect-2B shapes (one frame of tokens).

import { elementwise } from '../../engine/ops/elementwise.js';
import { Tensor } from '../../engine/tensor.js';
import type { BenchCase } from '../case.js';

const R = 1629, D = 1536;

export function elementwiseCases(): BenchCase[] {
  return [
    {
      op: 'elementwise',
      name: 'adaLN modulate x*(1+scale)+shift',
      shape: `[${R}, ${D}] with [${D}] scale/shift`,
      reduced: 'one frame of 40',
      flops: 2 * R * D,
      bytes: (e) => 2 * R * D * e,
      bound: 'bytes',
      parallax(device, dtype) {
        const x = Tensor.zeros(device, [R, D], dtype), s = Tensor.zeros(device, [D], dtype), h = Tensor.zeros(device, [D], dtype);
        const out = Tensor.empty(device, [R, D], dtype);
        return { run: () => void elementwise('modulate', [x, s, h], { out }), dispose: () => [x, s, h, out].forEach((t) => t.dispose()) };
      },
      tfjs(tf) {
        const x = tf.randomNormal([R, D]), s = tf.randomNormal([D]), h = tf.randomNormal([D]);
        return { run: () => tf.tidy(() => tf.add(tf.mul(x, tf.add(s, 1)), h)), dispose: () => tf.dispose([x, s, h]) };
      },
      torch: { kind: 'modulate', args: { R, D } },
    },
  ];
}
