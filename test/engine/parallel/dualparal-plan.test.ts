// DualParal planning layer: layer split, block-queue schedule (spec formula, hand-worked cases), attention windows
// (hand-worked B = 2, C = 1, n = 3) and the coordinated noise pool (determinism, exclusion rule, C = 0).

import { describe, expect, it } from 'vitest';
import {
  blockFrames,
  blockLayout,
  blockNoise,
  blockWindow,
  iterationCount,
  noisePool,
  noisePoolIndices,
  planQueue,
  referenceIterationCount,
  splitLayers,
  windowOf,
  checkWindowFits,
} from '../../../engine/parallel/dualparal-plan.js';
import { philoxNormalNoise } from '../../../engine/pipeline/noise.js';

describe('splitLayers', () => {
  it('10 layers over 3 ranks: 4, 3, 3; rank 0 embeds, the last runs the final layer and CFG', () => {
    expect(splitLayers(10, 3)).toEqual([
      { rank: 0, start: 0, end: 4, embeds: true, finalLayerAndCfg: false },
      { rank: 1, start: 4, end: 7, embeds: false, finalLayerAndCfg: false },
      { rank: 2, start: 7, end: 10, embeds: false, finalLayerAndCfg: true },
    ]);
  });
  it('one rank does everything; ranges cover every layer once for awkward sizes', () => {
    expect(splitLayers(42, 1)).toEqual([{ rank: 0, start: 0, end: 42, embeds: true, finalLayerAndCfg: true }]);
    for (const [L, N] of [[42, 5], [7, 7], [13, 4], [30, 8]] as const) {
      const s = splitLayers(L, N);
      expect(s.length).toBe(N);
      expect(s[0]!.start).toBe(0);
      expect(s[N - 1]!.end).toBe(L);
      for (let r = 1; r < N; r++) expect(s[r]!.start).toBe(s[r - 1]!.end);
      const sizes = s.map((x) => x.end - x.start);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect([...sizes].sort((a, b) => b - a)).toEqual(sizes); // larger ranges first
    }
  });
  it('rejects more ranks than layers and bad counts', () => {
    expect(() => splitLayers(3, 4)).toThrow(/at most 3 ranks/);
    expect(() => splitLayers(3, 0)).toThrow(/ranks/);
  });
});

describe('blockLayout', () => {
  it('n*B + C latent frames; block 0 has B + C frames, the others B', () => {
    const l = blockLayout(7, 2, 1);
    expect(l.blocks).toBe(3);
    expect([0, 1, 2].map((k) => blockFrames(l, k))).toEqual([{ start: 0, end: 3 }, { start: 3, end: 5 }, { start: 5, end: 7 }]);
    expect(blockLayout(25, 10, 5).blocks).toBe(2);
  });
  it('rejects frame counts that do not fit, naming counts that do', () => {
    expect(() => blockLayout(30, 10, 5)).toThrow(/n\*B \+ C.*25, 35/);
    expect(() => blockLayout(8, 2, 1)).toThrow(/7, 9/);
    expect(() => blockLayout(2, 2, 1)).toThrow(/3/);
    expect(() => blockLayout(10, 2, 3)).toThrow(/C must be .*\[0, 2\]/);
  });
});

