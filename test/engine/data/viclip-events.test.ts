// The ViCLIP embedder for event stitching on a tiny random ViCLIP in the real .pth layout (8 frames of 30 px in 6 px
// patches): the embedding of 8 frames equals the float64 reference (ImageNet mean/std computed in the test) on frames
// at the model size and, after cv2's bilinear resize (resize-linear.ts, tested against OpenCV), at another size;
// other frame counts are resampled to 8; on a lavfi video the head/tail embeddings of the streamed decode (at the
// display size) equal the reference on the same frames, and the stitching decision follows the reference similarities.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { edgeFrames, shotEdgeEmbeddings, stitchEvents } from '../../../engine/data/events.js';
import { resizeLinear } from '../../../engine/data/resize-linear.js';
import { pickFrames, ViclipVideoEmbedder } from '../../../engine/data/viclip-events.js';
import type { ViclipVisionConfig } from '../../../engine/io/configs.js';
import { makeTinyViclipModel } from '../../../engine/io/make-tiny-viclip.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { weights64 } from '../../helpers/clip-vision.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { concatVideo } from '../../helpers/lavfi.js';
import { rng } from '../../helpers/random.js';
import { viclipUnit64 } from '../../helpers/viclip.js';

let dir = '';
let cfg: ViclipVisionConfig;
let w: Map<string, Tensor64>;
let embedder: ViclipVideoEmbedder;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-viclip-events-'));
  cfg = await makeTinyViclipModel(join(dir, 'viclip'), { seed: 21 });
  w = await weights64(join(dir, 'viclip', 'model.safetensors'));
  embedder = await ViclipVideoEmbedder.load(await testDevice(), join(dir, 'viclip'));
});
afterAll(async () => {
  embedder?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const T = { rtol: 1e-4, atol: 1e-5 };
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
const randomFrames = (n: number, width: number, height: number, seed: number) => {
  const r = rng(seed);
  return Array.from({ length: n }, () => Uint8Array.from({ length: width * height * 3 }, () => Math.floor(r() * 256)));
};

describe('ViCLIP event embedder', () => {
  it('embeds 8 frames of the model size as the float64 reference does (unit length)', async () => {
    expect([embedder.width, embedder.height]).toEqual([30, 30]);
    const frames = randomFrames(8, 30, 30, 5);
    const got = await embedder.embed(frames);
    expect(got.length).toBe(cfg.projection_dim);
    expect(Math.hypot(...got)).toBeCloseTo(1, 5);
    expectClose(got, viclipUnit64(w, cfg, frames), T, 'clip embedding');
    await expect(embedder.embed([])).rejects.toThrow('no frames to embed');
  });

  it('resizes frames of another size with cv2 INTER_LINEAR; other frame counts are resampled to 8', async () => {
    const frames = randomFrames(8, 37, 23, 6);
    const got = await embedder.embed(frames, { width: 37, height: 23 });
    expectClose(got, viclipUnit64(w, cfg, frames.map((f) => resizeLinear(f, 37, 23, 30, 30))), T, '37x23 frames');
    expect(pickFrames(4, 8)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(pickFrames(16, 8)).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    const four = randomFrames(4, 30, 30, 7);
    expectClose(await embedder.embed(four), viclipUnit64(w, cfg, [0, 0, 1, 1, 2, 2, 3, 3].map((i) => four[i]!)), T, '4 frames');
    await expect(embedder.embed([new Uint8Array(5)])).rejects.toThrow('5 bytes for a 30x30 RGB frame');
  });

  it('decodes at the display size, at most 1920x1080', () => {
    expect(embedder.frameSize(40, 24)).toEqual({ width: 40, height: 24 });
    expect(embedder.frameSize(3840, 2160)).toEqual({ width: 1920, height: 1080 });
    expect(embedder.frameSize(1080, 2400)).toEqual({ width: 864, height: 1920 });
  });

  it('streamed head/tail embeddings equal the reference; the stitching decision follows the reference similarities', async () => {
    const v = join(dir, 'v.mp4');
    concatVideo(v, [
      { src: 'testsrc2', frames: 12 }, { src: 'testsrc2', frames: 12, vf: 'hue=h=120' }, { src: 'smptehdbars', frames: 10 },
      { src: 'mandelbrot', frames: 5 }, { src: 'mandelbrot', frames: 9, vf: 'negate' },
    ], { width: 40, height: 24, fps: 8 });
    const shots: [number, number][] = [[0, 12], [12, 24], [24, 34], [34, 39], [39, 48]];
    const { head, tail } = await shotEdgeEmbeddings(v, shots, embedder, 7, { width: 40, height: 24 });
    const all = await readVideoFrames(v, { width: 40, height: 24 });
    expect(all.length).toBe(48);
    const ref = (s: number, e: number, part: 'head' | 'tail') => viclipUnit64(w, cfg, edgeFrames(s, e, part).map((k) => resizeLinear(all[k]!, 40, 24, 30, 30)));
    shots.forEach(([s, e], i) => {
      expectClose(head[i]!, ref(s, e, 'head'), T, `head ${i}`);
      expectClose(tail[i]!, ref(s, e, 'tail'), T, `tail ${i}`);
    });
    // A threshold in the widest gap between the reference similarities: the events must split exactly there.
    const sims = shots.slice(1).map(([s, e], i) => dot(ref(shots[i]![0], shots[i]![1], 'tail'), ref(s, e, 'head')));
    const sorted = [...sims].sort((a, b) => a - b);
    let t = 0, gap = -1;
    for (let i = 1; i < sorted.length; i++) if (sorted[i]! - sorted[i - 1]! > gap) [gap, t] = [sorted[i]! - sorted[i - 1]!, (sorted[i]! + sorted[i - 1]!) / 2];
    expect(gap).toBeGreaterThan(1e-3);
    const want = [0];
    sims.forEach((s) => want.push(want[want.length - 1]! + (s > t ? 0 : 1)));
    const got = stitchEvents(shots, head, tail, t);
    expectClose(got.similarity.slice(1), sims, T, 'similarities');
    expect(got.events).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(1);
    expect(new Set(want).size).toBeLessThan(shots.length);
  });
});
