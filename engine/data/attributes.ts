// Reads the attributes of a synthetic clip back from its pixels (training.md section 5: prompt-following is
// measured, not eyeballed): the background is the border's median colour, the foreground is what differs from it
// (a soft mask), its colour the nearest palette colour of its solid pixels, its shape from where its centroid sits
// in its bounding box and how much of the box it fills, its direction from the centroid's travel. Works on generated
// videos too: every frame votes, and a frame without a readable foreground reads as 'none'.

import { BACKGROUND_COLOURS, SHAPE_COLOURS, type BackgroundColour, type Direction, type Rgb, type Shape, type ShapeColour } from './synth.js';

export interface FrameReading {
  background: BackgroundColour;
  /** null when no foreground was found. */
  colour: ShapeColour | null;
  shape: Shape | null;
  /** Centroid of the soft mask, pixels. */
  cx: number;
  cy: number;
  /** Soft-mask area in pixels. */
  area: number;
  /** Soft-mask area / bounding-box area of the half-covered pixels. */
  fill: number;
  /** (centroid y - bounding-box middle) / bounding-box height. */
  drop: number;
}

export interface ClipReading {
  background: BackgroundColour;
  colour: ShapeColour | 'none';
  shape: Shape | 'none';
  direction: Direction | 'none';
  frames: FrameReading[];
}

const dist2 = (a: ArrayLike<number>, b: ArrayLike<number>) => (a[0]! - b[0]!) ** 2 + (a[1]! - b[1]!) ** 2 + (a[2]! - b[2]!) ** 2;

function nearest<K extends string>(palette: Record<K, Rgb>, c: ArrayLike<number>, exclude?: string): K {
  let best: K | null = null;
  let bd = Infinity;
  for (const k of Object.keys(palette) as K[]) {
    if (k === exclude) continue;
    const d = dist2(palette[k], c);
    if (d < bd) [best, bd] = [k, d];
  }
  return best!;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/**
 * Classifies a shape from two scale-free measures of its mask: `drop`, how far the centroid sits below the middle of
 * the bounding box as a fraction of its height (an upright triangle 1/6, a circle or square 0), and `fill`, the share
 * of the bounding box it covers (square 1, circle pi/4, triangle 1/2).
 */
export function shapeFromMeasures(fill: number, drop: number): Shape {
  if (drop > 1 / 12 || fill < 0.56) return 'triangle';
  return fill > (1 + Math.PI / 4) / 2 ? 'square' : 'circle';
}

/** Reads one RGB frame. */
export function readFrame(rgb: Uint8Array, width: number, height: number): FrameReading {
  const border: [number[], number[], number[]] = [[], [], []];
  const push = (x: number, y: number) => {
    const o = (y * width + x) * 3;
    for (let k = 0; k < 3; k++) border[k]!.push(rgb[o + k]!);
  };
  for (let x = 0; x < width; x++) {
    push(x, 0);
    push(x, height - 1);
  }
  for (let y = 1; y < height - 1; y++) {
    push(0, y);
    push(width - 1, y);
  }
  const bgSeen = border.map(median);
  const background = nearest(BACKGROUND_COLOURS, bgSeen);
  // Soft mask: how far each pixel is from the background, relative to the farthest one (a shape is a solid colour).
  const n = width * height;
  const d = new Float64Array(n);
  let dmax = 0;
  for (let i = 0; i < n; i++) {
    const o = 3 * i;
    d[i] = Math.sqrt((rgb[o]! - bgSeen[0]!) ** 2 + (rgb[o + 1]! - bgSeen[1]!) ** 2 + (rgb[o + 2]! - bgSeen[2]!) ** 2);
    if (d[i]! > dmax) dmax = d[i]!;
  }
  const none: FrameReading = { background, colour: null, shape: null, cx: NaN, cy: NaN, area: 0, fill: 0, drop: 0 };
  if (dmax < 48) return none; // nothing stands out from the background
  let area = 0, sx = 0, sy = 0;
  let x0 = width, x1 = -1, y0 = height, y1 = -1, solid = 0;
  const sum = [0, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const m = Math.min(1, Math.max(0, (d[i]! / dmax - 0.15) / 0.7));
      area += m;
      sx += m * (x + 0.5);
      sy += m * (y + 0.5);
      if (m >= 0.5) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
      if (m >= 0.9) {
        solid++;
        for (let k = 0; k < 3; k++) sum[k]! += rgb[3 * i + k]!;
      }
    }
  }
  if (area < 4 || x1 < 0) return none;
  const mean = solid ? sum.map((s) => s / solid) : bgSeen;
  const fill = area / ((x1 - x0 + 1) * (y1 - y0 + 1));
  const cy = sy / area;
  const drop = (cy - (y0 + y1 + 1) / 2) / (y1 - y0 + 1);
  return { background, colour: nearest(SHAPE_COLOURS, mean, background), shape: shapeFromMeasures(fill, drop), cx: sx / area, cy, area, fill, drop };
}

function vote<T extends string>(items: (T | null)[]): T | 'none' {
  const counts = new Map<T, number>();
  for (const it of items) if (it) counts.set(it, (counts.get(it) ?? 0) + 1);
  let best: T | 'none' = 'none';
  let bc = 0;
  for (const [k, c] of counts) if (c > bc) [best, bc] = [k, c];
  return best;
}

/** Reads a clip: per-frame readings, majority votes, and the direction from a least-squares fit of the centroid. */
export function readClip(frames: readonly Uint8Array[], width: number, height: number): ClipReading {
  const readings = frames.map((f) => readFrame(f, width, height));
  const background = vote(readings.map((r) => r.background)) as BackgroundColour;
  const seen = readings.map((r, t) => ({ r, t })).filter(({ r }) => r.colour !== null);
  let direction: Direction | 'none' = 'none';
  if (seen.length >= 2) {
    // Slopes of x(t) and y(t) by least squares (pixels per frame).
    const tm = seen.reduce((s, p) => s + p.t, 0) / seen.length;
    const xm = seen.reduce((s, p) => s + p.r.cx, 0) / seen.length;
    const ym = seen.reduce((s, p) => s + p.r.cy, 0) / seen.length;
    let stt = 0, stx = 0, sty = 0;
    for (const { r, t } of seen) {
      stt += (t - tm) ** 2;
      stx += (t - tm) * (r.cx - xm);
      sty += (t - tm) * (r.cy - ym);
    }
    const vx = stx / stt;
    const vy = sty / stt;
    const speed = Math.hypot(vx, vy);
    // Below a tenth of a pixel per frame the shape is not moving in any readable direction.
    if (speed >= 0.1) direction = Math.abs(vx) >= Math.abs(vy) ? (vx > 0 ? 'right' : 'left') : vy > 0 ? 'down' : 'up';
  }
  return {
    background,
    colour: vote(readings.map((r) => r.colour)),
    shape: vote(readings.map((r) => r.shape)),
    direction,
    frames: readings,
  };
}
