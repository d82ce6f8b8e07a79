// bench/train-search.ts (bench:train's longest-sequence search) on synthetic peaks, no device: searchLongest finds
// the exact boundary of a linear peak and brackets stair-shaped ones within its probe budget, never probing a frame
// count twice or below 1; spRowSplit gives the SP row split of sp-model.ts and refuses SP sizes that pad or that
// checkSpLayout refuses. The expected boundaries are solved by hand from the synthetic peak functions.
import { describe, expect, it } from 'vitest';
import { searchLongest, spRowSplit, type Probe } from '../../bench/train-search.js';

/** A probe of peak(frames) MiB that records the frame counts asked for. */
function fake(peak: (frames: number) => number) {
  const asked: number[] = [];
  const probe = async (frames: number): Promise<Probe> => {
    asked.push(frames);
    return { frames, peakMiB: peak(frames), s: 0 };
  };
  return { probe, asked };
}

function checkInvariants(asked: number[], maxProbes: number) {
  expect(asked.length).toBeLessThanOrEqual(2 + maxProbes);
  expect(new Set(asked).size).toBe(asked.length);
  for (const f of asked) {
    expect(Number.isInteger(f)).toBe(true);
    expect(f).toBeGreaterThanOrEqual(1);
  }
}

describe('searchLongest', () => {
  it('finds the exact boundary of a linear peak: 10 + 2 F MiB under 64 MiB fits F = 27, not 28', async () => {
    const { probe, asked } = fake((F) => 10 + 2 * F);
    const r = await searchLongest(probe, { capMiB: 64, maxProbes: 4 });
    expect(r.fits?.frames).toBe(27);
    expect(r.fits?.peakMiB).toBe(64);
    expect(r.over?.frames).toBe(28);
    expect(r.probes.map((p) => p.frames)).toEqual(asked);
    checkInvariants(asked, 4);
  });

  it('brackets stair peaks (a stair every 5 frames) and only reports probes on the right side of the cap', async () => {
    // 20 MiB + 15 MiB per stair of 5 frames: flat within a stair, as the pool's size classes make the real peak.
    const peak = (F: number) => 20 + 3 * 5 * Math.ceil(F / 5);
    for (const cap of [40, 64, 100, 137, 250]) {
      // the largest F with 20 + 15 ceil(F/5) <= cap: ceil(F/5) <= (cap - 20) / 15, so F = 5 floor((cap - 20) / 15)
      const best = 5 * Math.floor((cap - 20) / 15);
      const { probe, asked } = fake(peak);
      const r = await searchLongest(probe, { capMiB: cap, maxProbes: 8 });
      checkInvariants(asked, 8);
      expect(r.fits).not.toBeNull();
      expect(r.fits!.peakMiB).toBeLessThanOrEqual(cap);
      expect(r.fits!.frames).toBeLessThanOrEqual(best);
      expect(r.over).not.toBeNull();
      expect(r.over!.peakMiB).toBeGreaterThan(cap);
      expect(r.over!.frames).toBeGreaterThan(best);
      // 8 probes close the bracket on these stairs: the reported answer is the true one
      expect(r.fits!.frames).toBe(best);
      expect(r.over!.frames).toBe(best + 1);
    }
  });

  it('keeps to the probe budget: with 1 probe after the small ones it stops early with a valid bracket side', async () => {
    const { probe, asked } = fake((F) => 5 + 0.5 * F);
    const r = await searchLongest(probe, { capMiB: 1000, maxProbes: 1 });
    checkInvariants(asked, 1);
    expect(asked).toHaveLength(3);
    expect(r.fits!.peakMiB).toBeLessThanOrEqual(1000);
    expect(r.over === null || r.over.peakMiB > 1000).toBe(true);
  });

  it('searches below the small probes when even 8 frames are over the cap', async () => {
    // 30 + 4 F <= 40 for F <= 2
    const { probe, asked } = fake((F) => 30 + 4 * F);
    const r = await searchLongest(probe, { capMiB: 40, maxProbes: 6 });
    checkInvariants(asked, 6);
    expect(r.fits?.frames).toBe(2);
    expect(r.over?.frames).toBe(3);
  });

  it('reports none when even 1 frame is over the cap', async () => {
    const { probe, asked } = fake((F) => 100 + F);
    const r = await searchLongest(probe, { capMiB: 50, maxProbes: 10 });
    checkInvariants(asked, 10);
    expect(r.fits).toBeNull();
    expect(r.over?.frames).toBe(1);
  });

  it('refuses bad options with a clear error', async () => {
    const { probe } = fake((F) => F);
    await expect(searchLongest(probe, { capMiB: 0, maxProbes: 4 })).rejects.toThrow(/cap must be > 0/);
    await expect(searchLongest(probe, { capMiB: 10, maxProbes: 4, small: [16, 8] })).rejects.toThrow(/small probes/);
  });
});

describe('spRowSplit', () => {
  it("splits base's 16 visual rows per frame (8x8 latents, patch 2) and 32 text rows", () => {
    expect(spRowSplit(2, 4, 8, 8, 2, 32)).toEqual({ exchange: 'ulysses', visualPerRank: 8, textPerRank: 16 });
    expect(spRowSplit(4, 4, 8, 8, 2, 32)).toEqual({ exchange: 'ulysses', visualPerRank: 4, textPerRank: 8 });
    // 8 ranks on 4 heads: the heads do not split, the K/V all-gather
    expect(spRowSplit(8, 4, 8, 8, 2, 32)).toEqual({ exchange: 'kv-allgather', visualPerRank: 2, textPerRank: 4 });
    expect(spRowSplit(2, 3, 6, 4, 2, 6)).toEqual({ exchange: 'kv-allgather', visualPerRank: 3, textPerRank: 3 });
  });

  it('refuses SP sizes whose ranks would carry padding rows, naming the sizes that fit', () => {
    expect(() => spRowSplit(3, 4, 8, 8, 2, 32)).toThrow(/SP 3 does not divide the 16 visual rows.*\{1, 2, 4, 8, 16\}/);
    expect(() => spRowSplit(4, 4, 8, 8, 2, 6)).toThrow(/6 text rows.*\{1, 2\}/);
    expect(() => spRowSplit(2, 4, 7, 8, 2, 32)).toThrow(/not a multiple of the patch size 2/);
    expect(() => spRowSplit(0, 4, 8, 8, 2, 32)).toThrow(/--sp must be a positive integer/);
  });
});
