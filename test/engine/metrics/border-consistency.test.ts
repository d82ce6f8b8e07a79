// The border-consistency measure on constructed videos whose frame-to-frame changes are known by construction:
// steady motion (every change equal: ratio exactly 1), smooth motion (ratio near 1), a jump at a border (the ratio
// is the jump's size over the steady change), a jump inside a clip (ratio below 1), latents split into frames, and
// the errors on bad borders and ragged frames.
import { describe, expect, it } from 'vitest';
import { borderConsistency, frameChanges, framesOf } from '../../../engine/metrics/border-consistency.js';

/** F frames of n values: value i of frame f = base(i) + step * f + (f >= jumpAt ? jump : 0). */
function ramp(F: number, n: number, step: number, jumpAt = -1, jump = 0): Float64Array[] {
  return Array.from({ length: F }, (_, f) => Float64Array.from({ length: n }, (_, i) => ((i * 37) % 11) + step * f + (jumpAt >= 0 && f >= jumpAt ? jump : 0)));
}

describe('borderConsistency on constructed videos', () => {
  it('steady motion: every change equals the step, ratio exactly 1', () => {
    const r = borderConsistency(ramp(8, 5, 0.5), [3, 6]);
    expect(r.changes).toEqual(Array(7).fill(0.5));
    expect(r.across).toBe(0.5);
    expect(r.inside).toBe(0.5);
    expect(r.ratio).toBe(1);
  });

  it('smooth motion (a slow sinusoid): ratio within 5% of 1 at any borders', () => {
    const frames = Array.from({ length: 32 }, (_, f) => Float64Array.from({ length: 64 }, (_, i) => Math.sin(0.05 * f + 0.3 * i)));
    for (const borders of [[8, 16, 24], [5, 11], [31]]) {
      const r = borderConsistency(frames, borders);
      expect(Math.abs(r.ratio! - 1), JSON.stringify(borders)).toBeLessThan(0.05);
    }
  });

  it('a jump at a border raises the ratio to (step + jump) / step', () => {
    // step 1 per frame, +5 at frame 4: changes 1,1,1,6,1,1,1
    const frames = ramp(8, 3, 1, 4, 5);
    expect(frameChanges(frames)).toEqual([1, 1, 1, 6, 1, 1, 1]);
    const r = borderConsistency(frames, [4]);
    expect(r.across).toBe(6);
    expect(r.inside).toBe(1);
    expect(r.ratio).toBe(6);
    // two borders, one seamless: across = (6 + 1) / 2, inside = 1
    expect(borderConsistency(frames, [2, 4]).ratio).toBe(3.5);
  });

  it('a jump away from the borders lowers the ratio below 1', () => {
    const r = borderConsistency(ramp(8, 3, 1, 4, 5), [2, 6]);
    expect(r.across).toBe(1);
    expect(r.inside).toBe((4 + 6) / 5);
    expect(r.ratio).toBeCloseTo(1 / 2, 12);
  });

  it('mean absolute change per element: opposite moves do not cancel', () => {
    const frames = [Float64Array.of(0, 0), Float64Array.of(2, -2)];
    expect(frameChanges(frames)).toEqual([2]);
  });

  it('edge cases: no borders, all borders, a still inside', () => {
    const frames = ramp(4, 2, 1);
    expect(borderConsistency(frames, [])).toMatchObject({ across: null, inside: 1, ratio: null });
    expect(borderConsistency(frames, [1, 2, 3])).toMatchObject({ across: 1, inside: null, ratio: null });
    const still = ramp(4, 2, 0, 2, 3);
    expect(borderConsistency(still, [2]).ratio).toBe(Infinity);
    expect(borderConsistency(ramp(4, 2, 0), [2]).ratio).toBe(1);
  });

  it('bad input is refused, naming the problem', () => {
    const frames = ramp(5, 2, 1);
    expect(() => borderConsistency(frames, [0])).toThrow(/border 0 is outside \[1, 4\] for a video of 5 frames/);
    expect(() => borderConsistency(frames, [5])).toThrow(/border 5 is outside/);
    expect(() => borderConsistency(frames, [2.5])).toThrow(/border 2.5 is outside/);
    expect(() => borderConsistency(frames, [2, 2])).toThrow(/border 2 is listed twice/);
    expect(() => borderConsistency(frames.slice(0, 1), [])).toThrow(/at least 2 frames, got 1/);
    expect(() => frameChanges([Float64Array.of(1, 2), Float64Array.of(1)])).toThrow(/frame 1 has 1 values, frame 0 has 2/);
  });

  it('framesOf splits latents [1, F, C, h, w] into frames', () => {
    const data = Float32Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => i);
    const fr = framesOf(data, [1, 3, 2, 2, 2]);
    expect(fr.map((f) => Array.from(f))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23]]);
    expect(() => framesOf(data, [1, 4, 2, 2, 2])).toThrow(/24 values do not match shape \[1, 4, 2, 2, 2\]/);
    expect(() => framesOf(data, [2, 3, 2, 2, 1])).toThrow(/axes before the frame axis must be 1/);
  });
});
