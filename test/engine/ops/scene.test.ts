// Scene statistics kernel (shaders/scene.wgsl) against its CPU reference, exactly (integer math): the per-pixel
// HSV/gray conversion over a colour grid that covers every branch and tie, and the per-frame sums on awkward sizes
// (pixel counts that are not multiples of the tile or of 4 bytes, several tiles), with poisoned outputs. The
// reference itself is checked against OpenCV's documented float formulas (within the integer rounding) and
// hand-worked colours here, and against OpenCV itself (opencv-js) in scene.opencv.test.ts.
import { describe, expect, it } from 'vitest';
import { sceneConvert, sceneDiff, sceneSums, sceneTiles, sumPartials, uploadRgb } from '../../../engine/ops/scene.js';
import { rgbToGrayRef, rgbToHsvRef, sceneConvertRef, sceneSumsRef } from '../../../engine/ops/scene.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/** OpenCV's documented 8-bit formulas in floating point (H = hue/2 in degrees, S = 255 (V - min)/V). */
function hsvFloat(r: number, g: number, b: number): [number, number, number] {
  const v = Math.max(r, g, b), mn = Math.min(r, g, b), d = v - mn;
  const s = v ? (255 * d) / v : 0;
  let h = 0;
  if (d) h = v === r ? (60 * (g - b)) / d : v === g ? 120 + (60 * (b - r)) / d : 240 + (60 * (r - g)) / d;
  if (h < 0) h += 360;
  return [h / 2, s, v];
}

describe('scene reference', () => {
  it('gives the hand-worked OpenCV values', () => {
    expect(rgbToHsvRef(255, 0, 0)).toEqual([0, 255, 255]);
    expect(rgbToHsvRef(0, 255, 0)).toEqual([60, 255, 255]);
    expect(rgbToHsvRef(0, 0, 255)).toEqual([120, 255, 255]);
    expect(rgbToHsvRef(255, 255, 0)).toEqual([30, 255, 255]);
    expect(rgbToHsvRef(255, 0, 255)).toEqual([150, 255, 255]);
    expect(rgbToHsvRef(128, 128, 128)).toEqual([0, 0, 128]);
    expect(rgbToHsvRef(0, 0, 0)).toEqual([0, 0, 0]);
    expect(rgbToGrayRef(255, 255, 255)).toBe(255);
    expect(rgbToGrayRef(255, 0, 0)).toBe(76); // 0.299 * 255 = 76.2
  });

  it('matches the float formulas within the integer rounding on a colour grid', () => {
    // Worst deviations over the grid, asserted once (an expect per pixel is slow).
    let worstS = 0, worstH = 0, badV = 0, badRange = 0;
    for (let r = 0; r < 256; r += 5)
      for (let g = 0; g < 256; g += 7)
        for (let b = 0; b < 256; b += 3) {
          const [h, s, v] = rgbToHsvRef(r, g, b);
          const [hf, sf, vf] = hsvFloat(r, g, b);
          if (v !== vf) badV++;
          worstS = Math.max(worstS, Math.abs(s - sf));
          const dh = Math.abs(h - hf);
          worstH = Math.max(worstH, Math.min(dh, 180 - dh)); // hue wraps at 180: 179.7 may round to 180 -> 0
          if (!(h >= 0 && h < 180)) badRange++;
        }
    expect([badV, badRange]).toEqual([0, 0]);
    // Rounding to an integer (0.5) plus the rounded division tables: |numerator| * 0.5 / 2^12.
    expect(worstS).toBeLessThanOrEqual(0.5 + (255 * 0.5) / 4096);
    expect(worstH).toBeLessThanOrEqual(0.5 + (5 * 255 * 0.5) / 4096);
    expect(worstH).toBeGreaterThan(0.4); // the grid does reach the rounding bound (the check is not vacuous)
  });
});

