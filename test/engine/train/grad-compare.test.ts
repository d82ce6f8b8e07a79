// compareGradients (engine/train/grad-compare.ts): the relative-L2 measures on hand-made gradients whose
// errors are known by construction.
import { describe, expect, it } from 'vitest';
import { compareGradients } from '../../../engine/train/grad-compare.js';

describe('compareGradients', () => {
  const ref = new Map([
    ['a', Float64Array.of(3, 4)], // norm 5
    ['b', Float64Array.of(0, 0, 0)], // zero by symmetry
  ]);
  it('computes the overall and per-tensor relative L2 errors', () => {
    const got = new Map([['a', Float64Array.of(3, 4 + 5e-5)], ['b', Float64Array.of(0, 0, 0)]]);
    const r = compareGradients(got, ref);
    expect(r.overall).toBeCloseTo(1e-5, 12);
    expect(r.perTensor[0]).toMatchObject({ name: 'a' });
    expect(r.perTensor[0]!.rel).toBeCloseTo(1e-5, 12);
    expect(r.ok).toBe(true);
  });
  it('judges a near-zero tensor against 1% of the mean tensor norm', () => {
    // mean norm (5 + 0) / 2 = 2.5 -> floor 0.025; an error of 2e-5 there is 8e-4 (inside 1e-3), 3e-5 is 1.2e-3.
    const inside = compareGradients(new Map([['a', Float64Array.of(3, 4)], ['b', Float64Array.of(2e-5, 0, 0)]]), ref);
    expect(inside.perTensor[0]!.name).toBe('b');
    expect(inside.perTensor[0]!.rel).toBeCloseTo(8e-4, 12);
    expect(inside.ok).toBe(true);
    const outside = compareGradients(new Map([['a', Float64Array.of(3, 4)], ['b', Float64Array.of(3e-5, 0, 0)]]), ref);
    expect(outside.ok).toBe(false);
  });
  it('fails on the overall limit, and on missing tensors', () => {
    expect(compareGradients(new Map([['a', Float64Array.of(3, 4.001)], ['b', new Float64Array(3)]]), ref).ok).toBe(false);
    const r = compareGradients(new Map([['a', Float64Array.of(3, 4)], ['c', Float64Array.of(1)]]), ref);
    expect(r.missing).toEqual(['b']);
    expect(r.extra).toEqual(['c']);
    expect(r.ok).toBe(false);
    expect(() => compareGradients(new Map([['a', Float64Array.of(3)], ['b', new Float64Array(3)]]), ref)).toThrow(/gradient a: 1 values but the reference has 2/);
  });
});
