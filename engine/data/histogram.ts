// Score histograms for the curation report: counts in equal bins over [min, max] and a plain bar-chart PNG
// (dark bars on white, one bar per bin, heights proportional to the counts, a red column at the filter threshold).
// No text is drawn: report.json holds the bins' numbers and ranges next to each picture.
import { encodeRgbPng } from '../video/png.js';

export interface Histogram {
  min: number;
  max: number;
  counts: number[];
}

/** Counts of the finite values in `bins` equal bins on [min, max] (values outside are clamped into the end bins). */
export function histogram(values: readonly number[], bins: number, min: number, max: number): Histogram {
  if (!(max > min) || !Number.isInteger(bins) || bins < 1) throw new Error(`histogram: need max > min and bins >= 1, got [${min}, ${max}], ${bins}`);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.max(0, Math.floor(((v - min) / (max - min)) * bins)))]!++;
  return { min, max, counts };
}

/** A width x height RGB bar chart of the histogram; `marker` draws a red column at that value. */
export function histogramRgb(h: Histogram, width = 320, height = 160, marker?: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const bins = h.counts.length;
  const top = Math.max(1, ...h.counts);
  const set = (x: number, y: number, c: readonly number[]) => rgb.set(c, (y * width + x) * 3);
  for (let x = 0; x < width; x++) {
    const b = Math.min(bins - 1, Math.floor((x * bins) / width));
    const gap = Math.floor(((b + 1) * width) / bins) - 1 === x && bins < width; // 1-px white gap between bars
    const bar = Math.round((h.counts[b]! / top) * (height - 1));
    if (!gap) for (let y = height - bar; y < height; y++) set(x, y, [40, 60, 110]);
  }
  if (marker !== undefined && marker >= h.min && marker <= h.max) {
    const x = Math.min(width - 1, Math.round(((marker - h.min) / (h.max - h.min)) * (width - 1)));
    for (let y = 0; y < height; y++) set(x, y, [220, 30, 30]);
  }
  return rgb;
}

export function histogramPng(h: Histogram, width = 320, height = 160, marker?: number): Uint8Array {
  return encodeRgbPng(histogramRgb(h, width, height, marker), width, height);
}
