// The scene statistics' CPU reference (engine/ops/scene.ref.ts, which the WGSL kernel equals exactly) against
// OpenCV itself (opencv-js, WebAssembly): cvtColor RGB2HSV and RGB2GRAY on every one of the 2^24 8-bit colours, and
// the per-frame sums (|dH|, |dS|, |dV|, |dGray|, R+G+B, gray) against cvtColor + absdiff (summed here) on random and
// edge-case frames of an awkward size. PySceneDetect converts BGR frames with COLOR_BGR2HSV: the same numbers.
import { beforeAll, describe, expect, it } from 'vitest';
import { sceneConvertRef, sceneSumsRef } from '../../../engine/ops/scene.ref.js';
import { loadOpenCv, matFrom, withMats, type CvMat, type OpenCv } from '../../helpers/opencv.js';
import { rng } from '../../helpers/random.js';

let cv: OpenCv;
beforeAll(async () => {
  ({ cv } = await loadOpenCv());
}, 60_000);

/** OpenCV's H, S, V and gray planes of an RGB image, interleaved per pixel as [h, s, v, gray]. */
/** Per-channel sums of a Mat's bytes (opencv.js 4.5 has no sumElems). */
function channelSums(m: CvMat, channels: number): number[] {
  const d = m.data;
  const out = new Array<number>(channels).fill(0);
  for (let i = 0; i < d.length; i++) out[i % channels]! += d[i]!;
  return out;
}

function opencvConvert(rgb: Uint8Array, rows: number, cols: number): Uint8Array {
  return withMats((keep) => {
    const src = keep(matFrom(cv, rgb, rows, cols, 3));
    const hsv = keep(new cv.Mat());
    const gray = keep(new cv.Mat());
    cv.cvtColor(src, hsv, cv.COLOR_RGB2HSV);
    cv.cvtColor(src, gray, cv.COLOR_RGB2GRAY);
    const n = rows * cols;
    // Mat.data is a getter that makes a new view on every access: take it once.
    const h = hsv.data, g = gray.data;
    expect([h.length, g.length]).toEqual([3 * n, n]);
    const out = new Uint8Array(4 * n);
    for (let i = 0; i < n; i++) {
      out[4 * i] = h[3 * i]!;
      out[4 * i + 1] = h[3 * i + 1]!;
      out[4 * i + 2] = h[3 * i + 2]!;
      out[4 * i + 3] = g[i]!;
    }
    return out;
  });
}

