// The edge channel's CPU implementation (engine/data/edges.ts) against OpenCV itself (opencv-js 4.5, WebAssembly):
// Canny (aperture 3, L1) on random planes, smooth blobs, stripes at every angle, flat and tiny images of awkward
// sizes, at several threshold pairs; dilate with PySceneDetect's kernel sizes; and PySceneDetect's whole
// _detect_edges (median thresholds, Canny, dilate) on frames, including numpy's median on even pixel counts.
import { beforeAll, describe, expect, it } from 'vitest';
import { canny, cannyThresholds, dilate, edgeDiffSums, edgeKernelSize, frameEdges, medianU8, valuePlane } from '../../../engine/data/edges.js';
import { loadOpenCv, matFrom, withMats, type OpenCv } from '../../helpers/opencv.js';
import { rng } from '../../helpers/random.js';

let cv: OpenCv;
beforeAll(async () => {
  ({ cv } = await loadOpenCv());
}, 60_000);

function cvCanny(plane: Uint8Array, w: number, h: number, lo: number, hi: number): Uint8Array {
  return withMats((keep) => {
    const dst = keep(new cv.Mat());
    cv.Canny(keep(matFrom(cv, plane, h, w, 1)), dst, lo, hi);
    return Uint8Array.from(dst.data);
  });
}

function cvDilate(plane: Uint8Array, w: number, h: number, k: number): Uint8Array {
  return withMats((keep) => {
    const dst = keep(new cv.Mat());
    cv.dilate(keep(matFrom(cv, plane, h, w, 1)), dst, keep(cv.Mat.ones(k, k, cv.CV_8UC1)));
    return Uint8Array.from(dst.data);
  });
}

/** Pixels where two maps differ. */
const differing = (a: Uint8Array, b: Uint8Array) => a.reduce((n, v, i) => n + (v !== b[i] ? 1 : 0), 0);

/** Test planes: noise, a smooth blob field, oriented stripes, a flat plane, a one-pixel-wide bar. */
function planes(w: number, h: number, seed: number): [string, Uint8Array][] {
  const r = rng(seed);
  const noise = Uint8Array.from({ length: w * h }, () => Math.floor(r() * 256));
  const blobs = new Uint8Array(w * h);
  const centres = Array.from({ length: 4 }, () => [r() * w, r() * h, 3 + r() * 6, 60 + r() * 190] as const);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) blobs[y * w + x] = Math.min(255, Math.round(centres.reduce((s, [cx, cy, rad, a]) => s + a * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * rad * rad)), 10)));
  const out: [string, Uint8Array][] = [['noise', noise], ['blobs', blobs]];
  for (const deg of [0, 22.5, 30, 45, 67.5, 90, 120, 157]) {
    const t = (deg * Math.PI) / 180;
    out.push([`stripes ${deg}`, Uint8Array.from({ length: w * h }, (_, i) => Math.round(127.5 + 120 * Math.sin(((i % w) * Math.cos(t) + Math.floor(i / w) * Math.sin(t)) * 0.7 + r() * 0.3)))]);
  }
  out.push(['flat', new Uint8Array(w * h).fill(77)]);
  out.push(['bar', Uint8Array.from({ length: w * h }, (_, i) => (i % w === (w >> 1) ? 200 : 20))]);
  return out;
}

