// The LAION watermark scorer: the preprocessing (PIL's antialiased bilinear to 256x256 with 8-bit rounding between
// the passes, ImageNet mean/std), softmax class 0, the FrameScorer on a tiny random checkpoint in the real layout
// against the float64 reference network, and the head check (two classes).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIL_BILINEAR, resampleTaps, resizePil } from '../../../engine/data/clip-preprocess.js';
import { IMAGENET_MEAN, IMAGENET_STD, loadLaionWatermark, watermarkPreprocess, watermarkProbability } from '../../../engine/data/watermark-model.js';
import { TINY_EFFICIENTNET, makeTinyWatermarkModel } from '../../../engine/io/make-tiny-watermark.js';
import { efficientNetForward64, watermarkProbability64 } from '../../../engine/reference/efficientnet.js';
import { weights64 } from '../../helpers/clip-vision.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-watermark-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LAION watermark preprocessing', () => {
  it("PIL bilinear halves with the [1, 3, 3, 1] / 8 kernel (edge taps renormalised), like Image.resize(BILINEAR)", () => {
    const t = resampleTaps(8, 4, PIL_BILINEAR);
    expect(t[1]).toEqual({ start: 1, weights: Float64Array.from([1, 3, 3, 1].map((v) => v / 8)) });
    expect(t[0]).toEqual({ start: 0, weights: Float64Array.from([3, 3, 1].map((v) => v / 7)) });
    // one row 8 -> 4 (height unchanged): rounded to 8 bits
    const row = Uint8Array.from([0, 80, 160, 240, 0, 10, 20, 30].flatMap((v) => [v, v, v]));
    const out = resizePil(row, 8, 1, 4, 1, PIL_BILINEAR, true);
    // taps start at 0 (3, 3, 1 / 7), 1, 3 (1, 3, 3, 1 / 8) and 5 (1, 3, 3 / 7)
    const want = [Math.round((3 * 0 + 3 * 80 + 160) / 7), Math.round((80 + 3 * 160 + 3 * 240 + 0) / 8), Math.round((240 + 3 * 0 + 3 * 10 + 20) / 8), Math.round((10 + 3 * 20 + 3 * 30) / 7)];
    expect(Array.from(out.filter((_, i) => i % 3 === 0))).toEqual(want);
  });

  it('rounds to 8 bits after the horizontal pass, as PIL does on RGB images', () => {
    // 2x1 -> 1x1 then 1x2 -> 1x1: horizontal mean 0.5 rounds to 1 (half away from zero here, 0.5 -> 1) first.
    const img = Uint8Array.from([0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]); // 2x2: (0, 1 / 0, 0)
    const between = resizePil(img, 2, 2, 1, 1, PIL_BILINEAR, true)[0];
    const once = resizePil(img, 2, 2, 1, 1, PIL_BILINEAR, false)[0];
    expect([between, once]).toEqual([1, 0]); // (1 + 0) / 2 = 0.5 -> 1 vs 0.25 -> 0
  });

  it('normalises with ImageNet mean/std; a 256x256 frame is not resampled; a constant frame stays constant', () => {
    const S = 256;
    const f = new Uint8Array(S * S * 3);
    f.set([255, 0, 128], 0);
    const px = watermarkPreprocess(f, S, S);
    expect(px.length).toBe(3 * S * S);
    expect(px[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(px[S * S]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(px[2 * S * S]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
    const flat = new Uint8Array(40 * 30 * 3).fill(77);
    const q = watermarkPreprocess(flat, 40, 30);
    for (let c = 0; c < 3; c++) expect(new Set(q.subarray(c * S * S, (c + 1) * S * S))).toEqual(new Set([Math.fround((77 / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!)]));
  });

  it('takes softmax class 0 (LAION: 0 = watermark, 1 = clear)', () => {
    expect(watermarkProbability([0, 0])).toBe(0.5);
    expect(watermarkProbability([2, -1])).toBeCloseTo(1 / (1 + Math.exp(-3)), 12);
    expect(watermarkProbability([1000, 0])).toBe(1);
  });
});

describe('LAION watermark scorer', () => {
  it('scores frames as preprocessing + the float64 network + softmax[0] (tiny random checkpoint, real layout)', async () => {
    const device = await testDevice();
    const path = join(dir, 'tiny.safetensors');
    const cfg = await makeTinyWatermarkModel(path, { seed: 11 });
    const { scorer, model } = await loadLaionWatermark(device, path);
    try {
      expect(scorer.frameSize?.(70, 50)).toEqual({ width: 70, height: 50 });
      const w = await weights64(path);
      const r = rng(9);
      const [W, H] = [70, 50];
      // 5 frames: two passes through the network (batches of 4)
      // different colours and textures (noise of different amplitude around a per-frame colour)
      const frames = Array.from({ length: 5 }, (_, k) => Uint8Array.from({ length: W * H * 3 }, (_, i) => Math.min(255, Math.floor(((k * 53 + (i % 3) * 90) % 256) * 0.6 + r() * 40 * k))));
      const got = await scorer.score(frames, { width: W, height: H });
      expect(got.length).toBe(5);
      const wants: number[] = [];
      frames.forEach((f, i) => {
        const want = watermarkProbability64(efficientNetForward64(w, cfg, { shape: [3, 256, 256], data: Float64Array.from(watermarkPreprocess(f, W, H)) }));
        expect(got[i]).toBeGreaterThan(0);
        expect(got[i]).toBeLessThan(1);
        expect(Math.abs(got[i]! - want), `frame ${i}: ${got[i]} vs ${want}`).toBeLessThan(1e-5);
        wants.push(want);
      });
      // the frames give different probabilities, so the comparison is not of one constant
      expect(Math.max(...wants) - Math.min(...wants)).toBeGreaterThan(1e-4);
    } finally {
      model.dispose();
    }
  });

  it('refuses a head without exactly two classes', async () => {
    const device = await testDevice();
    const path = join(dir, 'three.safetensors');
    await makeTinyWatermarkModel(path, { shape: { ...TINY_EFFICIENTNET, classifier: [10, 7, 3] } });
    await expect(loadLaionWatermark(device, path)).rejects.toThrow(/classifier ends in 3 outputs; LAION's watermark head has 2/);
  });
});
