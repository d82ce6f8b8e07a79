// CRAFT's box extraction (craft_utils.getDetBoxes_core of clovaai/CRAFT-pytorch), written from its definition:
// region > low_text or affinity > link_threshold (strictly, as cv2.threshold) -> 4-connected components (labels in
// raster order of each component's first pixel, as OpenCV numbers them) -> a component is kept when it has >= 10
// pixels and its peak region score is >= text_threshold -> its pixels minus the link-only ones, dilated with a
// (1 + niter)^2 square (anchor at the centre, OpenCV's), niter = int(2 sqrt(area min(w, h) / (w h))) -> the minimum-area
// rectangle of the remaining pixel centres (convex hull + one rectangle per hull edge) -> near-square boxes
// (sides within 10%) replaced by the axis-aligned bounds -> corners clockwise on screen from the one with the least
// x + y. Coordinates are heatmap pixels; the detector scales them to the frame.

export interface CraftBoxOptions {
  /** A component counts when its peak region score is at least this (0.7). */
  textThreshold?: number;
  /** Affinity above this links characters (0.4). */
  linkThreshold?: number;
  /** Region score above this is text (0.4). */
  lowText?: number;
}

export interface HeatmapBox {
  /** Four corners [x, y] in heatmap pixels, clockwise on screen, starting at the least x + y. */
  quad: [number, number][];
  /** The component's peak region score. */
  score: number;
}

export interface Components {
  /** 0 = background, 1..count per component (raster order of first pixels). */
  labels: Int32Array;
  count: number;
  /** Per label (index 0 unused): left, top, width, height, area. */
  stats: { left: number; top: number; width: number; height: number; area: number }[];
}

/** 4-connected components of a 0/1 mask (w x h), numbered as OpenCV's connectedComponentsWithStats numbers them. */
export function connectedComponents4(mask: Uint8Array, w: number, h: number): Components {
  const labels = new Int32Array(w * h);
  const stats: Components['stats'] = [{ left: 0, top: 0, width: 0, height: 0, area: 0 }];
  const stack: number[] = [];
  let count = 0;
  for (let start = 0; start < w * h; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = ++count;
    let x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
    labels[start] = id;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % w, y = (i - x) / w;
      area++;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      const visit = (j: number) => {
        if (mask[j] && !labels[j]) {
          labels[j] = id;
          stack.push(j);
        }
      };
      if (x > 0) visit(i - 1);
      if (x < w - 1) visit(i + 1);
      if (y > 0) visit(i - w);
      if (y < h - 1) visit(i + w);
    }
    stats.push({ left: x0, top: y0, width: x1 - x0 + 1, height: y1 - y0 + 1, area });
  }
  return { labels, count, stats };
}

/**
 * cv2.dilate of a 0/1 map with a k x k square (anchor k/2, rounded down) inside the window [x0, x1) x [y0, y1), pixels
 * outside the window ignored (OpenCV on a numpy slice); in place. Separable: a row max then a column max.
 */
export function dilateRect(map: Uint8Array, w: number, k: number, x0: number, y0: number, x1: number, y1: number): void {
  if (k <= 1) return;
  const a = Math.floor(k / 2);
  const ww = x1 - x0, hh = y1 - y0;
  const tmp = new Uint8Array(ww * hh);
  // dst(x) = max over src(x + t - a), t in [0, k).
  for (let y = 0; y < hh; y++)
    for (let x = 0; x < ww; x++) {
      let m = 0;
      for (let t = Math.max(0, x - a); t <= Math.min(ww - 1, x + k - 1 - a) && !m; t++) m = map[(y0 + y) * w + x0 + t]!;
      tmp[y * ww + x] = m;
    }
  for (let y = 0; y < hh; y++)
    for (let x = 0; x < ww; x++) {
      let m = 0;
      for (let t = Math.max(0, y - a); t <= Math.min(hh - 1, y + k - 1 - a) && !m; t++) m = tmp[t * ww + x]!;
      map[(y0 + y) * w + x0 + x] = m;
    }
}

/** Convex hull of integer points (Andrew's monotone chain, collinear points dropped), counter-clockwise in y-up terms. */
export function convexHull(pts: readonly [number, number][]): [number, number][] {
  const p = [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (p.length <= 1) return p;
  const cross = (o: [number, number], a: [number, number], b: [number, number]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: [number, number][] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop();
    upper.push(q);
  }
  const hull = lower.slice(0, -1).concat(upper.slice(0, -1));
  // All points equal: one point; collinear: the two ends.
  return hull.length ? hull : [p[0]!];
}

/** The minimum-area rectangle around points (cv2.minAreaRect): its four corners (any order) and area. */
export function minAreaRect(pts: readonly [number, number][]): { corners: [number, number][]; area: number } {
  const hull = convexHull(pts);
  if (hull.length === 1) return { corners: [0, 1, 2, 3].map(() => [...hull[0]!] as [number, number]), area: 0 };
  let best: { corners: [number, number][]; area: number } | null = null;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!, b = hull[(i + 1) % hull.length]!;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    const u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len] as const;
    const v = [-u[1], u[0]] as const;
    let lo = Infinity, hi = -Infinity, lo2 = Infinity, hi2 = -Infinity;
    for (const q of hull) {
      const du = (q[0] - a[0]) * u[0] + (q[1] - a[1]) * u[1];
      const dv = (q[0] - a[0]) * v[0] + (q[1] - a[1]) * v[1];
      lo = Math.min(lo, du); hi = Math.max(hi, du); lo2 = Math.min(lo2, dv); hi2 = Math.max(hi2, dv);
    }
    const area = (hi - lo) * (hi2 - lo2);
    if (!best || area < best.area - 1e-9 * Math.max(1, best.area)) {
      const at = (s: number, t: number): [number, number] => [a[0] + u[0] * s + v[0] * t, a[1] + u[1] * s + v[1] * t];
      best = { corners: [at(lo, lo2), at(hi, lo2), at(hi, hi2), at(lo, hi2)], area };
    }
  }
  return best!;
}

