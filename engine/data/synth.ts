// Synthetic captioned videos for training a tiny model (../shared/spec/training.md section 5): one coloured
// shape moving in a straight line over a plain background, captioned "a {colour} {shape} moving {direction} on a
// {background} background". Seeded and deterministic, anti-aliased by analytic coverage (signed distances), the
// whole shape inside the frame in every frame. About 10% of the attribute combinations are held out for
// evaluation (every single attribute value still appears in training: only the combination is new).
// Pure TypeScript (no Node imports): the same code renders in the browser.

import { mulberry32 } from '../mulberry32.js';

export type Rgb = readonly [number, number, number];

/** Foreground colours (the shape). */
export const SHAPE_COLOURS = { red: [220, 40, 40], green: [40, 170, 60], blue: [40, 80, 225], yellow: [240, 210, 40] } as const satisfies Record<string, Rgb>;
/** Background colours. A shape never has its background's colour ('blue' on 'blue' is not generated). */
export const BACKGROUND_COLOURS = { black: [16, 16, 16], white: [240, 240, 240], gray: [128, 128, 128], blue: [40, 80, 225] } as const satisfies Record<string, Rgb>;
export const SHAPES = ['circle', 'square', 'triangle'] as const;
export const DIRECTIONS = ['left', 'right', 'up', 'down'] as const;

export type ShapeColour = keyof typeof SHAPE_COLOURS;
export type BackgroundColour = keyof typeof BACKGROUND_COLOURS;
export type Shape = (typeof SHAPES)[number];
export type Direction = (typeof DIRECTIONS)[number];

export interface Attributes {
  colour: ShapeColour;
  shape: Shape;
  direction: Direction;
  background: BackgroundColour;
}

export interface ClipGeometry {
  /** Shape "radius" in pixels: circle radius, half the square's side, triangle circumradius. */
  radius: number;
  /** Centre in the first frame, pixels (x right, y down). */
  x0: number;
  y0: number;
  /** Displacement per frame in pixels (along the direction of motion). */
  speed: number;
}

export interface SynthClip {
  id: string;
  caption: string;
  attributes: Attributes;
  geometry: ClipGeometry;
  width: number;
  height: number;
  /** RGB frames, width*height*3 bytes each. */
  frames: Uint8Array[];
}

export interface SynthSize {
  width: number;
  height: number;
  frames: number;
}

export function caption(a: Attributes): string {
  return `a ${a.colour} ${a.shape} moving ${a.direction} on a ${a.background} background`;
}

/** Every valid attribute combination, in a fixed order. */
export function allCombinations(): Attributes[] {
  const out: Attributes[] = [];
  for (const colour of Object.keys(SHAPE_COLOURS) as ShapeColour[])
    for (const shape of SHAPES)
      for (const direction of DIRECTIONS)
        for (const background of Object.keys(BACKGROUND_COLOURS) as BackgroundColour[])
          if (colour !== background) out.push({ colour, shape, direction, background });
  return out;
}

const comboKey = (a: Attributes) => `${a.colour}|${a.shape}|${a.direction}|${a.background}`;

/**
 * The held-out combinations: a fixed, seed-independent ~10% chosen so that no two share three attributes (each
 * attribute value of a held-out prompt is seen in training in many other combinations).
 */
export function heldOutCombinations(fraction = 0.1): Attributes[] {
  const all = allCombinations();
  const want = Math.max(1, Math.round(all.length * fraction));
  const rand = mulberry32(0x5eed);
  const order = all.map((a) => ({ a, r: rand() })).sort((p, q) => p.r - q.r).map((p) => p.a);
  const chosen: Attributes[] = [];
  const same = (p: Attributes, q: Attributes) =>
    Number(p.colour === q.colour) + Number(p.shape === q.shape) + Number(p.direction === q.direction) + Number(p.background === q.background);
  for (const a of order) {
    if (chosen.length === want) break;
    if (chosen.every((c) => same(a, c) < 3)) chosen.push(a);
  }
  return chosen;
}

export function isHeldOut(a: Attributes, heldOut: readonly Attributes[] = heldOutCombinations()): boolean {
  const k = comboKey(a);
  return heldOut.some((h) => comboKey(h) === k);
}

