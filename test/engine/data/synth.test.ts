// Synthetic data: combinations and the held-out split, determinism, shapes inside the frame, and the rendering
// checked against an independent supersampled point-in-shape reference.
import { describe, expect, it } from 'vitest';
import {
  BACKGROUND_COLOURS, DIRECTIONS, SHAPE_COLOURS, SHAPES, allCombinations, caption, heldOutCombinations, isHeldOut, renderFrame, synthClips,
  type Attributes, type ClipGeometry, type Shape,
} from '../../../engine/data/synth.js';

const key = (a: Attributes) => `${a.colour}|${a.shape}|${a.direction}|${a.background}`;

describe('synthetic data: combinations', () => {
  it('lists every colour x shape x direction x background once, never a shape on its own colour', () => {
    const all = allCombinations();
    const nc = Object.keys(SHAPE_COLOURS).length, nb = Object.keys(BACKGROUND_COLOURS).length;
    const shared = Object.keys(SHAPE_COLOURS).filter((c) => c in BACKGROUND_COLOURS).length;
    expect(all.length).toBe((nc * nb - shared) * SHAPES.length * DIRECTIONS.length);
    expect(new Set(all.map(key)).size).toBe(all.length);
    expect(all.some((a) => (a.colour as string) === a.background)).toBe(false);
  });

  it('holds out about 10%, fixed, each pair of held-out combinations differing in at least two attributes', () => {
    const all = allCombinations();
    const held = heldOutCombinations();
    expect(held.length).toBe(Math.round(all.length * 0.1));
    expect(heldOutCombinations().map(key)).toEqual(held.map(key));
    for (let i = 0; i < held.length; i++)
      for (let j = i + 1; j < held.length; j++) {
        const [p, q] = [held[i]!, held[j]!];
        const same = +(p.colour === q.colour) + +(p.shape === q.shape) + +(p.direction === q.direction) + +(p.background === q.background);
        expect(same).toBeLessThan(3);
      }
    // Every attribute value of every held-out prompt appears in training.
    const train = all.filter((a) => !isHeldOut(a, held));
    for (const h of held) for (const k of ['colour', 'shape', 'direction', 'background'] as const) expect(train.some((a) => a[k] === h[k])).toBe(true);
  });

  it('captions spell the attributes', () => {
    expect(caption({ colour: 'red', shape: 'circle', direction: 'left', background: 'blue' })).toBe('a red circle moving left on a blue background');
  });
});

describe('synthetic data: clips', () => {
  const size = { width: 40, height: 28, frames: 5 };

  it('is deterministic per seed and index, and the splits never mix', () => {
    const a = [...synthClips({ ...size, count: 6, seed: 3, split: 'train' })];
    const b = [...synthClips({ ...size, count: 6, seed: 3, split: 'train' })];
    const c = [...synthClips({ ...size, count: 6, seed: 4, split: 'train' })];
    expect(a.map((x) => x.frames.map((f) => Buffer.from(f).toString('base64')).join())).toEqual(b.map((x) => x.frames.map((f) => Buffer.from(f).toString('base64')).join()));
    expect(a.map((x) => x.caption + x.geometry.x0)).not.toEqual(c.map((x) => x.caption + x.geometry.x0));
    const held = heldOutCombinations();
    for (const x of synthClips({ ...size, count: 40, seed: 9, split: 'train' })) expect(isHeldOut(x.attributes, held)).toBe(false);
    for (const x of synthClips({ ...size, count: 10, seed: 9, split: 'heldout' })) expect(isHeldOut(x.attributes, held)).toBe(true);
  });

  it('keeps the whole shape inside the frame in every frame (the border is pure background)', () => {
    for (const clip of synthClips({ ...size, count: 30, seed: 11, split: 'train' })) {
      const bg = BACKGROUND_COLOURS[clip.attributes.background];
      for (const f of clip.frames) {
        for (let x = 0; x < size.width; x++)
          for (const y of [0, size.height - 1]) expect([...f.subarray((y * size.width + x) * 3, (y * size.width + x) * 3 + 3)]).toEqual([...bg]);
        for (let y = 0; y < size.height; y++)
          for (const x of [0, size.width - 1]) expect([...f.subarray((y * size.width + x) * 3, (y * size.width + x) * 3 + 3)]).toEqual([...bg]);
      }
    }
  });

  it('renders the coverage of an independent supersampled point-in-shape reference', () => {
    // Reference: the fraction of 16x16 sample points per pixel inside the shape (circle, square, or the triangle
    // with vertices on the circumcircle at -90, 30 and 150 degrees).
    const inside = (shape: Shape, x: number, y: number, r: number): boolean => {
      if (shape === 'circle') return x * x + y * y < r * r;
      if (shape === 'square') return Math.abs(x) < r && Math.abs(y) < r;
      const v = [-90, 30, 150].map((deg) => [r * Math.cos((deg * Math.PI) / 180), r * Math.sin((deg * Math.PI) / 180)] as const);
      const s = (p: readonly number[], q: readonly number[]) => (q[0]! - p[0]!) * (y - p[1]!) - (q[1]! - p[1]!) * (x - p[0]!);
      const d = [s(v[0]!, v[1]!), s(v[1]!, v[2]!), s(v[2]!, v[0]!)];
      return d.every((t) => t > 0) || d.every((t) => t < 0);
    };
    const W = 24, H = 20;
    for (const shape of SHAPES) {
      const a: Attributes = { colour: 'yellow', shape, direction: 'right', background: 'black' };
      const g: ClipGeometry = { radius: 6.3, x0: 10.37, y0: 9.81, speed: 1.6 };
      const frame = renderFrame(a, g, 1, W, H);
      const fg = SHAPE_COLOURS.yellow, bg = BACKGROUND_COLOURS.black;
      let sumErr = 0, maxErr = 0;
      for (let py = 0; py < H; py++)
        for (let px = 0; px < W; px++) {
          let n = 0;
          for (let sy = 0; sy < 16; sy++)
            for (let sx = 0; sx < 16; sx++) if (inside(shape, px + (sx + 0.5) / 16 - (g.x0 + g.speed), py + (sy + 0.5) / 16 - g.y0, g.radius)) n++;
          const want = n / 256;
          const got = (frame[(py * W + px) * 3]! - bg[0]) / (fg[0] - bg[0]);
          sumErr += Math.abs(got - want);
          maxErr = Math.max(maxErr, Math.abs(got - want));
        }
      // Analytic coverage is exact away from edges and corners; the area it covers matches to within a pixel's worth.
      expect(maxErr, shape).toBeLessThan(0.35);
      expect(sumErr, shape).toBeLessThan(shape === 'triangle' ? 3 : 2);
    }
  });

  it('refuses sizes too small to show a shape or motion', () => {
    expect(() => [...synthClips({ width: 8, height: 64, frames: 4, count: 1, seed: 0, split: 'train' })]).toThrow(/too small/);
    expect(() => [...synthClips({ width: 64, height: 64, frames: 1, count: 1, seed: 0, split: 'train' })]).toThrow(/at least 2 frames/);
  });
});