describe('planQueue', () => {
  it('hand-worked T = 3, n = 3: 5 iterations, tail to head', () => {
    const p = planQueue(blockLayout(7, 2, 1), 3);
    const pairs = p.iterations.map((it) => it.map((s) => [s.block, s.step]));
    expect(pairs).toEqual([
      [[0, 0]],
      [[1, 0], [0, 1]],
      [[2, 0], [1, 1], [0, 2]],
      [[2, 1], [1, 2]],
      [[2, 2]],
    ]);
    expect(iterationCount(3, 3)).toBe(5);
    expect(referenceIterationCount(3, 3)).toBe(6);
  });

  const cases = [[1, 1, 0], [4, 1, 2], [3, 5, 1], [7, 4, 2], [2, 6, 0], [50, 3, 5]] as const;
  for (const [T, n, C] of cases) {
    it(`T = ${T}, n = ${n}, C = ${C}: spec formula, neighbours one step apart, T steps per block in order`, () => {
      const B = Math.max(C, 2);
      const p = planQueue(blockLayout(n * B + C, B, C), T);
      expect(p.iterations.length).toBe(T + n - 1);
      const seen: number[][] = Array.from({ length: n }, () => []);
      p.iterations.forEach((run, j) => {
        // every block k with 0 <= j - k < T runs in iteration j, at step j - k, tail (highest k) first
        const expected = Array.from({ length: n }, (_, k) => k).filter((k) => j - k >= 0 && j - k < T).reverse();
        expect(run.map((s) => s.block)).toEqual(expected);
        for (const s of run) {
          expect(s.step).toBe(j - s.block);
          seen[s.block]!.push(s.step);
        }
        for (let i = 1; i < run.length; i++) expect(run[i]!.step - run[i - 1]!.step).toBe(1);
      });
      for (const steps of seen) expect(steps).toEqual(Array.from({ length: T }, (_, s) => s));
    });
  }

  it('n = 1, C = 0 is plain sampling: one block of all frames, steps 0..T-1, no context', () => {
    const l = blockLayout(6, 6, 0);
    const p = planQueue(l, 4);
    expect(p.iterations.map((r) => r.map((s) => [s.block, s.step]))).toEqual([[[0, 0]], [[0, 1]], [[0, 2]], [[0, 3]]]);
    for (const r of p.iterations) for (const s of r) expect([s.prevContext, s.nextContext]).toEqual([null, null]);
    const w = windowOf(l, p.iterations[2]![0]!);
    expect(w.queryFrames).toEqual([0, 1, 2, 3, 4, 5]);
    expect(w.keyFrames).toEqual(w.queryFrames);
  });

  it('context: previous at the same number of updates, next from the same sweep (ran earlier in the run order)', () => {
    const p = planQueue(blockLayout(7, 2, 1), 3);
    const it2 = p.iterations[2]!; // (2,0), (1,1), (0,2)
    expect(it2.map((s) => [s.prevContext, s.nextContext])).toEqual([
      [{ block: 1, updates: 0 }, null], // tail: no next context
      [{ block: 0, updates: 1 }, { block: 2, step: 0 }],
      [null, { block: 1, step: 1 }],
    ]);
    expect(p.iterations[0]![0]!.nextContext).toBeNull(); // block 0 alone: block 1 not queued yet
    for (const run of p.iterations) {
      run.forEach((s, i) => {
        if (s.nextContext) expect(run.slice(0, i).map((x) => x.block)).toContain(s.nextContext.block);
      });
    }
  });
});

describe('windows (B = 2, C = 1, n = 3: blocks [0,3), [3,5), [5,7))', () => {
  const l = blockLayout(7, 2, 1);
  it('first block: B + C frames, no previous context, next context frame 3', () => {
    const w = blockWindow(l, 0, true);
    expect(w.queryFrames).toEqual([0, 1, 2]);
    expect(w.keyFrames).toEqual([0, 1, 2, 3]);
    expect(w.keyPositions).toEqual([0, 1, 2, 3]);
    expect(w.ownFrames).toEqual({ start: 0, end: 3 });
  });
  it('middle block: previous frame 2, own 3..4, next frame 5; positions 0..2C+B-1', () => {
    const w = blockWindow(l, 1, true);
    expect(w.queryFrames).toEqual([2, 3, 4]);
    expect(w.keyFrames).toEqual([2, 3, 4, 5]);
    expect(w.keyPositions).toEqual([0, 1, 2, 3]);
    expect(w.ownFrames).toEqual({ start: 1, end: 3 });
  });
  it('tail block: no next context (as the last block, or as the queue tail)', () => {
    expect(blockWindow(l, 2, true).keyFrames).toEqual([4, 5, 6]);
    expect(blockWindow(l, 1, false).keyFrames).toEqual([2, 3, 4]);
  });
  it('B = 3, C = 2, n = 3: windows hand-worked', () => {
    const m = blockLayout(11, 3, 2); // [0,5), [5,8), [8,11)
    expect(blockWindow(m, 1, true)).toEqual({
      block: 1, queryFrames: [3, 4, 5, 6, 7], keyFrames: [3, 4, 5, 6, 7, 8, 9], keyPositions: [0, 1, 2, 3, 4, 5, 6], ownFrames: { start: 2, end: 5 },
    });
    expect(blockWindow(m, 0, true).keyFrames).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(blockWindow(m, 2, false).keyFrames).toEqual([6, 7, 8, 9, 10]);
  });
});

