// Streams a video once at the analysis size and collects the per-frame statistics that shot detection and the
// static filter need (engine/data/shots.ts FrameSeries). Frames come in fixed-size chunks from ffmpeg; each chunk
// (with the previous chunk's last frame in front, so differences continue across chunk borders) goes through the
// scene kernel on the GPU or its CPU reference; the optional edge channel (edges.ts) runs on the CPU. Only one chunk
// of pixels is held at a time.

import type { Device } from '../gpu/device.js';
import { sceneSums } from '../ops/scene.js';
import { sceneSumsRef, type SceneSums } from '../ops/scene.ref.js';
import { streamVideoFrames } from '../video/decode.js';
import { edgeDiffSums } from './edges.js';
import { roundHalfEven } from './round.js';
import type { FrameSeries } from './shots.js';

export { roundHalfEven };

/** PySceneDetect's downscale: frames at least 256 wide are scaled by f = width / 256 (to 256 x round(h / f)). */
export function analysisSize(width: number, height: number, effectiveWidth = 256): { width: number; height: number } {
  if (width < effectiveWidth) return { width, height };
  const f = width / effectiveWidth;
  return { width: roundHalfEven(width / f), height: Math.max(1, roundHalfEven(height / f)) };
}

export interface AnalyzeOptions {
  /** Analysis size (default: analysisSize of the display size given in `size`). */
  width: number;
  height: number;
  /** 'gpu' needs `device`. */
  backend: 'gpu' | 'cpu';
  device?: Device;
  chunkFrames?: number;
  maxFrames?: number;
  /** Also compute PySceneDetect's edge channel (delta_edges, engine/data/edges.ts; on the CPU for both backends). */
  edges?: boolean;
  onFrames?: (done: number) => void;
}

class Growable {
  private a = new Float64Array(1024);
  n = 0;
  push(src: Float64Array, from: number): void {
    const need = this.n + src.length - from;
    if (need > this.a.length) {
      const b = new Float64Array(Math.max(need, this.a.length * 2));
      b.set(this.a.subarray(0, this.n));
      this.a = b;
    }
    this.a.set(src.subarray(from), this.n);
    this.n = need;
  }
  done(): Float64Array {
    return this.a.slice(0, this.n);
  }
}

/** Per-frame statistics of the whole video, decoded once in chunks. */
export async function analyzeVideo(path: string, o: AnalyzeOptions): Promise<FrameSeries> {
  if (o.backend === 'gpu' && !o.device) throw new Error('analyzeVideo: the gpu backend needs a device');
  const pixels = o.width * o.height;
  const frameBytes = pixels * 3;
  const cols = { dh: new Growable(), ds: new Growable(), dv: new Growable(), dgray: new Growable(), sumRgb: new Growable(), sumGray: new Growable() };
  let last: Uint8Array | null = null;
  let lastEdges: Uint8Array | null = null;
  const dedges = o.edges ? new Growable() : null;
  let frames = 0;
  for await (const chunk of streamVideoFrames(path, { width: o.width, height: o.height, chunkFrames: o.chunkFrames ?? 32, maxFrames: o.maxFrames, scaleFlags: 'bilinear' })) {
    let data = chunk.data;
    let n = chunk.count;
    if (last) {
      const withPrev = new Uint8Array((n + 1) * frameBytes);
      withPrev.set(last);
      withPrev.set(data.subarray(0, n * frameBytes), frameBytes);
      data = withPrev;
      n += 1;
    }
    const s: SceneSums = o.backend === 'gpu' ? await sceneSums(o.device!, data, n, pixels) : sceneSumsRef(data, n, pixels);
    const from = last ? 1 : 0;
    for (const k of Object.keys(cols) as (keyof typeof cols)[]) cols[k].push(s[k], from);
    if (dedges) {
      // The chunk's own frames only: the previous chunk's last edge map carries the difference across the border.
      const e = edgeDiffSums(data.subarray(from * frameBytes), n - from, o.width, o.height, lastEdges);
      dedges.push(e.sums, 0);
      lastEdges = e.last;
    }
    last = data.slice((n - 1) * frameBytes, n * frameBytes);
    frames += chunk.count;
    o.onFrames?.(frames);
  }
  return {
    frames, pixels, width: o.width, height: o.height,
    dh: cols.dh.done(), ds: cols.ds.done(), dv: cols.dv.done(), dgray: cols.dgray.done(), sumRgb: cols.sumRgb.done(), sumGray: cols.sumGray.done(),
    ...(dedges ? { dedges: dedges.done() } : {}),
  };
}