/** Random geometry that keeps the whole shape inside the frame for all `frames` frames. */
export function randomGeometry(rand: () => number, dir: Direction, size: SynthSize): ClipGeometry {
  const { width: W, height: H, frames: F } = size;
  const m = Math.min(W, H);
  const radius = m * (0.14 + 0.06 * rand());
  const along = dir === 'left' || dir === 'right' ? W : H;
  const across = dir === 'left' || dir === 'right' ? H : W;
  const pad = radius + 1;
  // Travel between 40% and 70% of the free length over the clip, at least one pixel per frame.
  const free = along - 2 * pad;
  const travel = free * (0.4 + 0.3 * rand());
  const speed = Math.max(F > 1 ? travel / (F - 1) : 0, F > 1 ? 1 : 0);
  const total = speed * (F - 1);
  const start = pad + rand() * Math.max(0, free - total); // first-frame position along the axis, measured from the start side
  const side = pad + rand() * Math.max(0, across - 2 * pad);
  let x0: number, y0: number;
  if (dir === 'right') [x0, y0] = [start, side];
  else if (dir === 'left') [x0, y0] = [W - start, side];
  else if (dir === 'down') [x0, y0] = [side, start];
  else [x0, y0] = [side, H - start];
  return { radius, x0, y0, speed };
}

const DIR_VECTOR: Record<Direction, [number, number]> = { left: [-1, 0], right: [1, 0], up: [0, -1], down: [0, 1] };

/** Signed distance (pixels, negative inside) from (px, py) to the shape centred at (cx, cy). */
export function shapeDistance(shape: Shape, px: number, py: number, cx: number, cy: number, r: number): number {
  const dx = px - cx;
  const dy = py - cy;
  if (shape === 'circle') return Math.hypot(dx, dy) - r;
  if (shape === 'square') {
    const qx = Math.abs(dx) - r;
    const qy = Math.abs(dy) - r;
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0);
  }
  // Equilateral triangle pointing up, circumradius r: max of the three edge half-plane distances (exact inside,
  // a close upper bound outside near the corners, which only affects the anti-aliasing fringe).
  const inr = r / 2; // inradius
  const n = [
    [0, 1],
    [Math.sqrt(3) / 2, -0.5],
    [-Math.sqrt(3) / 2, -0.5],
  ];
  let d = -Infinity;
  for (const [nx, ny] of n) d = Math.max(d, dx * nx! + dy * ny! - inr);
  return d;
}

/** Renders one frame: analytic coverage clamp(0.5 - distance) blended over the background. */
export function renderFrame(a: Attributes, g: ClipGeometry, frame: number, width: number, height: number): Uint8Array {
  const [vx, vy] = DIR_VECTOR[a.direction];
  const cx = g.x0 + vx * g.speed * frame;
  const cy = g.y0 + vy * g.speed * frame;
  const fg = SHAPE_COLOURS[a.colour];
  const bg = BACKGROUND_COLOURS[a.background];
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const d = shapeDistance(a.shape, x + 0.5, y + 0.5, cx, cy, g.radius);
      const c = Math.min(1, Math.max(0, 0.5 - d));
      const o = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) out[o + k] = Math.round(bg[k]! + (fg[k]! - bg[k]!) * c);
    }
  }
  return out;
}

export function renderClip(id: string, a: Attributes, g: ClipGeometry, size: SynthSize): SynthClip {
  const frames: Uint8Array[] = [];
  for (let f = 0; f < size.frames; f++) frames.push(renderFrame(a, g, f, size.width, size.height));
  return { id, caption: caption(a), attributes: a, geometry: g, width: size.width, height: size.height, frames };
}

export interface SynthOptions extends SynthSize {
  count: number;
  seed: number;
  /** 'train' draws from the combinations that are not held out; 'heldout' only from the held-out ones. */
  split: 'train' | 'heldout';
}

/** The clips of a data set, generated lazily one at a time (clip i depends only on the seed and i). */
export function* synthClips(o: SynthOptions): Generator<SynthClip> {
  validateSize(o);
  const held = heldOutCombinations();
  const pool = o.split === 'heldout' ? held : allCombinations().filter((a) => !isHeldOut(a, held));
  for (let i = 0; i < o.count; i++) {
    const rand = mulberry32((Math.imul(o.seed >>> 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0);
    const a = pool[Math.floor(rand() * pool.length)]!;
    yield renderClip(`${o.split}-${String(i).padStart(6, '0')}`, a, randomGeometry(rand, a.direction, o), o);
  }
}

export function validateSize(o: SynthSize): void {
  for (const [k, v] of Object.entries({ width: o.width, height: o.height, frames: o.frames })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`synthetic data: ${k} must be a positive integer, got ${v}`);
  }
  if (Math.min(o.width, o.height) < 16) throw new Error(`synthetic data: frames of ${o.width}x${o.height} are too small for a readable shape (at least 16x16)`);
  if (o.frames < 2) throw new Error('synthetic data: at least 2 frames are needed to show motion');
}
