// Report histograms: binning with clamped ends, and the bar chart read back from the PNG (bar heights proportional
// to the counts, the threshold marker column).
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { histogram, histogramPng } from '../../../engine/data/histogram.js';

describe('histogram', () => {
  it('bins values, clamping the ends and skipping non-finite ones', () => {
    expect(histogram([0, 0.05, 0.1, 0.99, 1, 1.5, -2, NaN], 10, 0, 1).counts).toEqual([3, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
    expect(() => histogram([], 4, 1, 1)).toThrow(/max > min/);
  });

  it('draws bars proportional to the counts and a red marker column', () => {
    const h = histogram([0.1, 0.1, 0.1, 0.1, 0.6, 0.6], 2, 0, 1); // counts 4, 2
    const png = decode(histogramPng(h, 40, 21, 0.5));
    expect([png.width, png.height, png.channels]).toEqual([40, 21, 3]);
    const px = (x: number, y: number) => [...png.data.slice((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
    const barHeight = (x: number) => Array.from({ length: 21 }, (_, y) => px(x, y)).filter((c) => c.join() === '40,60,110').length;
    expect(barHeight(5)).toBe(20); // the tallest bar spans height - 1
    expect(barHeight(30)).toBe(10);
    const red = Math.round(0.5 * 39);
    expect(px(red, 0)).toEqual([220, 30, 30]);
    expect(px(5, 0)).toEqual([255, 255, 255]);
  });
});