describe('edges vs OpenCV (opencv-js)', () => {
  it('Canny equals cv.Canny on awkward sizes and threshold pairs', () => {
    let checked = 0;
    for (const [w, h] of [[37, 23], [64, 48], [5, 3], [1, 7], [31, 1]] as const) {
      for (const [name, p] of planes(w, h, w * 100 + h)) {
        for (const [lo, hi] of [[50, 100], [0, 30], [120, 240], [90, 30], [12.7, 99.9], [255, 255]] as const) {
          const got = canny(p, w, h, lo, hi);
          const want = cvCanny(p, w, h, lo, hi);
          expect(differing(got, want), `${name} ${w}x${h} thresholds ${lo}, ${hi}`).toBe(0);
          checked++;
        }
      }
    }
    expect(checked).toBe(5 * 12 * 6);
    // The maps are not trivial: noise and stripes have edges at moderate thresholds.
    const [, p] = planes(64, 48, 1)[0]!;
    expect(canny(p, 64, 48, 50, 100).filter((v) => v).length).toBeGreaterThan(100);
  });

  it('dilate equals cv.dilate with ones(k, k) for PySceneDetect kernel sizes', () => {
    const r = rng(3);
    for (const [w, h] of [[37, 23], [6, 4], [1, 9]] as const) {
      const sparse = Uint8Array.from({ length: w * h }, () => (r() < 0.05 ? 255 : 0));
      for (const k of [3, 5, 7, 9]) expect(differing(dilate(sparse, w, h, k), cvDilate(sparse, w, h, k)), `${w}x${h} k ${k}`).toBe(0);
    }
  });

  it("PySceneDetect's kernel size, numpy's median and the thresholds", () => {
    // 4 + round(sqrt(w h) / 192), odd: 256x144 (the analysis size) -> 5; 1920x1080 -> 4 + 8 = 12 -> 13; 480x360 -> 7.
    expect([edgeKernelSize(256, 144), edgeKernelSize(1920, 1080), edgeKernelSize(480, 360), edgeKernelSize(64, 48)]).toEqual([5, 13, 7, 5]);
    expect(medianU8(Uint8Array.from([9, 1, 5]))).toBe(5);
    expect(medianU8(Uint8Array.from([9, 1, 5, 2]))).toBe(3.5);
    expect(medianU8(Uint8Array.from([200, 201]))).toBe(200.5);
    // int((2/3) m), int((4/3) m), clamped: 100.5 -> 67, 134; 3 -> 2, 4; 250 -> 166, 255.
    expect([cannyThresholds(100.5), cannyThresholds(3), cannyThresholds(250)]).toEqual([[67, 134], [2, 4], [166, 255]]);
  });

  it("_detect_edges and delta_edges on RGB frames equal OpenCV's cvtColor + Canny + dilate", () => {
    const w = 40, h = 30;
    const r = rng(9);
    const frames = Array.from({ length: 3 }, (_, t) => Uint8Array.from({ length: w * h * 3 }, (_, i) => {
      const px = Math.floor(i / 3);
      const x = px % w, y = Math.floor(px / w);
      return Math.round(127 + 100 * Math.sin((x + 3 * t) * 0.5 + (i % 3)) * Math.cos(y * 0.3) + 20 * r());
    }));
    const cvEdges = (rgb: Uint8Array) => withMats((keep) => {
      const hsv = keep(new cv.Mat());
      cv.cvtColor(keep(matFrom(cv, rgb, h, w, 3)), hsv, cv.COLOR_RGB2HSV);
      const d = hsv.data;
      const v = Uint8Array.from({ length: w * h }, (_, i) => d[3 * i + 2]!);
      expect(v).toEqual(valuePlane(rgb, w * h));
      const sorted = [...v].sort((a, b) => a - b);
      const median = (sorted[w * h / 2 - 1]! + sorted[w * h / 2]!) / 2; // 1200 pixels: even
      const lo = Math.trunc(Math.max(0, (2 / 3) * median)), hi = Math.trunc(Math.min(255, (4 / 3) * median));
      return cvDilate(cvCanny(v, w, h, lo, hi), w, h, 5);
    });
    const want = frames.map(cvEdges);
    frames.forEach((f, t) => expect(differing(frameEdges(f, w, h), want[t]!), `frame ${t}`).toBe(0));
    expect(want[0]!.filter((v) => v).length).toBeGreaterThan(50);
    const all = new Uint8Array(3 * w * h * 3);
    frames.forEach((f, t) => all.set(f, t * w * h * 3));
    const sums = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0);
    const { sums: got, last } = edgeDiffSums(all, 3, w, h);
    expect(Array.from(got)).toEqual([0, sums(want[1]!, want[0]!), sums(want[2]!, want[1]!)]);
    expect(got[1]).toBeGreaterThan(0);
    // Chunked: the second call continues from the first call's last edge map.
    const second = edgeDiffSums(all.subarray(2 * w * h * 3), 1, w, h, edgeDiffSums(all, 2, w, h).last);
    expect(second.sums[0]).toBe(got[2]);
    expect(last).toEqual(want[2]);
  });
});
