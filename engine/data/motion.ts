// Motion scores of clips (../shared/spec/data.md section 4) from dense optical flow (engine/ops/flow.ts on the GPU,
// its float64 reference on the CPU): `flow` = mean flow magnitude over the pixels and the sampled pairs (Open-Sora's
// score; here in pixels per frame at the flow size, not at Open-Sora's 320x576), and VBench's dynamic degree:
// frames every max(1, round(fps / 8)); per pair the mean of the top 5% magnitudes; dynamic when at least
// round(4 N / 16) of the N pairs exceed max(1, 8 / fps) * 6 * min(H, W) / 256. One streamed decode per video keeps
// only the frames of pairs still to be measured. At most `maxPairs` pairs per clip (evenly spread).
import type { Device } from '../gpu/device.js';
import { opticalFlow } from '../ops/flow.js';
import { opticalFlowRef } from '../ops/flow.ref.js';
import { rgbToGrayRef } from '../ops/scene.ref.js';
import { Tensor } from '../tensor.js';
import { forEachFrameGroup } from './frame-groups.js';

export interface MotionOptions {
  width: number;
  height: number;
  fps: number;
  backend: 'gpu' | 'cpu';
  device?: Device;
  maxPairs?: number;
}

export interface ClipMotion {
  flow: number;
  dynamic: boolean;
  pairs: number;
}

/** The frame pairs VBench compares inside [start, end): stride max(1, round(fps / 8)), evenly thinned to maxPairs. */
export function motionPairs(start: number, end: number, fps: number, maxPairs = 16): [number, number][] {
  const step = Math.max(1, Math.round(fps / 8));
  const all: [number, number][] = [];
  for (let f = start; f + step < end; f += step) all.push([f, f + step]);
  if (all.length <= maxPairs) return all;
  return Array.from({ length: maxPairs }, (_, i) => all[Math.floor((i * all.length) / maxPairs)]!);
}

/** Flow magnitudes -> [mean, mean of the top 5%]. */
export function magnitudeStats(flow: ArrayLike<number>): [number, number] {
  const n = flow.length / 2;
  const m = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += m[i] = Math.hypot(flow[2 * i]!, flow[2 * i + 1]!);
  m.sort();
  const k = Math.max(1, Math.round(n * 0.05));
  let top = 0;
  for (let i = n - k; i < n; i++) top += m[i]!;
  return [sum / n, top / k];
}

/** VBench's decision from the per-pair top-5% means. */
export function isDynamic(topMeans: readonly number[], fps: number, width: number, height: number): boolean {
  const thr = Math.max(1, 8 / fps) * 6 * (Math.min(width, height) / 256);
  const need = Math.round((4 * topMeans.length) / 16);
  return topMeans.filter((v) => v > thr).length >= need && topMeans.length > 0;
}

const gray = (rgb: Uint8Array, n: number) => Float64Array.from({ length: n }, (_, i) => rgbToGrayRef(rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!));

/** Motion of each clip [start, end) of one video, from one streamed decode at width x height. */
export async function clipMotions(path: string, clips: readonly [number, number][], o: MotionOptions): Promise<ClipMotion[]> {
  if (o.backend === 'gpu' && !o.device) throw new Error('clipMotions: the gpu backend needs a device');
  const { width: w, height: h } = o;
  const px = w * h;
  const pairs = clips.map(([s, e]) => motionPairs(s, e, o.fps, o.maxPairs));
  const jobs = pairs.flatMap((ps, c) => ps.map((p) => ({ c, p })));
  const means: number[][] = clips.map(() => []);
  const tops: number[][] = clips.map(() => []);
  const measure = async (a: Float64Array, b: Float64Array) => {
    if (o.backend === 'cpu') return opticalFlowRef(a, b, w, h);
    const ta = Tensor.from(o.device!, a, [h, w]), tb = Tensor.from(o.device!, b, [h, w]);
    const f = opticalFlow(ta, tb);
    try {
      return await f.read();
    } finally {
      ta.dispose();
      tb.dispose();
      f.dispose();
    }
  };
  await forEachFrameGroup(path, jobs.map((j) => j.p), { width: w, height: h }, async (g, [fa, fb]) => {
    const [mean, top] = magnitudeStats(await measure(gray(fa!, px), gray(fb!, px)));
    means[jobs[g]!.c]!.push(mean);
    tops[jobs[g]!.c]!.push(top);
  });
  return clips.map((_, c) => {
    const m = means[c]!;
    return { flow: m.length ? m.reduce((x, y) => x + y, 0) / m.length : 0, dynamic: isDynamic(tops[c]!, o.fps, w, h), pairs: m.length };
  });
}
