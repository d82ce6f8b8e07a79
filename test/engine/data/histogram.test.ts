// Report histograms: binning with clamped ends; the bars (heights proportional to the counts, the threshold marker
// column); the built-in bitmap font (every glyph distinct, a few checked by hand) and text read back from the
// pixels by matching glyph cells; the labelled chart read back from its PNG: axes, tick marks, tick labels centred
// on their ticks, the title.
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { CELL_W, FONT, GLYPH_H, GLYPH_W, drawText, glyph, textWidth } from '../../../engine/data/bitmap-font.js';
import { histogram, histogramChart, histogramPng, histogramRgb, tickText } from '../../../engine/data/histogram.js';

/** Reads `n` characters at (x, y) by matching each 5x7 cell of dark pixels against the font; '?' when none matches. */
function readText(rgb: Uint8Array, width: number, x: number, y: number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    const cell = Array.from({ length: GLYPH_H }, (_, r) => Array.from({ length: GLYPH_W }, (_, c) => rgb[((y + r) * width + x + i * CELL_W + c) * 3]! < 128));
    const hit = [...FONT].find(([, g]) => g.every((row, r) => row.every((b, c) => b === cell[r]![c])));
    out += hit ? hit[0] : '?';
  }
  return out;
}

describe('histogram', () => {
  it('bins values, clamping the ends and skipping non-finite ones', () => {
    expect(histogram([0, 0.05, 0.1, 0.99, 1, 1.5, -2, NaN], 10, 0, 1).counts).toEqual([3, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
    expect(() => histogram([], 4, 1, 1)).toThrow(/max > min/);
  });

  it('draws bars proportional to the counts and a red marker column', () => {
    const h = histogram([0.1, 0.1, 0.1, 0.1, 0.6, 0.6], 2, 0, 1); // counts 4, 2
    const rgb = histogramRgb(h, 40, 21, 0.5);
    const px = (x: number, y: number) => [...rgb.slice((y * 40 + x) * 3, (y * 40 + x) * 3 + 3)];
    const barHeight = (x: number) => Array.from({ length: 21 }, (_, y) => px(x, y)).filter((c) => c.join() === '40,60,110').length;
    expect(barHeight(5)).toBe(20); // the tallest bar spans height - 1
    expect(barHeight(30)).toBe(10);
    const red = Math.round(0.5 * 39);
    expect(px(red, 0)).toEqual([220, 30, 30]);
    expect(px(5, 0)).toEqual([255, 255, 255]);
  });

  it('bitmap font: digits, letters and punctuation, all distinct; text reads back; unknown characters named', () => {
    for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ._-+:=(),/%') expect(FONT.has(c), c).toBe(true);
    const keys = [...FONT].map(([c, g]) => [c, g.map((r) => r.map(Number).join('')).join('/')] as const);
    for (const [c, g] of keys) expect(g.split('/').map((r) => r.length), c).toEqual(Array(7).fill(5));
    expect(new Set(keys.map(([, g]) => g)).size).toBe(keys.length);
    // Hand-checked: '1' is a stem with a flag and a foot; '-' is the middle row.
    expect(glyph('1').map((r) => r.map(Number).join(''))).toEqual(['00100', '01100', '00100', '00100', '00100', '00100', '01110']);
    expect(glyph('-').map((r) => r.some(Boolean))).toEqual([false, false, false, true, false, false, false]);
    expect(glyph('a')).toBe(glyph('A'));
    expect(() => glyph('#')).toThrow("no glyph for '#'");
    const W = 80, H = 12;
    const rgb = new Uint8Array(W * H * 3).fill(255);
    drawText(rgb, W, H, 'flow 0.25%', 2, 3, [0, 0, 0]);
    expect(readText(rgb, W, 2, 3, 10)).toBe('FLOW 0.25%');
    expect(textWidth('flow 0.25%')).toBe(59);
    drawText(rgb, W, H, 'CLIPPED', 70, 8, [0, 0, 0]); // partly outside: no throw
  });

  it('tick labels: integers as they are, others to 3 significant digits', () => {
    expect([0, 4, 0.25, 0.75, 1 / 3, 2.125, 1250, 1e-7].map(tickText)).toEqual(['0', '4', '0.25', '0.75', '0.333', '2.13', '1250', '1e-7']);
  });

  it('labelled chart: axes, ticks and their labels, the title, bars in the plot; read back from the PNG', () => {
    const h = histogram([0.1, 0.1, 0.1, 0.1, 0.6, 0.6], 4, 0, 1); // counts 4, 0, 2, 0
    const chart = histogramChart(h, { width: 200, height: 120, marker: 0.3, title: 'static_ratio, red: max 0.3' });
    const png = decode(histogramPng(h, { width: 200, height: 120, marker: 0.3, title: 'static_ratio, red: max 0.3' }));
    expect([png.width, png.height, png.channels]).toEqual([200, 120, 3]);
    expect(Uint8Array.from(png.data)).toEqual(chart.rgb);
    const d = png.data as Uint8Array;
    const dark = (x: number, y: number) => d[(y * 200 + x) * 3]! < 128 && d[(y * 200 + x) * 3 + 1]! < 128;
    const { plot } = chart;
    const bottom = plot.y + plot.height;
    // Axes: the column left of the plot and the row under it.
    for (let y = plot.y; y <= bottom; y++) expect(dark(plot.x - 1, y), `y axis row ${y}`).toBe(true);
    for (let x = plot.x - 1; x < plot.x + plot.width; x++) expect(dark(x, bottom), `x axis column ${x}`).toBe(true);
    // Labels: the title, counts 0, 2, 4 on the y axis, five values on the x axis, each readable where it says.
    expect(chart.labels.map((l) => [l.kind, l.text])).toEqual([
      ['title', 'static_ratio, red: max 0.3'], ['y', '0'], ['y', '2'], ['y', '4'], ['x', '0'], ['x', '0.25'], ['x', '0.5'], ['x', '0.75'], ['x', '1'],
    ]);
    for (const l of chart.labels) expect(readText(d, 200, l.x, l.y, l.text.length), l.text).toBe(l.text.toUpperCase());
    // Ticks: x labels centred under their tick marks (within a pixel), the ends at the plot's ends; y ticks at the
    // bar heights (the count-4 bar's top row is the tick of 4) with their labels beside them.
    const xs = chart.labels.filter((l) => l.kind === 'x');
    expect(xs.map((l) => l.tick)).toEqual([0, 1, 2, 3, 4].map((k) => plot.x + Math.round((k / 4) * (plot.width - 1))));
    for (const l of xs) {
      expect(Math.abs(l.x + textWidth(l.text) / 2 - l.tick!)).toBeLessThanOrEqual(1);
      for (let y = bottom + 1; y <= bottom + 3; y++) expect(dark(l.tick!, y)).toBe(true);
    }
    const ys = chart.labels.filter((l) => l.kind === 'y');
    const barTop = Array.from({ length: plot.height }, (_, y) => plot.y + y).find((y) => d[(y * 200 + plot.x + 2) * 3]! === 40)!;
    expect(ys[2]!.tick).toBe(barTop);
    expect(ys[0]!.tick).toBe(bottom);
    for (const l of ys) {
      expect(dark(plot.x - 3, l.tick!)).toBe(true);
      expect(l.x + textWidth(l.text)).toBeLessThan(plot.x - 3);
      expect(Math.abs(l.y + 3 - l.tick!)).toBeLessThanOrEqual(1);
    }
    // Bars: count 4 spans plot.height - 1 rows, count 2 half of that (rounded), empty bins none.
    const colour = (x: number) => Array.from({ length: plot.height }, (_, y) => d[((plot.y + y) * 200 + x) * 3]! === 40).filter(Boolean).length;
    const binX = (b: number) => plot.x + Math.floor(((b + 0.5) * plot.width) / 4);
    expect([0, 1, 2, 3].map((b) => colour(binX(b)))).toEqual([plot.height - 1, 0, Math.round((2 / 4) * (plot.height - 1)), 0]);
    const red = plot.x + Math.round(0.3 * (plot.width - 1));
    expect([...d.slice(((plot.y + 1) * 200 + red) * 3, ((plot.y + 1) * 200 + red) * 3 + 3)]).toEqual([220, 30, 30]);
    expect(() => histogramChart(h, { width: 30, height: 20 })).toThrow('leaves no room for the plot');
  });
});
