// DataOrder (engine/train/data-order.ts): each epoch visits every clip exactly once whatever the batch size, the
// order is a function of (seed, epoch) only, a step's choices of (seed, step, item) only (so a resumed run repeats
// them), caption dropout hits its probability over many draws, and frame windows cover every start uniformly.
import { describe, expect, it } from 'vitest';
import { DataOrder, epochPermutation } from '../../../engine/train/data-order.js';

describe('data order', () => {
  it('visits every clip once per epoch for batch sizes that do and do not divide the clip count', () => {
    for (const [n, k] of [[6, 2], [7, 3], [5, 1], [1, 4]] as const) {
      const o = new DataOrder(11, n, k);
      const seen = new Map<number, number[]>();
      for (let s = 1; s <= 5 * n; s++) {
        for (let i = 0; i < k; i++) {
          const { clip, epoch } = o.clip(s, i);
          expect(clip).toBeGreaterThanOrEqual(0);
          expect(clip).toBeLessThan(n);
          seen.set(epoch, [...(seen.get(epoch) ?? []), clip]);
        }
      }
      const full = Math.floor((5 * n * k) / n);
      for (let e = 0; e < full; e++) expect([...seen.get(e)!].sort((a, b) => a - b), `n ${n} k ${k} epoch ${e}`).toEqual([...Array(n).keys()]);
    }
  });

  it('depends on (seed, epoch) only: reruns agree, epochs and seeds differ, and a fresh instance resumes mid-run identically', () => {
    expect([...epochPermutation(3, 0, 50)]).toEqual([...epochPermutation(3, 0, 50)]);
    expect([...epochPermutation(3, 0, 50)]).not.toEqual([...epochPermutation(3, 1, 50)]);
    expect([...epochPermutation(3, 0, 50)]).not.toEqual([...epochPermutation(4, 0, 50)]);
    const a = new DataOrder(9, 10, 3);
    const straight = Array.from({ length: 40 }, (_, s) => [0, 1, 2].map((i) => [a.clip(s + 1, i).clip, a.frameStart(s + 1, i, 8, 3), a.dropCaption(s + 1, i, 0.5)]));
    const b = new DataOrder(9, 10, 3); // a resumed process: starts at step 21 with no history
    const resumed = Array.from({ length: 20 }, (_, s) => [0, 1, 2].map((i) => [b.clip(s + 21, i).clip, b.frameStart(s + 21, i, 8, 3), b.dropCaption(s + 21, i, 0.5)]));
    expect(resumed).toEqual(straight.slice(20));
  });

  it('drops captions with probability p over many draws (p = 0 never, p = 1 always)', () => {
    const o = new DataOrder(5, 100, 8);
    const draws = 20000;
    for (const p of [0.1, 0.5]) {
      let hits = 0;
      for (let d = 0; d < draws; d++) if (o.dropCaption(1 + Math.floor(d / 8), d % 8, p)) hits++;
      const sd = Math.sqrt((p * (1 - p)) / draws);
      expect(Math.abs(hits / draws - p), `p ${p}: rate ${hits / draws}`).toBeLessThan(4.5 * sd);
    }
    for (let d = 0; d < 200; d++) {
      expect(o.dropCaption(d + 1, 0, 0)).toBe(false);
      expect(o.dropCaption(d + 1, 0, 1)).toBe(true);
    }
  });

  it('draws every frame-window start with equal frequency and stays inside the clip', () => {
    const o = new DataOrder(2, 10, 1);
    const counts = new Array(6).fill(0);
    const draws = 12000;
    for (let s = 1; s <= draws; s++) {
      const st = o.frameStart(s, 0, 8, 3);
      expect(st >= 0 && st <= 5).toBe(true);
      counts[st]++;
    }
    const p = 1 / 6;
    const sd = Math.sqrt(p * (1 - p) * draws);
    for (const c of counts) expect(Math.abs(c - draws * p)).toBeLessThan(4.5 * sd);
    expect(o.frameStart(1, 0, 5, 5)).toBe(0);
    expect(() => o.frameStart(1, 0, 4, 5)).toThrow(/5-frame window does not fit a 4-frame clip/);
  });

  it('names bad arguments', () => {
    expect(() => new DataOrder(1, 0, 1)).toThrow(/no training clips/);
    expect(() => new DataOrder(1, 5, 0)).toThrow(/--batch/);
    expect(() => new DataOrder(-1, 5, 1).clip(1, 0)).toThrow(/--seed/);
    expect(() => new DataOrder(1, 5, 1).clip(0, 0)).toThrow(/step must be a positive integer/);
  });
});
