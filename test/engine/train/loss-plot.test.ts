// The loss picture (engine/train/loss-plot.ts): bias-corrected smoothing against values worked by hand, and the
// curve drawn where a log-scale axis puts it (a falling loss starts high on the left and ends low on the right).
import { describe, expect, it } from 'vitest';
import { plotLoss, smoothLosses } from '../../../engine/train/loss-plot.js';

const isCurve = (rgb: Uint8Array, i: number) => rgb[3 * i] === 30 && rgb[3 * i + 1] === 90 && rgb[3 * i + 2] === 200;

describe('loss plot', () => {
  it('smooths with a bias-corrected moving average', () => {
    const s = smoothLosses([1, 3, 3], 0.5);
    expect(s[0]).toBeCloseTo(1, 12); // 0.5 / 0.5
    expect(s[1]).toBeCloseTo((0.25 + 1.5) / 0.75, 12);
    expect(s[2]).toBeCloseTo((0.875 + 1.5) / 0.875, 12);
  });

  it('draws a falling loss from the upper left to the lower right, with axes', () => {
    const steps = Array.from({ length: 50 }, (_, i) => i + 1);
    const losses = steps.map((s) => 10 * Math.exp(-s / 10)); // 9.05 .. 0.067: decades 1e-2 .. 1e1
    const { rgb, width, height } = plotLoss(steps, losses, 200, 120);
    const rowsOf = (x: number) => Array.from({ length: height }, (_, y) => y).filter((y) => isCurve(rgb, y * width + x));
    const leftRows = rowsOf(32), rightRows = rowsOf(190);
    expect(leftRows.length).toBeGreaterThan(0);
    expect(rightRows.length).toBeGreaterThan(0);
    expect(Math.min(...leftRows)).toBeLessThan(Math.min(...rightRows) - 30);
    // y axis: a black column at x = 30 from top to bottom
    for (let y = 10; y < height - 16; y++) expect([...rgb.subarray(3 * (y * width + 30), 3 * (y * width + 30) + 3)]).toEqual([0, 0, 0]);
  });

  it('ignores non-finite and non-positive losses and draws empty axes without points', () => {
    const { rgb, width, height } = plotLoss([1, 2, 3], [NaN, 0, 1], 100, 60);
    expect(rgb.length).toBe(width * height * 3);
    const empty = plotLoss([], []);
    expect(empty.rgb.some((v) => v === 0)).toBe(true);
  });
});
