// Host-side dtype conversions against float64 math: f16 rounding (ties to even, subnormals, overflow), bf16.

import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits, fromBf16Array, roundToF16 } from '../../engine/dtype.js';
import { normal } from '../helpers/random.js';

/** Every finite non-negative f16 value, ascending, indexed by its bit pattern. */
const F16_VALUES = Array.from({ length: 0x7c00 }, (_, b) => f16BitsToF32(b));

/** The f16 value nearest to x (|x| < 65520) by search over all finite f16 values; ties go to the even pattern. */
function nearestF16(x: number): number {
  const a = Math.abs(x);
  let lo = 0;
  let hi = F16_VALUES.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (F16_VALUES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dl = a - F16_VALUES[lo]!;
  const dh = F16_VALUES[hi]! - a;
  const bits = dl < dh || (dl === dh && lo % 2 === 0) ? lo : hi;
  return Math.sign(x) * F16_VALUES[bits]! || (Object.is(x, -0) ? -0 : 0);
}

describe('f16', () => {
  it('decodes the bit layout', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc000)).toBe(-2);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
  });

  it('rounds to the nearest f16 (ties to even) for random and edge values', () => {
    const xs = [...normal(3000, 3, 50), ...normal(300, 4, 1e-5), 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -25, 3 * 2 ** -26, 2 ** -24 * 1.5, 65519, 65504 + 15.99, -0.000123];
    for (const x of xs) {
      const f = Math.fround(x);
      expect(roundToF16(f) === nearestF16(f) || (roundToF16(f) === 0 && nearestF16(f) === 0), `x=${f}: ${roundToF16(f)} vs ${nearestF16(f)}`).toBe(true);
    }
  });

  it('overflows to infinity and keeps NaN', () => {
    expect(f16BitsToF32(f32ToF16Bits(65520))).toBe(Infinity);
    expect(f16BitsToF32(f32ToF16Bits(-1e6))).toBe(-Infinity);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
  });
});

describe('bf16', () => {
  it('is the top half of an f32', () => {
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xc040)).toBe(-3);
    expect(Array.from(fromBf16Array(Uint16Array.from([0x4049, 0x0000])))).toEqual([Math.fround(3.140625), 0]);
  });
});