describe('windows of a whole plan', () => {
  it('every scheduled step: C previous frames unless block 0, C next frames exactly when the next block ran before it', () => {
    for (const [B, C, n, T] of [[2, 1, 3, 3], [4, 2, 5, 6], [3, 0, 4, 2], [3, 3, 2, 4]] as const) {
      const l = blockLayout(n * B + C, B, C);
      for (const run of planQueue(l, T).iterations) {
        run.forEach((s, i) => {
          const w = windowOf(l, s);
          const own = s.block === 0 ? B + C : B;
          const prev = s.block === 0 ? 0 : C;
          const nextRan = run.slice(0, i).some((x) => x.block === s.block + 1);
          const next = nextRan ? C : 0;
          expect(w.queryFrames.length).toBe(prev + own);
          expect(w.keyFrames.length).toBe(prev + own + next);
          expect(w.keyPositions).toEqual(Array.from({ length: prev + own + next }, (_, p) => p));
          for (let f = 1; f < w.keyFrames.length; f++) expect(w.keyFrames[f]! - w.keyFrames[f - 1]!).toBe(1);
          expect(w.queryFrames.slice(w.ownFrames.start, w.ownFrames.end)[0]).toBe(blockFrames(l, s.block).start);
        });
      }
    }
  });
});

describe('coordinated noise', () => {
  it('deterministic per seed, differs between seeds', () => {
    const l = blockLayout(4 * 20 + 2, 4, 2);
    expect(noisePoolIndices(l, 7)).toEqual(noisePoolIndices(l, 7));
    expect(noisePoolIndices(l, 7)).not.toEqual(noisePoolIndices(l, 8));
  });
  it('block 0 = the pool in order; each later block = the B pool frames not among the previous block\'s last C', () => {
    for (const [B, C] of [[4, 2], [3, 3], [5, 1], [2, 1]] as const) {
      const l = blockLayout(12 * B + C, B, C);
      const idx = noisePoolIndices(l, 123);
      expect(idx[0]).toEqual(Array.from({ length: B + C }, (_, i) => i));
      let permuted = 0;
      for (let k = 1; k < idx.length; k++) {
        const prevLast = idx[k - 1]!.slice(idx[k - 1]!.length - C);
        const mine = idx[k]!;
        expect(mine.length).toBe(B);
        expect(new Set(mine).size).toBe(B);
        for (const f of mine) {
          expect(f).toBeGreaterThanOrEqual(0);
          expect(f).toBeLessThan(B + C);
          expect(prevLast).not.toContain(f);
        }
        const allowed = Array.from({ length: B + C }, (_, i) => i).filter((f) => !prevLast.includes(f));
        expect([...mine].sort((a, b) => a - b)).toEqual(allowed);
        if (mine.join() !== allowed.join()) permuted++;
      }
      expect(permuted).toBeGreaterThan(0); // not the identity every time
    }
  });
  it('C = 0: the pool is B frames and every block is a permutation of all of them', () => {
    const l = blockLayout(5 * 6, 5, 0);
    const idx = noisePoolIndices(l, 3);
    expect(idx.length).toBe(6);
    for (const b of idx) expect([...b].sort()).toEqual([0, 1, 2, 3, 4]);
  });
  it('the pool is the engine\'s Philox noise; block noise gathers whole pool frames', () => {
    const l = blockLayout(3 * 3 + 2, 3, 2);
    const F = 7; // elements per latent frame (awkward)
    const pool = noisePool(l, F, 42);
    expect(pool).toEqual(philoxNormalNoise([5, F], 42));
    const idx = noisePoolIndices(l, 42);
    for (const ix of idx) {
      const nz = blockNoise(pool, F, ix);
      expect(nz.length).toBe(ix.length * F);
      ix.forEach((f, i) => expect(Array.from(nz.subarray(i * F, (i + 1) * F))).toEqual(Array.from(pool.subarray(f * F, (f + 1) * F))));
    }
  });
});

describe('checkWindowFits', () => {
  // 1024 tokens x 4 x 1536 values x 2 bytes (f16) = 12 MiB per window frame; a 128 MiB buffer limit holds 10 frames.
  const o = { tokens: 1024, modelDim: 1536, bytesPerValue: 2, maxBufferBytes: 128 * 2 ** 20 };
  it('accepts a window of up to 10 frames', () => {
    expect(() => checkWindowFits({ ...o, B: 6, C: 4 })).not.toThrow();
  });
  it('refuses 15 frames (180 MiB), naming blocks that fit and that the length does not matter', () => {
    expect(() => checkWindowFits({ ...o, B: 10, C: 5 })).toThrow(/B \+ C = 15 latent frames needs a 180\.0 MiB buffer .*128\.0 MiB per buffer; use --block-frames 5 --context-frames 5 or fewer \(B \+ C <= 10\).*length does not matter/);
  });
  it('asks for a smaller frame size when not even one window frame pair fits', () => {
    expect(() => checkWindowFits({ ...o, B: 1, C: 0, maxBufferBytes: 10 * 2 ** 20 })).toThrow(/use a smaller width and height/);
  });
});
