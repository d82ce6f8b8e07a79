// The cv2.INTER_LINEAR resize that ViCLIP's and Panda-70M's preprocessing call (engine/data/resize-linear.ts) against
// OpenCV itself (opencv-js 4.5): downscales by awkward and integer factors (x2 takes OpenCV's area path, the same
// average) and one-axis changes are equal byte for byte on random frames and smooth ramps; upscales are at most one
// level apart on under 5% of the bytes (OpenCV's scalar tail of each row rounds differently).
import { beforeAll, describe, expect, it } from 'vitest';
import { resizeLinear } from '../../../engine/data/resize-linear.js';
import { loadOpenCv, matFrom, withMats, type OpenCv } from '../../helpers/opencv.js';
import { rng } from '../../helpers/random.js';

let cv: OpenCv;
beforeAll(async () => {
  ({ cv } = await loadOpenCv());
}, 60_000);

function opencvResize(rgb: Uint8Array, w: number, h: number, ow: number, oh: number): Uint8Array {
  return withMats((keep) => {
    const src = keep(matFrom(cv, rgb, h, w, 3));
    const dst = keep(new cv.Mat());
    cv.resize(src, dst, new cv.Size(ow, oh), 0, 0, cv.INTER_LINEAR);
    expect([dst.cols, dst.rows]).toEqual([ow, oh]);
    return dst.data.slice();
  });
}

describe('resizeLinear vs cv2.resize INTER_LINEAR', () => {
  const cases: [number, number, number, number][] = [
    [97, 61, 30, 30], [640, 360, 224, 224], [60, 60, 30, 30], [23, 17, 30, 30], [50, 31, 50, 20], [7, 5, 224, 224], [224, 224, 224, 224],
  ];
  for (const [w, h, ow, oh] of cases) {
    it(`${w}x${h} -> ${ow}x${oh}`, () => {
      const r = rng(w * 1000 + h);
      const noise = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256));
      const ramp = Uint8Array.from({ length: w * h * 3 }, (_, i) => {
        const p = Math.floor(i / 3), x = p % w, y = Math.floor(p / w);
        return [(x * 255) / Math.max(1, w - 1), (y * 255) / Math.max(1, h - 1), ((x + y) * 7) % 256][i % 3]!;
      });
      for (const [name, img] of [['noise', noise], ['ramp', ramp]] as const) {
        const got = resizeLinear(img, w, h, ow, oh);
        const want = opencvResize(img, w, h, ow, oh);
        let worst = 0, off = 0;
        for (let i = 0; i < want.length; i++) {
          const d = Math.abs(got[i]! - want[i]!);
          worst = Math.max(worst, d);
          if (d) off++;
        }
        expect(worst, `${name}: largest difference`).toBeLessThanOrEqual(ow <= w && oh <= h ? 0 : 1);
        expect(off / want.length, `${name}: share of values off by one`).toBeLessThan(0.05);
      }
    });
  }
  it('refuses a buffer of the wrong size', () => {
    expect(() => resizeLinear(new Uint8Array(10), 4, 4, 2, 2)).toThrow('10 bytes for a 4x4 RGB frame');
  });
});
