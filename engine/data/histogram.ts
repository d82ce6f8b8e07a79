// Score histograms for the curation report: counts in equal bins over [min, max] and a bar chart PNG (dark bars on
// white, one bar per bin, heights proportional to the counts, a red column at the filter threshold) with labelled
// axes: a title, the count axis (0, half, the largest count) and the value axis (5 ticks from min to max), the text
// drawn with the built-in bitmap font (bitmap-font.ts). report.json holds the same numbers.
import { encodeRgbPng } from '../video/png.js';
import { CELL_H, GLYPH_H, drawText, textWidth } from './bitmap-font.js';

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

export interface ChartOptions {
  /** Picture size (default 360 x 200). */
  width?: number;
  height?: number;
  /** A red column at this value (the filter threshold). */
  marker?: number;
  /** A line of text above the plot. */
  title?: string;
}

export interface ChartLabel {
  kind: 'title' | 'x' | 'y';
  text: string;
  /** Top-left corner of the text. */
  x: number;
  y: number;
  /** The tick it labels (pixel column for x, row for y). */
  tick?: number;
}

export interface Chart {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** The bars' area (the axes are the column left of it and the row under it). */
  plot: { x: number; y: number; width: number; height: number };
  labels: ChartLabel[];
}

/** A tick value as text: integers as they are, others to 3 significant digits. */
export function tickText(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
}

const INK = [0, 0, 0] as const;

/** The bar chart with a title and labelled axes. */
export function histogramChart(h: Histogram, o: ChartOptions = {}): Chart {
  const width = o.width ?? 360;
  const height = o.height ?? 200;
  const top = Math.max(1, ...h.counts);
  const yValues = [...new Set([0, Math.round(top / 2), top])];
  const xValues = [0, 1, 2, 3, 4].map((k) => h.min + ((h.max - h.min) * k) / 4);
  const left = Math.max(...yValues.map((v) => textWidth(tickText(v)))) + 6;
  const plotY = o.title ? 3 + CELL_H + 4 : 6;
  const bottom = height - 14; // the x axis row
  const plot = { x: left, y: plotY, width: width - left - 8, height: bottom - plotY };
  if (plot.width < 8 || plot.height < 8) throw new Error(`histogram chart: ${width}x${height} leaves no room for the plot (needs about ${left + 16}x${plotY + 22})`);
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const bars = histogramRgb(h, plot.width, plot.height, o.marker);
  for (let y = 0; y < plot.height; y++) rgb.set(bars.subarray(y * plot.width * 3, (y + 1) * plot.width * 3), ((plot.y + y) * width + plot.x) * 3);
  const set = (x: number, y: number) => rgb.set(INK, (y * width + x) * 3);
  for (let y = plot.y; y <= bottom; y++) set(plot.x - 1, y);
  for (let x = plot.x - 1; x < plot.x + plot.width; x++) set(x, bottom);
  const labels: ChartLabel[] = [];
  if (o.title) labels.push({ kind: 'title', text: o.title, x: 3, y: 3 });
  for (const v of yValues) {
    const ty = plot.y + plot.height - Math.round((v / top) * (plot.height - 1));
    for (let x = plot.x - 4; x < plot.x - 1; x++) set(x, ty);
    const text = tickText(v);
    labels.push({ kind: 'y', text, x: plot.x - 5 - textWidth(text), y: Math.min(height - GLYPH_H, Math.max(0, ty - (GLYPH_H >> 1))), tick: ty });
  }
  xValues.forEach((v, k) => {
    const tx = plot.x + Math.round((k / 4) * (plot.width - 1));
    for (let y = bottom + 1; y <= bottom + 3; y++) set(tx, y);
    const text = tickText(v);
    const w = textWidth(text);
    labels.push({ kind: 'x', text, x: Math.min(width - w, Math.max(0, tx - (w >> 1))), y: bottom + 5, tick: tx });
  });
  for (const l of labels) drawText(rgb, width, height, l.text, l.x, l.y, INK);
  return { rgb, width, height, plot, labels };
}

/** The labelled chart as a PNG. */
export function histogramPng(h: Histogram, o: ChartOptions = {}): Uint8Array {
  const c = histogramChart(h, o);
  return encodeRgbPng(c.rgb, c.width, c.height);
}