/** Corners clockwise on screen (y down), starting at the one with the least x + y (the first such in that order). */
export function orderQuad(c: readonly [number, number][]): [number, number][] {
  const cx = c.reduce((s, p) => s + p[0], 0) / c.length, cy = c.reduce((s, p) => s + p[1], 0) / c.length;
  const q = [...c].sort((a, b) => Math.atan2(a[1] - cy, a[0] - cx) - Math.atan2(b[1] - cy, b[0] - cx));
  let k = 0;
  for (let i = 1; i < q.length; i++) if (q[i]![0] + q[i]![1] < q[k]![0] + q[k]![1] - 1e-9) k = i;
  return q.slice(k).concat(q.slice(0, k)).map((p) => [p[0], p[1]] as [number, number]);
}

/** getDetBoxes_core on a region map and an affinity map of w x h (row-major). */
export function craftBoxes(region: ArrayLike<number>, affinity: ArrayLike<number>, w: number, h: number, o: CraftBoxOptions = {}): HeatmapBox[] {
  const textThreshold = o.textThreshold ?? 0.7, linkThreshold = o.linkThreshold ?? 0.4, lowText = o.lowText ?? 0.4;
  if (region.length !== w * h || affinity.length !== w * h) throw new Error(`craftBoxes: maps must have ${w} x ${h} = ${w * h} values, got ${region.length} and ${affinity.length}`);
  const text = new Uint8Array(w * h), link = new Uint8Array(w * h), comb = new Uint8Array(w * h);
  for (let i = 0; i < w * h; i++) {
    text[i] = region[i]! > lowText ? 1 : 0;
    link[i] = affinity[i]! > linkThreshold ? 1 : 0;
    comb[i] = text[i]! | link[i]!;
  }
  const cc = connectedComponents4(comb, w, h);
  const peak = new Float64Array(cc.count + 1).fill(-Infinity);
  for (let i = 0; i < w * h; i++) if (cc.labels[i]) peak[cc.labels[i]!] = Math.max(peak[cc.labels[i]!]!, region[i]!);
  const boxes: HeatmapBox[] = [];
  const seg = new Uint8Array(w * h);
  for (let k = 1; k <= cc.count; k++) {
    const s = cc.stats[k]!;
    if (s.area < 10 || peak[k]! < textThreshold) continue;
    const niter = Math.trunc(Math.sqrt((s.area * Math.min(s.width, s.height)) / (s.width * s.height)) * 2);
    const sx = Math.max(0, s.left - niter), sy = Math.max(0, s.top - niter);
    const ex = Math.min(w, s.left + s.width + niter + 1), ey = Math.min(h, s.top + s.height + niter + 1);
    for (let y = s.top; y < s.top + s.height; y++)
      for (let x = s.left; x < s.left + s.width; x++) {
        const i = y * w + x;
        seg[i] = cc.labels[i] === k && !(link[i] && !text[i]) ? 1 : 0;
      }
    dilateRect(seg, w, 1 + niter, sx, sy, ex, ey);
    const pts: [number, number][] = [];
    let l = Infinity, r = -Infinity, t = Infinity, b = -Infinity;
    for (let y = sy; y < ey; y++)
      for (let x = sx; x < ex; x++) {
        if (!seg[y * w + x]) continue;
        pts.push([x, y]);
        seg[y * w + x] = 0; // leave the map clear for the next component
        l = Math.min(l, x); r = Math.max(r, x); t = Math.min(t, y); b = Math.max(b, y);
      }
    let corners = minAreaRect(pts).corners;
    const q0 = orderQuad(corners);
    const side1 = Math.hypot(q0[0]![0] - q0[1]![0], q0[0]![1] - q0[1]![1]), side2 = Math.hypot(q0[1]![0] - q0[2]![0], q0[1]![1] - q0[2]![1]);
    if (Math.abs(1 - Math.max(side1, side2) / (Math.min(side1, side2) + 1e-5)) <= 0.1) {
      corners = [[l, t], [r, t], [r, b], [l, b]];
    }
    boxes.push({ quad: orderQuad(corners), score: peak[k]! });
  }
  return boxes;
}
