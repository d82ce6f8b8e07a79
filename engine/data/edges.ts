// The edge channel of PySceneDetect's content score (ContentDetector's delta_edges), on the CPU: per frame, the V
// plane of OpenCV's HSV (max of R, G, B), Canny with thresholds (1 -+ 1/3) x its median (numpy's median: the mean of
// the two middle values on an even count; int() of each product), dilated with a square of ones whose side is
// 4 + round(sqrt(w h) / 192), made odd; delta_edges = mean |e_t - e_{t-1}| over the 0/255 edge maps.
// Canny and dilate are written the way OpenCV 4 computes them (Sobel 3x3 with replicated borders, L1 magnitude,
// integer non-maximum suppression with tan 22.5 deg in 15-bit fixed point, magnitude > low and > high, hysteresis
// over 8-neighbours; dilate ignores pixels outside the image), checked against opencv-js in
// test/engine/data/edges.opencv.test.ts. The GPU scene kernel does not compute them: a per-frame median and the
// hysteresis flood do not fit its one-pass sums, so the edge channel runs here for both backends.
import { roundHalfEven } from './round.js';

/** PySceneDetect's _estimated_kernel_size: 4 + round(sqrt(w h) / 192), odd. */
export function edgeKernelSize(width: number, height: number): number {
  const k = 4 + roundHalfEven(Math.sqrt(width * height) / 192);
  return k % 2 === 0 ? k + 1 : k;
}

/** numpy.median of 8-bit values (the mean of the two middle ones when the count is even). */
export function medianU8(plane: Uint8Array): number {
  const hist = new Uint32Array(256);
  for (const v of plane) hist[v]!++;
  const n = plane.length;
  const nth = (k: number) => {
    let c = 0;
    for (let v = 0; v < 256; v++) if ((c += hist[v]!) > k) return v;
    return 255;
  };
  return n % 2 ? nth((n - 1) / 2) : (nth(n / 2 - 1) + nth(n / 2)) / 2;
}

/** PySceneDetect's Canny thresholds from the median: [int(max(0, (1 - 1/3) m)), int(min(255, (1 + 1/3) m))]. */
export function cannyThresholds(median: number): [number, number] {
  const sigma = 1.0 / 3.0;
  return [Math.trunc(Math.max(0, (1.0 - sigma) * median)), Math.trunc(Math.min(255, (1.0 + sigma) * median))];
}

const TG22 = 13573; // (int)(tan(22.5 deg) * 2^15 + 0.5)

/** OpenCV's Canny(src, low, high) with apertureSize 3 and L1 gradient: 255 on edges, 0 elsewhere. */
export function canny(src: Uint8Array, width: number, height: number, lowThresh: number, highThresh: number): Uint8Array {
  if (src.length !== width * height) throw new Error(`canny: ${src.length} bytes for a ${width}x${height} plane`);
  if (lowThresh > highThresh) [lowThresh, highThresh] = [highThresh, lowThresh];
  const low = Math.floor(lowThresh);
  const high = Math.floor(highThresh);
  const W = width, H = height;
  const px = (x: number, y: number) => src[Math.min(H - 1, Math.max(0, y)) * W + Math.min(W - 1, Math.max(0, x))]!;
  const dx = new Int32Array(W * H);
  const dy = new Int32Array(W * H);
  // Magnitudes with a zero border of one pixel on every side (OpenCV's buffer), row stride W + 2.
  const S = W + 2;
  const mag = new Int32Array(S * (H + 2));
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const gx = px(x + 1, y - 1) - px(x - 1, y - 1) + 2 * (px(x + 1, y) - px(x - 1, y)) + px(x + 1, y + 1) - px(x - 1, y + 1);
      const gy = px(x - 1, y + 1) - px(x - 1, y - 1) + 2 * (px(x, y + 1) - px(x, y - 1)) + px(x + 1, y + 1) - px(x + 1, y - 1);
      dx[y * W + x] = gx;
      dy[y * W + x] = gy;
      mag[(y + 1) * S + x + 1] = Math.abs(gx) + Math.abs(gy);
    }
  }
  // map: 0 weak candidate, 1 not an edge, 2 edge (strong or reached by hysteresis); same border as mag.
  const map = new Uint8Array(S * (H + 2)).fill(1);
  const stack: number[] = [];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const j = (y + 1) * S + x + 1;
      const m = mag[j]!;
      if (!(m > low)) continue;
      const xs = dx[y * W + x]!, ys = dy[y * W + x]!;
      const ax = Math.abs(xs);
      const ay = Math.abs(ys) * 32768;
      const tg22x = ax * TG22;
      let peak: boolean;
      if (ay < tg22x) peak = m > mag[j - 1]! && m >= mag[j + 1]!;
      else if (ay > tg22x + ax * 65536) peak = m > mag[j - S]! && m >= mag[j + S]!;
      else {
        const s = (xs ^ ys) < 0 ? -1 : 1;
        peak = m > mag[j - S - s]! && m > mag[j + S + s]!;
      }
      if (!peak) continue;
      if (m > high) {
        map[j] = 2;
        stack.push(j);
      } else map[j] = 0;
    }
  }
  const nb = [-S - 1, -S, -S + 1, -1, 1, S - 1, S, S + 1];
  while (stack.length) {
    const j = stack.pop()!;
    for (const o of nb) {
      if (map[j + o] === 0) {
        map[j + o] = 2;
        stack.push(j + o);
      }
    }
  }
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = map[(y + 1) * S + x + 1] === 2 ? 255 : 0;
  return out;
}

