// latentPreview against a float64 reference of rgb = W^T x + b mapped [-1,1] -> [0,255]; PNG round trip.
import { decode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { encodeRgbaPng, latentPreview, SD3_LATENT_RGB_BIAS, SD3_LATENT_RGB_FACTORS } from '../../server/latent-preview.js';

function reference(lat: Float64Array, F: number, C: number, h: number, w: number, frame: number, W: number[][], b: number[]): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) {
        let s = b[k];
        for (let c = 0; c < C; c++) s += lat[((frame * C + c) * h + y) * w + x] * W[c][k];
        out.push(Math.round(Math.min(1, Math.max(0, (s + 1) / 2)) * 255));
      }
      out.push(255);
    }
  return out;
}

describe('latentPreview', () => {
  it('matches a float64 reference on random latents of awkward shapes', () => {
    for (const [F, h, w] of [
      [1, 1, 1],
      [3, 7, 5],
      [2, 13, 17],
    ]) {
      const C = 16;
      const lat64 = Float64Array.from({ length: F * C * h * w }, () => (Math.random() * 2 - 1) * 6);
      const lat32 = Float32Array.from(lat64);
      const frame = F - 1;
      const img = latentPreview(lat32, { frames: F, channels: C, height: h, width: w }, { frame });
      expect(img.width).toBe(w);
      expect(img.height).toBe(h);
      const ref = reference(Float64Array.from(lat32), F, C, h, w, frame, SD3_LATENT_RGB_FACTORS.map((r) => [...r]), [...SD3_LATENT_RGB_BIAS]);
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i] - img.rgba[i]));
      expect(maxDiff).toBeLessThanOrEqual(1); // float32 accumulation may flip a rounding
    }
  });

  it('uses custom factors (3-channel identity maps latent straight to colour)', () => {
    const lat = Float32Array.from([-1, 0, 1, 0.5, -0.5, 2]); // [1,3,1,2]
    const img = latentPreview(lat, { frames: 1, channels: 3, height: 1, width: 2 }, {
      factors: [
        [1, 0, 0],
        [0, 1, 0],
        [0, 0, 1],
      ],
      bias: [0, 0, 0],
    });
    // pixel0 = (-1, 1, -0.5) -> (0, 255, 64); pixel1 = (0, 0.5, 2) -> (128, 191, 255)
    expect([...img.rgba]).toEqual([0, 255, 64, 255, 128, 191, 255, 255]);
  });

  it('names the problem on bad shapes', () => {
    expect(() => latentPreview(new Float32Array(10), { frames: 1, channels: 16, height: 1, width: 1 })).toThrow(/length 10/);
    expect(() => latentPreview(new Float32Array(4), { frames: 1, channels: 4, height: 1, width: 1 })).toThrow(/16 rows/);
    expect(() => latentPreview(new Float32Array(16), { frames: 1, channels: 16, height: 1, width: 1 }, { frame: 1 })).toThrow(/frame 1/);
  });

  it('encodes a PNG that decodes back to the same pixels', () => {
    const w = 11;
    const h = 6;
    const rgba = Uint8Array.from({ length: w * h * 4 }, () => Math.floor(Math.random() * 256));
    const png = encodeRgbaPng({ width: w, height: h, rgba });
    expect([...png.slice(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const back = decode(png);
    expect(back.width).toBe(w);
    expect(back.height).toBe(h);
    expect(back.channels).toBe(4);
    expect([...back.data]).toEqual([...rgba]);
  });
});
