// Shape-track continuity (engine/metrics/shape-track.ts) on synthetic videos of engine/data/synth.ts, whose geometry
// (speed, position) is known: a real moving shape is continuous at any borders, its inside step is its speed; the
// same video with frames cut out at a border (a jump in time), shifted across its path after a border or missing the
// shape at a border is not, and the report names that border; a shift within the rule's allowance passes; bad
// borders and ragged frames are refused.
import { describe, expect, it } from 'vitest';
import { renderClip, renderFrame, synthClips, type Attributes, type ClipGeometry } from '../../../engine/data/synth.js';
import { shapeTrack } from '../../../engine/metrics/shape-track.js';
import { blockLayout } from '../../../engine/parallel/dualparal-plan.js';
import { clipLayout } from '../../../engine/parallel/clip-layout.js';
import { blockBorders, clipBorders } from '../../../engine/parallel/layout-borders.js';

const W = 48;
const H = 48;
const F = 13;
const dualBorders = blockBorders(blockLayout(F, 4, 1)); // 5, 9
const a: Attributes = { colour: 'red', shape: 'circle', direction: 'right', background: 'white' };
const g: ClipGeometry = { radius: 6, x0: 10, y0: 20, speed: 1.5 };

describe('shape track at borders', () => {
  it('synthetic moving shapes (every shape, random directions and colours) are continuous; the inside step is the speed', () => {
    const clips = [...synthClips({ count: 8, seed: 3, width: W, height: H, frames: F, split: 'train' })];
    expect(new Set(clips.map((c) => c.attributes.shape)).size).toBe(3);
    for (const c of clips) {
      for (const borders of [dualBorders, clipBorders(clipLayout(F, 3, { window: 0 }))]) {
        const t = shapeTrack(c.frames, W, H, borders);
        expect(t.continuous, `${c.caption}: ${t.reason}`).toBe(true);
        expect(t.missing).toEqual([]);
        expect(Math.abs(t.inside!.median - c.geometry.speed), c.caption).toBeLessThan(0.25);
        expect(t.across!.max).toBeLessThanOrEqual(t.limit!);
        expect(t.limit).toBe(Math.max(2, 3 * t.inside!.median));
      }
    }
  });

  it('frames cut out at a border (a jump of 4 frames in time) break the track there', () => {
    const long = renderClip('x', a, g, { width: W, height: H, frames: F + 4 }).frames;
    const spliced = [...long.slice(0, 5), ...long.slice(9)]; // frame 4 -> frame 9 across the border before frame 5
    expect(spliced.length).toBe(F);
    const t = shapeTrack(spliced, W, H, dualBorders);
    expect(t.continuous).toBe(false);
    expect(t.reason).toMatch(/across the border before frame 5/);
    expect(Math.abs(t.steps[4]! - 5 * g.speed)).toBeLessThan(0.25);
    expect(Math.abs(t.inside!.median - g.speed)).toBeLessThan(0.25);
    // measured at other borders, the same cut is inside and the borders are fine
    expect(shapeTrack(spliced, W, H, [3, 8]).continuous).toBe(true);
  });

  it('a shift across the path after a border breaks the track; one within the allowance does not', () => {
    const shifted = (dy: number) => Array.from({ length: F }, (_, f) => renderFrame(a, f >= 9 ? { ...g, y0: g.y0 + dy } : g, f, W, H));
    const far = shapeTrack(shifted(8), W, H, dualBorders);
    expect(far.continuous).toBe(false);
    expect(far.reason).toMatch(/before frame 9/);
    expect(Math.abs(far.across!.max - Math.hypot(g.speed, 8))).toBeLessThan(0.25);
    // hypot(1.5, 2) = 2.5 <= 3 x 1.5
    const near = shapeTrack(shifted(2), W, H, dualBorders);
    expect(near.continuous, near.reason).toBe(true);
    expect(Math.abs(near.across!.max - 2.5)).toBeLessThan(0.25);
  });

  it('a still shape passes by the 2 px floor, and fails with a 3 px jump', () => {
    const still = { ...g, speed: 0 };
    const frames = Array.from({ length: F }, (_, f) => renderFrame(a, f >= 5 ? { ...still, x0: g.x0 + 1 } : still, f, W, H));
    expect(shapeTrack(frames, W, H, dualBorders).continuous).toBe(true);
    const jump = Array.from({ length: F }, (_, f) => renderFrame(a, f >= 5 ? { ...still, x0: g.x0 + 3 } : still, f, W, H));
    expect(shapeTrack(jump, W, H, dualBorders).continuous).toBe(false);
  });

  it('a frame without the shape at a border fails, naming the frame', () => {
    const frames = renderClip('x', a, g, { width: W, height: H, frames: F }).frames;
    frames[9] = renderFrame(a, { ...g, x0: -1000 }, 9, W, H); // the shape far outside: plain background
    const t = shapeTrack(frames, W, H, dualBorders);
    expect(t.missing).toEqual([9]);
    expect(t.continuous).toBe(false);
    expect(t.reason).toMatch(/no shape found in frame 9/);
  });

  it('refuses bad borders and frames of the wrong size', () => {
    const frames = renderClip('x', a, g, { width: W, height: H, frames: 4 }).frames;
    expect(() => shapeTrack(frames, W, H, [4])).toThrow(/border 4 is outside \[1, 3\]/);
    expect(() => shapeTrack(frames, W, H, [2, 2])).toThrow(/listed twice/);
    expect(() => shapeTrack(frames, W, 40, [2])).toThrow(/frame 0 has .* not 48x40x3/);
    expect(() => shapeTrack(frames.slice(0, 1), W, H, [])).toThrow(/at least 2 frames/);
  });
});
