// CRAFT's box extraction (engine/data/craft-boxes.ts): hand-made score maps with known rectangles (the expected
// boxes worked out by hand from getDetBoxes_core's rules), linking, the size and peak filters, strict thresholds;
// and against OpenCV (opencv-js as the oracle): connected components (labels and stats), the rectangular dilation
// with even and odd kernels, minAreaRect on random point sets, and the whole getDetBoxes_core written with OpenCV's
// calls on random blob maps.
import { beforeAll, describe, expect, it } from 'vitest';
import { connectedComponents4, craftBoxes, dilateRect, minAreaRect, orderQuad } from '../../../engine/data/craft-boxes.js';
import { loadOpenCv, withMats, type OpenCv } from '../../helpers/opencv.js';
import { rng } from '../../helpers/random.js';

let cv: OpenCv;
beforeAll(async () => {
  ({ cv } = await loadOpenCv());
}, 60_000);

/** A w x h map with `v` inside each [x0, x1] x [y0, y1] (inclusive) rectangle. */
function map(w: number, h: number, rects: [number, number, number, number, number][]): Float32Array {
  const m = new Float32Array(w * h);
  for (const [x0, y0, x1, y1, v] of rects) for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) m[y * w + x] = v;
  return m;
}

describe('craftBoxes on hand-made maps', () => {
  it('one text rectangle: dilated by niter, box on the pixel centres', () => {
    // 20 x 8 pixels at x 10..29, y 5..12: area 160, niter = int(2 sqrt(160 * 8 / 160)) = 5, kernel 6 (anchor 3): the
    // blob grows 2 up/left and 3 down/right -> x 8..32, y 3..15.
    const w = 60, h = 40;
    const boxes = craftBoxes(map(w, h, [[10, 5, 29, 12, 0.9]]), new Float32Array(w * h), w, h);
    expect(boxes).toHaveLength(1);
    expect(boxes[0]!.quad).toEqual([[8, 3], [32, 3], [32, 15], [8, 15]]);
    expect(boxes[0]!.score).toBeCloseTo(0.9, 6);
  });

  it('two characters are one box when the affinity links them, two boxes otherwise; link-only pixels leave the box', () => {
    const w = 50, h = 20;
    const chars = map(w, h, [[5, 5, 12, 12, 0.95], [25, 5, 32, 12, 0.8]]);
    const apart = craftBoxes(chars, new Float32Array(w * h), w, h);
    // Each 8 x 8 (area 64): niter = int(2 sqrt(8)) = 5, kernel 6 -> x 3..15 / 23..35, y 3..15: a square (diamond rule).
    expect(apart.map((b) => b.quad)).toEqual([[[3, 3], [15, 3], [15, 15], [3, 15]], [[23, 3], [35, 3], [35, 15], [23, 15]]]);
    // An affinity bridge x 13..24, y 7..10 joins them: one component of 64 + 64 + 48 = 176 pixels, 28 x 8 bounds:
    // niter = int(2 sqrt(176 * 8 / 224)) = 5; the bridge itself is removed (link, not text), the characters dilate as above.
    const linked = craftBoxes(chars, map(w, h, [[13, 7, 24, 10, 0.9]]), w, h);
    expect(linked).toHaveLength(1);
    expect(linked[0]!.quad).toEqual([[3, 3], [35, 3], [35, 15], [3, 15]]);
    expect(linked[0]!.score).toBeCloseTo(0.95, 6);
  });

  it('drops components under 10 pixels or with a peak under text_threshold; thresholds are strict', () => {
    const w = 40, h = 30;
    expect(craftBoxes(map(w, h, [[2, 2, 4, 4, 0.99]]), new Float32Array(w * h), w, h)).toHaveLength(0); // 9 pixels
    expect(craftBoxes(map(w, h, [[2, 2, 20, 10, 0.69]]), new Float32Array(w * h), w, h)).toHaveLength(0); // peak 0.69
    expect(craftBoxes(map(w, h, [[2, 2, 20, 10, 0.71]]), new Float32Array(w * h), w, h)).toHaveLength(1);
    // float32 0.7 is 0.69999999: below the threshold, as numpy compares it in CRAFT; exactly 0.7 (float64) counts.
    expect(craftBoxes(map(w, h, [[2, 2, 20, 10, 0.7]]), new Float32Array(w * h), w, h)).toHaveLength(0);
    expect(craftBoxes(Float64Array.from(map(w, h, [[2, 2, 20, 10, 1]]), (v) => v * 0.7), new Float32Array(w * h), w, h)).toHaveLength(1);
    // A text peak inside a region of exactly low_text (0.4, not above it): only the 3 x 3 peak is text -> too small.
    const m = map(w, h, [[2, 2, 20, 10, Math.fround(0.4)], [5, 5, 7, 7, 0.9]]);
    expect(craftBoxes(m, new Float32Array(w * h), w, h, { lowText: Math.fround(0.4) })).toHaveLength(0);
    // Custom thresholds: text_threshold 0.95 drops the 0.9 blob.
    expect(craftBoxes(map(w, h, [[2, 2, 20, 10, 0.9]]), new Float32Array(w * h), w, h, { textThreshold: 0.95 })).toHaveLength(0);
    expect(() => craftBoxes(new Float32Array(5), new Float32Array(6), 2, 3)).toThrow(/2 x 3 = 6 values, got 5 and 6/);
  });

  it('a rotated bar gives a rotated rectangle', () => {
    // A 1-pixel line from (10, 30) along direction (2, -1) for 20 steps, thickened to 3 pixels across: the box's long side follows the line.
    const w = 80, h = 60;
    const reg = new Float32Array(w * h);
    for (let t = 0; t <= 40; t++) for (let d = -1; d <= 1; d++) reg[(Math.round(30 - t / 2) + d) * w + 10 + t] = 0.9;
    const [b] = craftBoxes(reg, new Float32Array(w * h), w, h);
    const q = b!.quad;
    const sides = [0, 1].map((i) => Math.hypot(q[i + 1]![0] - q[i]![0], q[i + 1]![1] - q[i]![1]));
    const long = sides[0]! > sides[1]! ? 0 : 1;
    const slope = (q[long + 1]![1] - q[long]![1]) / (q[long + 1]![0] - q[long]![0]);
    expect(slope).toBeCloseTo(-0.5, 1);
    expect(q[0]![0] + q[0]![1]).toBe(Math.min(...q.map((p) => p[0] + p[1])));
  });

  it('orders corners clockwise on screen from the least x + y', () => {
    expect(orderQuad([[5, 9], [0, 0], [5, 0], [0, 9]])).toEqual([[0, 0], [5, 0], [5, 9], [0, 9]]);
    expect(orderQuad([[4, 0], [8, 4], [4, 8], [0, 4]])).toEqual([[4, 0], [8, 4], [4, 8], [0, 4]]);
  });
});