/** OpenCV's dilate with a k x k kernel of ones (anchor at the centre; outside pixels ignored). */
export function dilate(src: Uint8Array, width: number, height: number, k: number): Uint8Array {
  const r0 = Math.floor(k / 2); // anchor: k / 2 for ones(k, k)
  const r1 = k - 1 - r0;
  const rows = maxPass(src, width, height, 1, width, r0, r1); // along x
  return maxPass(rows, height, width, width, 1, r0, r1); // along y
}

/**
 * The 1-D max filter [-r0, r1] of the k x k dilation along one axis: `lines` lines of n pixels, pixel i of a line at
 * i * step from its start, line j starting at j * lineStride.
 */
function maxPass(src: Uint8Array, n: number, lines: number, step: number, lineStride: number, r0: number, r1: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let j = 0; j < lines; j++) {
    const base = j * lineStride;
    for (let x = 0; x < n; x++) {
      let m = 0;
      for (let i = Math.max(0, x - r0); i <= Math.min(n - 1, x + r1); i++) m = Math.max(m, src[base + i * step]!);
      out[base + x * step] = m;
    }
  }
  return out;
}

/** The V plane of OpenCV's HSV of an RGB frame: max(R, G, B). */
export function valuePlane(rgb: Uint8Array, pixels: number): Uint8Array {
  const v = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) v[i] = Math.max(rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!);
  return v;
}

/** PySceneDetect's _detect_edges on one RGB frame: Canny of V at the median's thresholds, dilated. */
export function frameEdges(rgb: Uint8Array, width: number, height: number, kernel = edgeKernelSize(width, height)): Uint8Array {
  const v = valuePlane(rgb, width * height);
  const [lo, hi] = cannyThresholds(medianU8(v));
  return dilate(canny(v, width, height, lo, hi), width, height, kernel);
}

/**
 * Sums of |e_t - e_{t-1}| over the pixels for `frames` contiguous RGB frames (0 for the first frame unless `prev`,
 * the previous frame's edge map, is given); also returns the last frame's edge map for the next chunk.
 */
export function edgeDiffSums(rgb: Uint8Array, frames: number, width: number, height: number, prev: Uint8Array | null = null): { sums: Float64Array; last: Uint8Array | null } {
  const P = width * height;
  const k = edgeKernelSize(width, height);
  const sums = new Float64Array(frames);
  let last = prev;
  for (let t = 0; t < frames; t++) {
    const e = frameEdges(rgb.subarray(t * P * 3, (t + 1) * P * 3), width, height, k);
    if (last) {
      let s = 0;
      for (let i = 0; i < P; i++) s += Math.abs(e[i]! - last[i]!);
      sums[t] = s;
    }
    last = e;
  }
  return { sums, last };
}
