// CLIP preprocessing (CLIPImageProcessor semantics): output sizes of the shorter-side resize, PIL's bicubic taps
// (normalised, identity at scale 1, linear ramps kept), the centre crop's offsets and CLIP's normalisation.
import { describe, expect, it } from 'vitest';
import { CLIP_MEAN, CLIP_STD, bicubic, clipPreprocess, clipResizeSize, resampleTaps, resizeBicubic } from '../../../engine/data/clip-preprocess.js';

describe('CLIP preprocessing', () => {
  it('sizes: shorter side to size, the longer truncated as HF does', () => {
    expect(clipResizeSize(640, 360, 224)).toEqual([398, 224]); // int(224 * 640 / 360) = 398
    expect(clipResizeSize(360, 640, 224)).toEqual([224, 398]);
    expect(clipResizeSize(37, 23, 30)).toEqual([48, 30]); // 48.26
    expect(clipResizeSize(50, 50, 30)).toEqual([30, 30]);
  });

  it("PIL's kernel: 1 at 0, 0 at the other integers, taps normalised; identity at scale 1", () => {
    expect([bicubic(0), bicubic(1), bicubic(2), bicubic(-1), bicubic(3)].map((v) => v + 0)).toEqual([1, 0, 0, 0, 0]);
    expect(bicubic(0.5)).toBeCloseTo(0.5625, 12); // ((1.5 * 0.5) - 2.5) * 0.25 + 1
    for (const [i, o] of [[37, 13], [13, 37], [224, 224], [398, 224]] as const) {
      for (const t of resampleTaps(i, o)) {
        expect(t.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        expect(t.start).toBeGreaterThanOrEqual(0);
        expect(t.start + t.weights.length).toBeLessThanOrEqual(i);
      }
    }
    const rgb = Uint8Array.from({ length: 7 * 5 * 3 }, (_, k) => (k * 37) % 256);
    expect(Array.from(resizeBicubic(rgb, 7, 5, 7, 5))).toEqual(Array.from(rgb));
  });

  it('keeps a linear ramp when shrinking 2x (away from the borders) and a constant everywhere', () => {
    // v(x) = 2x: the output pixel o sits at input position 2o + 0.5, so the ramp gives 4o + 1
    const w = 64, h = 4;
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.fill(2 * x, (y * w + x) * 3, (y * w + x) * 3 + 3);
    const out = resizeBicubic(rgb, w, h, 32, 2);
    for (let o = 2; o < 30; o++) expect(out[(1 * 32 + o) * 3], `o=${o}`).toBe(4 * o + 1);
    const flat = new Uint8Array(23 * 37 * 3).fill(77);
    expect(new Set(resizeBicubic(flat, 37, 23, 19, 11))).toEqual(new Set([77]));
  });

  it('crops the centre and normalises with CLIP mean/std (CHW)', () => {
    // 40 x 20 with column index x in R, row index in G, 9 in B; size 20: no resize, crop left = 10, top = 0
    const w = 41, h = 20;
    const rgb = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set([x, y, 9], (y * w + x) * 3);
    const out = clipPreprocess(rgb, w, h, 20);
    expect(out.length).toBe(3 * 20 * 20);
    const norm = (v: number, c: number) => (v / 255 - CLIP_MEAN[c]!) / CLIP_STD[c]!;
    for (const [y, x] of [[0, 0], [19, 19], [7, 3]] as const) {
      expect(out[(0 * 20 + y) * 20 + x]).toBeCloseTo(norm(x + 10, 0), 5); // floor((41 - 20) / 2) = 10
      expect(out[(1 * 20 + y) * 20 + x]).toBeCloseTo(norm(y, 1), 5);
      expect(out[(2 * 20 + y) * 20 + x]).toBeCloseTo(norm(9, 2), 5);
    }
    expect(() => clipPreprocess(rgb, 40, 20, 20)).toThrow('2460 bytes for a 40x20 RGB frame');
  });
});