/** Random elongated Gaussian blobs (text-line-like) on a w x h map, values in [0, 1). */
function blobs(w: number, h: number, seed: number, n: number): Float32Array {
  const r = rng(seed);
  const m = new Float32Array(w * h);
  for (let k = 0; k < n; k++) {
    const cx = r() * w, cy = r() * h, a = r() * Math.PI, sl = 2 + r() * 12, ss = 1 + r() * 3, amp = 0.5 + r() * 0.5;
    const c = Math.cos(a), s = Math.sin(a);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const u = (x - cx) * c + (y - cy) * s, v = -(x - cx) * s + (y - cy) * c;
        m[y * w + x] = Math.max(m[y * w + x]!, amp * Math.exp(-0.5 * ((u / sl) ** 2 + (v / ss) ** 2)));
      }
  }
  return m;
}

describe('craftBoxes against OpenCV', () => {
  it('connected components: labels and stats equal connectedComponentsWithStats (4-connectivity)', () => {
    for (const [w, h, seed, p] of [[37, 23, 1, 0.5], [64, 9, 2, 0.6], [1, 17, 3, 0.5], [50, 50, 4, 0.45]] as const) {
      const r = rng(seed);
      const mask = Uint8Array.from({ length: w * h }, () => (r() < p ? 1 : 0));
      const mine = connectedComponents4(mask, w, h);
      withMats((keep) => {
        const labels = keep(new cv.Mat()), stats = keep(new cv.Mat()), cent = keep(new cv.Mat());
        const n = cv.connectedComponentsWithStats(keep(cv.matFromArray(h, w, cv.CV_8UC1, mask)), labels, stats, cent, 4, cv.CV_32S);
        expect(mine.count).toBe(n - 1);
        expect(Array.from(mine.labels)).toEqual(Array.from(labels.data32S));
        const st = stats.data32S;
        for (let k = 1; k < n; k++) expect(mine.stats[k]).toEqual({ left: st[5 * k], top: st[5 * k + 1], width: st[5 * k + 2], height: st[5 * k + 3], area: st[5 * k + 4] });
      });
    }
  });

  it('dilateRect equals cv.dilate with a k x k rectangle on a copied window, k = 1..6', () => {
    const w = 31, h = 19;
    const r = rng(7);
    const src = Uint8Array.from({ length: w * h }, () => (r() < 0.06 ? 1 : 0));
    for (let k = 1; k <= 6; k++) {
      const [x0, y0, x1, y1] = [3, 2, 29, 19];
      const mine = Uint8Array.from(src);
      dilateRect(mine, w, k, x0, y0, x1, y1);
      const ww = x1 - x0, hh = y1 - y0;
      const win = Uint8Array.from({ length: ww * hh }, (_, i) => src[(y0 + Math.floor(i / ww)) * w + x0 + (i % ww)]!);
      const got = withMats((keep) => {
        const dst = keep(new cv.Mat());
        cv.dilate(keep(cv.matFromArray(hh, ww, cv.CV_8UC1, win)), dst, keep(cv.Mat.ones(k, k, cv.CV_8UC1)));
        return Uint8Array.from(dst.data);
      });
      const want = Uint8Array.from(src);
      for (let i = 0; i < ww * hh; i++) want[(y0 + Math.floor(i / ww)) * w + x0 + (i % ww)] = got[i]!;
      expect(Array.from(mine), `k = ${k}`).toEqual(Array.from(want));
    }
  });

  it('minAreaRect: a rectangle holding every point with cv.minAreaRect\'s area on random point sets', () => {
    const r = rng(11);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(r() * 40);
      const a = r() * Math.PI, c = Math.cos(a), s = Math.sin(a), L = 2 + r() * 30, S = r() * 8;
      const pts: [number, number][] = Array.from({ length: n }, () => {
        const u = (r() - 0.5) * L, v = (r() - 0.5) * S;
        return [Math.round(40 + u * c - v * s), Math.round(40 + u * s + v * c)];
      });
      const mine = minAreaRect(pts);
      const cvRect = withMats((keep) => cv.minAreaRect(keep(cv.matFromArray(n, 1, cv.CV_32SC2, pts.flat()))));
      expect(mine.area, `trial ${trial}`).toBeCloseTo(cvRect.size.width * cvRect.size.height, 2);
      // Equal areas can come from different rectangles (ties between hull edges), so check that ours holds every
      // point: with the same area as OpenCV's it is then a minimum too. (The corners are compared where it matters,
      // in the whole extraction below.)
      const q = mine.corners;
      const side = (i: number) => [q[(i + 1) % 4]![0] - q[i]![0], q[(i + 1) % 4]![1] - q[i]![1]] as const;
      expect(Math.hypot(...side(0)) * Math.hypot(...side(1)), `trial ${trial}`).toBeCloseTo(mine.area, 6);
      if (mine.area > 1e-6) {
        for (const p of pts)
          for (let i = 0; i < 4; i++) {
            const [ex, ey] = side(i);
            // Inside: on the same side of every edge as the rectangle's centre (corners go around in order).
            const cx = (q[0]![0] + q[2]![0]) / 2, cy = (q[0]![1] + q[2]![1]) / 2;
            const sp = ex * (p[1] - q[i]![1]) - ey * (p[0] - q[i]![0]), sc = ex * (cy - q[i]![1]) - ey * (cx - q[i]![0]);
            expect(sp * Math.sign(sc), `trial ${trial} point ${p}`).toBeGreaterThanOrEqual(-1e-6);
          }
      }
    }
  });

  /** getDetBoxes_core with OpenCV's own threshold, connectedComponentsWithStats, dilate and minAreaRect/boxPoints. */
  function opencvDetBoxes(region: Float32Array, link: Float32Array, w: number, h: number): number[][][] {
    return withMats((keep) => {
      const ts = keep(new cv.Mat()), ls = keep(new cv.Mat());
      cv.threshold(keep(cv.matFromArray(h, w, cv.CV_32F, region)), ts, 0.4, 1, cv.THRESH_BINARY);
      cv.threshold(keep(cv.matFromArray(h, w, cv.CV_32F, link)), ls, 0.4, 1, cv.THRESH_BINARY);
      const t = ts.data32F, l = ls.data32F;
      const comb = Uint8Array.from({ length: w * h }, (_, i) => Math.min(1, t[i]! + l[i]!));
      const labels = keep(new cv.Mat()), stats = keep(new cv.Mat()), cent = keep(new cv.Mat());
      const n = cv.connectedComponentsWithStats(keep(cv.matFromArray(h, w, cv.CV_8UC1, comb)), labels, stats, cent, 4, cv.CV_32S);
      const lab = labels.data32S, st = stats.data32S;
      const out: number[][][] = [];
      for (let k = 1; k < n; k++) {
        const [x, y, bw, bh, size] = [0, 1, 2, 3, 4].map((j) => st[5 * k + j]!) as [number, number, number, number, number];
        if (size < 10) continue;
        let peak = -Infinity;
        for (let i = 0; i < w * h; i++) if (lab[i] === k) peak = Math.max(peak, region[i]!);
        if (peak < 0.7) continue;
        const seg = Uint8Array.from({ length: w * h }, (_, i) => (lab[i] === k && !(l[i] === 1 && t[i] === 0) ? 255 : 0));
        const niter = Math.trunc(Math.sqrt((size * Math.min(bw, bh)) / (bw * bh)) * 2);
        const sx = Math.max(0, x - niter), sy = Math.max(0, y - niter), ex = Math.min(w, x + bw + niter + 1), ey = Math.min(h, y + bh + niter + 1);
        const ww = ex - sx, hh = ey - sy;
        const dst = keep(new cv.Mat());
        cv.dilate(keep(cv.matFromArray(hh, ww, cv.CV_8UC1, Array.from({ length: ww * hh }, (_, i) => seg[(sy + Math.floor(i / ww)) * w + sx + (i % ww)]!))), dst, keep(cv.Mat.ones(1 + niter, 1 + niter, cv.CV_8UC1)));
        const d = dst.data;
        for (let i = 0; i < ww * hh; i++) seg[(sy + Math.floor(i / ww)) * w + sx + (i % ww)] = d[i]!;
        const pts: number[] = [];
        for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) if (seg[yy * w + xx]) pts.push(xx, yy);
        const rect = cv.minAreaRect(keep(cv.matFromArray(pts.length / 2, 1, cv.CV_32SC2, pts)));
        let box = cv.RotatedRect.points(rect).map((p) => [p.x, p.y]);
        const s1 = Math.hypot(box[0]![0]! - box[1]![0]!, box[0]![1]! - box[1]![1]!), s2 = Math.hypot(box[1]![0]! - box[2]![0]!, box[1]![1]! - box[2]![1]!);
        if (Math.abs(1 - Math.max(s1, s2) / (Math.min(s1, s2) + 1e-5)) <= 0.1) {
          const xs = pts.filter((_, i) => i % 2 === 0), ys = pts.filter((_, i) => i % 2 === 1);
          const [lft, rgt, top, bot] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
          box = [[lft, top], [rgt, top], [rgt, bot], [lft, bot]];
        }
        let start = 0;
        box.forEach((p, i) => { if (p[0]! + p[1]! < box[start]![0]! + box[start]![1]!) start = i; });
        out.push(box.slice(start).concat(box.slice(0, start)));
      }
      return out;
    });
  }

  it('the whole extraction equals getDetBoxes_core written with OpenCV on random blob maps', () => {
    let total = 0;
    for (const [w, h, seed] of [[96, 64, 1], [80, 48, 2], [61, 37, 3], [128, 40, 4]] as const) {
      const region = blobs(w, h, seed, 8), link = blobs(w, h, seed + 100, 5);
      const want = opencvDetBoxes(region, link, w, h);
      const got = craftBoxes(region, link, w, h);
      expect(got.length, `${w}x${h} seed ${seed}`).toBe(want.length);
      total += got.length;
      got.forEach((b, i) => {
        for (let c = 0; c < 4; c++) for (let j = 0; j < 2; j++) expect(b.quad[c]![j], `${w}x${h} seed ${seed} box ${i} corner ${c}`).toBeCloseTo(want[i]![c]![j]!, 2);
      });
    }
    expect(total).toBeGreaterThan(8);
  });
});