describe('scene kernel', () => {
  it('converts every branch exactly: grid of colours with ties (r=g, g=b, r=b, grays, 0 and 255)', async () => {
    const device = await testDevice();
    const vals = [0, 1, 2, 3, 5, 17, 63, 64, 100, 127, 128, 129, 200, 254, 255];
    const px: number[] = [];
    for (const r of vals) for (const g of vals) for (const b of vals) px.push(r, g, b);
    const extra = randomBytes(3 * 4099, 1); // plus random colours, pixel count not a multiple of 256 or 4
    const bytes = Uint8Array.from([...px, ...extra]);
    const pixels = bytes.length / 3;
    const rgb = uploadRgb(device, bytes, 1, pixels);
    const out = Tensor.empty(device, [pixels], 'u32').poison();
    sceneConvert(rgb, 1, pixels, out);
    const got = new Uint32Array(await out.readRaw());
    const want = sceneConvertRef(bytes, pixels);
    let bad = -1;
    for (let i = 0; i < pixels; i++) if (got[i] !== want[i]) { bad = i; break; }
    expect(bad, bad >= 0 ? `pixel ${bad} rgb ${bytes.subarray(3 * bad, 3 * bad + 3).join(',')}: got ${got[bad]!.toString(16)} want ${want[bad]!.toString(16)}` : '').toBe(-1);
  });

  for (const [w, h, n, tile] of [[37, 23, 5, 256], [13, 7, 3, 4096], [64, 48, 4, 512], [33, 31, 2, 768]] as const) {
    it(`per-frame sums equal the reference exactly: ${w}x${h}, ${n} frames, tile ${tile} (${sceneTiles(w * h, tile)} tiles)`, async () => {
      const device = await testDevice();
      const pixels = w * h;
      // Random frames, a repeated frame (diff exactly 0) and a gray frame.
      const bytes = randomBytes(n * pixels * 3, 10 + w);
      bytes.copyWithin(pixels * 3, 0, pixels * 3);
      if (n > 2) bytes.fill(77, 2 * pixels * 3, 3 * pixels * 3);
      const rgb = uploadRgb(device, bytes, n, pixels);
      const hsvg = sceneConvert(rgb, n, pixels, Tensor.empty(device, [n * pixels], 'u32').poison());
      const tiles = sceneTiles(pixels, tile);
      const part = sceneDiff(rgb, hsvg, n, pixels, { tile, out: Tensor.empty(device, [n, tiles, 6], 'u32').poison() });
      const raw = new Uint32Array(await part.readRaw());
      // Poisoned u32s read 0xFFFFFFFF: no partial may keep it (the largest true partial is tile*765 < 2^22).
      expect(raw.every((x) => x < 2 ** 31)).toBe(true);
      const got = sumPartials(raw, n, pixels, tiles);
      const want = sceneSumsRef(bytes, n, pixels);
      for (const k of ['dh', 'ds', 'dv', 'dgray', 'sumRgb', 'sumGray'] as const) expect([...got[k]], k).toEqual([...want[k]]);
      expect(want.dh[1]).toBe(0);
      expect(want.dv[0]).toBe(0);
      expect(want.dv[2] ?? 1).toBeGreaterThan(0);
    });
  }

  it('sceneSums runs the whole stage; bad shapes are named', async () => {
    const device = await testDevice();
    const bytes = randomBytes(3 * 10 * 9, 5);
    const s = await sceneSums(device, bytes, 3, 30, 256);
    expect([...s.ds]).toEqual([...sceneSumsRef(bytes, 3, 30).ds]);
    expect(() => uploadRgb(device, bytes, 4, 30)).toThrow(/270 bytes for 4 frames of 30 pixels/);
    const rgb = uploadRgb(device, bytes, 3, 30);
    expect(() => sceneDiff(rgb, Tensor.empty(device, [89], 'u32'), 3, 30)).toThrow(/hsvg must be u32\[90\]/);
    expect(() => sceneDiff(rgb, Tensor.empty(device, [90], 'u32'), 3, 30, { tile: 300 })).toThrow(/multiple of 256/);
  });
});
