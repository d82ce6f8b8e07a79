// Comparison of GPU results against float64 references with dtype-appropriate tolerances. NaN (from poisoned,
// unwritten outputs) always fails.

import { expect } from 'vitest';
import type { DType } from '../../engine/dtype.js';

export interface Tolerance {
  rtol: number;
  atol: number;
}

/** Default tolerances: f32 math vs f64, and f16 storage with f32 accumulation. */
export function tol(dtype: DType, scale = 1): Tolerance {
  return dtype === 'f16' ? { rtol: 1e-2 * scale, atol: 2e-3 * scale } : { rtol: 2e-5 * scale, atol: 2e-6 * scale };
}

/**
 * Checks |a - e| <= atol + rtol * max|e| element by element (the relative part is taken against the reference's
 * largest magnitude, so cancellation near zero does not blow up); reports the worst element.
 */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, t: Tolerance, label = ''): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let maxRef = 0;
  for (let i = 0; i < expected.length; i++) maxRef = Math.max(maxRef, Math.abs(expected[i]!));
  const bound = t.atol + t.rtol * maxRef;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const err = Math.abs(a - expected[i]!);
    if (!(err <= bound)) {
      if (Number.isNaN(a) || worst < 0 || err > worstErr) {
        worst = i;
        worstErr = Number.isNaN(a) ? Infinity : err;
        if (Number.isNaN(a)) break;
      }
    }
  }
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst} = ${actual[worst]} but reference ${expected[worst]} (error ${worstErr.toExponential(3)} > bound ${bound.toExponential(3)}; max |ref| ${maxRef.toExponential(3)})`);
  }
}