describe('scene reference vs OpenCV (opencv-js)', () => {
  it('HSV and gray equal cvtColor for all 2^24 RGB colours', () => {
    // 16 slabs of 2^20 colours (R from 16k to 16k+15, every G and B), as 256-row images.
    const cols = 4096;
    const rows = 256;
    const rgb = new Uint8Array(rows * cols * 3);
    let checked = 0;
    const bad: string[] = [];
    for (let slab = 0; slab < 16; slab++) {
      for (let i = 0; i < rows * cols; i++) {
        rgb[3 * i] = slab * 16 + (i >> 16);
        rgb[3 * i + 1] = (i >> 8) & 255;
        rgb[3 * i + 2] = i & 255;
      }
      const ours = sceneConvertRef(rgb, rows * cols);
      const theirs = opencvConvert(rgb, rows, cols);
      for (let i = 0; i < rows * cols; i++) {
        const p = ours[i]!;
        const q = theirs.subarray(4 * i, 4 * i + 4);
        if ((p & 255) !== q[0] || ((p >>> 8) & 255) !== q[1] || ((p >>> 16) & 255) !== q[2] || p >>> 24 !== q[3]) {
          if (bad.length < 5) bad.push(`rgb(${rgb[3 * i]}, ${rgb[3 * i + 1]}, ${rgb[3 * i + 2]}): ours hsv+gray ${[p & 255, (p >>> 8) & 255, (p >>> 16) & 255, p >>> 24]}, OpenCV ${[...q]}`);
        }
        checked++;
      }
    }
    expect(bad).toEqual([]);
    expect(checked).toBe(2 ** 24);
  }, 120_000);

  it("per-frame sums equal the sums of OpenCV's absdiff on random and edge-case frames (37 x 23)", () => {
    const rows = 23, cols = 37, n = rows * cols;
    const r = rng(13);
    const edge = new Uint8Array(3 * n);
    const specials = [0, 1, 2, 127, 128, 254, 255];
    for (let i = 0; i < n; i++) {
      // greys (S = 0, H undefined), primaries and secondaries, one-off-from-grey colours, dark and bright extremes
      const a = specials[i % 7]!, b = specials[(i >> 3) % 7]!, c = specials[(i >> 6) % 7]!;
      edge.set([a, b, c], 3 * i);
    }
    const random = (bias: number) => Uint8Array.from({ length: 3 * n }, () => Math.min(255, Math.floor(r() * 256 * bias)));
    const flat = new Uint8Array(3 * n).fill(200);
    const frames = [edge, random(1), random(0.2), flat, random(1), edge];
    const all = new Uint8Array(frames.length * 3 * n);
    frames.forEach((f, t) => all.set(f, t * 3 * n));
    const ours = sceneSumsRef(all, frames.length, n);
    withMats((keep) => {
      const mats = frames.map((f) => {
        const src = keep(matFrom(cv, f, rows, cols, 3));
        const hsv = keep(new cv.Mat());
        const gray = keep(new cv.Mat());
        cv.cvtColor(src, hsv, cv.COLOR_RGB2HSV);
        cv.cvtColor(src, gray, cv.COLOR_RGB2GRAY);
        return { src, hsv, gray };
      });
      mats.forEach((m, t) => {
        const s = channelSums(m.src, 3);
        expect(ours.sumRgb[t], `sum rgb, frame ${t}`).toBe(s[0]! + s[1]! + s[2]!);
        expect(ours.sumGray[t], `sum gray, frame ${t}`).toBe(channelSums(m.gray, 1)[0]);
        if (t === 0) {
          expect([ours.dh[0], ours.ds[0], ours.dv[0], ours.dgray[0]]).toEqual([0, 0, 0, 0]);
          return;
        }
        const dhsv = keep(new cv.Mat());
        const dgray = keep(new cv.Mat());
        cv.absdiff(m.hsv, mats[t - 1]!.hsv, dhsv);
        cv.absdiff(m.gray, mats[t - 1]!.gray, dgray);
        const d = channelSums(dhsv, 3);
        expect([ours.dh[t], ours.ds[t], ours.dv[t], ours.dgray[t]], `diffs, frame ${t}`).toEqual([...d, channelSums(dgray, 1)[0]]);
        expect(d[0]! + d[1]! + d[2]!, `frame ${t} differs from frame ${t - 1}`).toBeGreaterThan(0);
      });
    });
  });

  it("PySceneDetect's BGR2HSV on BGR frames gives the same planes as RGB2HSV on RGB", () => {
    const rows = 9, cols = 31, n = rows * cols;
    const r = rng(5);
    const rgb = Uint8Array.from({ length: 3 * n }, () => Math.floor(r() * 256));
    const bgr = new Uint8Array(3 * n);
    for (let i = 0; i < n; i++) bgr.set([rgb[3 * i + 2]!, rgb[3 * i + 1]!, rgb[3 * i]!], 3 * i);
    const ours = sceneConvertRef(rgb, n);
    withMats((keep) => {
      const hsv = keep(new cv.Mat());
      cv.cvtColor(keep(matFrom(cv, bgr, rows, cols, 3)), hsv, cv.COLOR_BGR2HSV);
      const planes = Array.from(ours, (p) => [p & 255, (p >>> 8) & 255, (p >>> 16) & 255]).flat();
      expect(Array.from(hsv.data)).toEqual(planes);
    });
  });
});
