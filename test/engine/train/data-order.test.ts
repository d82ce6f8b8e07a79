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

  it('draws crop origins on the alignment grid, uniformly over every position that fits', () => {
    const o = new DataOrder(3, 10, 2);
    // 40x24 frame, 16-pixel crops on an 8-pixel grid: x in {0, 8, 16, 24}, y in {0, 8}.
    const xs = new Map<number, number>(), ys = new Map<number, number>();
    const draws = 8000;
    for (let s = 1; s <= draws; s++) {
      const { x, y } = o.cropOrigin(s, 1, 40, 24, 16, 8);
      xs.set(x, (xs.get(x) ?? 0) + 1);
      ys.set(y, (ys.get(y) ?? 0) + 1);
    }
    expect([...xs.keys()].sort((a, b) => a - b)).toEqual([0, 8, 16, 24]);
    expect([...ys.keys()].sort((a, b) => a - b)).toEqual([0, 8]);
    for (const c of xs.values()) expect(Math.abs(c - draws / 4)).toBeLessThan(4.5 * Math.sqrt(draws * (1 / 4) * (3 / 4)));
    expect(o.cropOrigin(5, 0, 40, 24, 16, 8)).toEqual(new DataOrder(3, 10, 2).cropOrigin(5, 0, 40, 24, 16, 8));
    expect(o.cropOrigin(1, 0, 16, 16, 16, 8)).toEqual({ x: 0, y: 0 });
    expect(() => o.cropOrigin(1, 0, 16, 8, 16, 8)).toThrow(/16x16 crop does not fit a 16x8 frame/);
  });

  it('names bad arguments', () => {
    expect(() => new DataOrder(1, 0, 1)).toThrow(/no training clips/);
    expect(() => new DataOrder(1, 5, 0)).toThrow(/--batch/);
    expect(() => new DataOrder(-1, 5, 1).clip(1, 0)).toThrow(/--seed/);
    expect(() => new DataOrder(1, 5, 1).clip(0, 0)).toThrow(/step must be a positive integer/);
  });
});
