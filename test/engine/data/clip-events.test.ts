// The CLIP embedder for event stitching on a tiny random-weight CLIP tower (HF layout, 30 px images in 6 px
// patches): the shot embedding (normalised mean of the normalised frame embeddings, 8 frames in one batch) equals
// the float64 reference; on a lavfi video the head/tail embeddings of a streamed decode equal the reference on the
// same decoded frames, and the stitching decision follows the reference similarities.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipVideoEmbedder } from '../../../engine/data/clip-events.js';
import { edgeFrames, shotEdgeEmbeddings, stitchEvents } from '../../../engine/data/events.js';
import type { ClipVisionConfig } from '../../../engine/io/configs.js';
import { makeTinyAestheticModel } from '../../../engine/io/make-tiny-aesthetic.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { unitEmbedding64, weights64 } from '../../helpers/clip-vision.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { concatVideo } from '../../helpers/lavfi.js';
import { rng } from '../../helpers/random.js';

let dir = '';
let cfg: ClipVisionConfig;
let w: Map<string, Tensor64>;
let embedder: ClipVideoEmbedder;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-clip-events-'));
  cfg = await makeTinyAestheticModel(join(dir, 'clip'), { seed: 21 });
  w = await weights64(join(dir, 'clip', 'model.safetensors'));
  embedder = await ClipVideoEmbedder.load(await testDevice(), join(dir, 'clip'));
});
afterAll(async () => {
  embedder?.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** normalise(mean of the unit reference embeddings). */
function shotEmbedding64(frames: readonly Uint8Array[]): Float64Array {
  const S = cfg.image_size;
  const m = new Float64Array(cfg.projection_dim);
  for (const f of frames) unitEmbedding64(w, cfg, f, S, S).forEach((v, i) => (m[i]! += v / frames.length));
  const n = Math.hypot(...m);
  return m.map((v) => v / n);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

describe('CLIP event embedder', () => {
  it('embeds 8 frames as the normalised mean of their normalised embeddings (float64 reference)', async () => {
    expect(embedder.width).toBe(30);
    expect(embedder.height).toBe(30);
    const r = rng(5);
    const frames = Array.from({ length: 8 }, () => Uint8Array.from({ length: 30 * 30 * 3 }, () => Math.floor(r() * 256)));
    const got = await embedder.embed(frames);
    expect(got.length).toBe(cfg.projection_dim);
    expectClose(got, shotEmbedding64(frames), { rtol: 1e-4, atol: 1e-5 }, 'shot embedding');
    // One frame differs from the mean of eight (the mean is not just the first frame's embedding).
    expect(Math.abs(dot(got, shotEmbedding64(frames.slice(0, 1))) - 1)).toBeGreaterThan(1e-4);
    await expect(embedder.embed([])).rejects.toThrow('no frames to embed');
  });

  it('streamed head/tail embeddings equal the reference; the stitching decision follows the reference similarities', async () => {
    const v = join(dir, 'v.mp4');
    concatVideo(v, [
      { src: 'testsrc2', frames: 12 }, { src: 'testsrc2', frames: 12, vf: 'hue=h=120' }, { src: 'smptehdbars', frames: 10 },
      { src: 'mandelbrot', frames: 5 }, { src: 'mandelbrot', frames: 9, vf: 'negate' },
    ], { width: 40, height: 24, fps: 8 });
    const shots: [number, number][] = [[0, 12], [12, 24], [24, 34], [34, 39], [39, 48]];
    const { head, tail } = await shotEdgeEmbeddings(v, shots, embedder, 7);
    const all = await readVideoFrames(v, { width: 30, height: 30 });
    expect(all.length).toBe(48);
    const ref = (s: number, e: number, part: 'head' | 'tail') => shotEmbedding64(edgeFrames(s, e, part).map((k) => all[k]!));
    shots.forEach(([s, e], i) => {
      expectClose(head[i]!, ref(s, e, 'head'), { rtol: 1e-4, atol: 1e-5 }, `head ${i}`);
      expectClose(tail[i]!, ref(s, e, 'tail'), { rtol: 1e-4, atol: 1e-5 }, `tail ${i}`);
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
    expectClose(got.similarity.slice(1), sims, { rtol: 1e-4, atol: 1e-5 }, 'similarities');
    expect(got.events).toEqual(want);
    expect(new Set(want).size).toBeGreaterThan(1);
    expect(new Set(want).size).toBeLessThan(shots.length);
  });
});
