// Central finite differences for checking the float64 backward references: for L(x) = sum(dy * f(x)), compares an
// analytic gradient with (L(x + h e_i) - L(x - h e_i)) / 2h at every element (or a seeded sample of them).
import { expect } from 'vitest';
import { rng } from './random.js';

/** The relative error of `analytic` against central differences of L over `x`, max over the checked elements. */
export function finiteDiffError(
  x: Float64Array,
  loss: (x: Float64Array) => number,
  analytic: ArrayLike<number>,
  opts: { h?: number; sample?: number; seed?: number } = {},
): number {
  const h = opts.h ?? 1e-5;
  const n = x.length;
  let idx = [...Array(n).keys()];
  if (opts.sample && opts.sample < n) {
    const r = rng(opts.seed ?? 1);
    idx = idx.map((i) => ({ i, k: r() })).sort((a, b) => a.k - b.k).slice(0, opts.sample).map((p) => p.i);
  }
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(analytic[i]!));
  let err = 0;
  for (const i of idx) {
    const keep = x[i]!;
    x[i] = keep + h;
    const lp = loss(x);
    x[i] = keep - h;
    const lm = loss(x);
    x[i] = keep;
    err = Math.max(err, Math.abs((lp - lm) / (2 * h) - analytic[i]!));
  }
  return err / Math.max(scale, 1e-12);
}

/** L(x) = sum(dy * f(x)). */
export function dotLoss(f: (x: Float64Array) => ArrayLike<number>, dy: ArrayLike<number>): (x: Float64Array) => number {
  return (x) => {
    const y = f(x);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += dy[i]! * y[i]!;
    return s;
  };
}

/** Asserts that the analytic gradient matches finite differences to `tol` relative to its largest element. */
export function expectGradient(name: string, x: Float64Array, f: (x: Float64Array) => ArrayLike<number>, dy: ArrayLike<number>, analytic: ArrayLike<number>, tol = 1e-6, sample?: number): void {
  expect(analytic.length, `${name}: gradient length`).toBe(x.length);
  const e = finiteDiffError(x, dotLoss(f, dy), analytic, { sample });
  expect(e, `${name}: max |analytic - finite difference| / max |analytic|`).toBeLessThan(tol);
}
