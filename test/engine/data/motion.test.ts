// Motion scores from optical flow: VBench's frame sampling and decision rule on hand-worked numbers; on videos, a pan
// of 2 px/frame gives a flow score of 2 within 10% and is dynamic, a looped still scores ~0 and is not (GPU and CPU).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipMotions, isDynamic, magnitudeStats, motionPairs } from '../../../engine/data/motion.js';
import { panVideo, stillImage } from '../../helpers/lavfi.js';
import { testDevice } from '../../helpers/gpu.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-motion-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('motion', () => {
  it('samples pairs every round(fps/8) frames, thinned evenly; VBench decision rule', () => {
    expect(motionPairs(0, 5, 8)).toEqual([[0, 1], [1, 2], [2, 3], [3, 4]]);
    expect(motionPairs(10, 17, 24)).toEqual([[10, 13], [13, 16]]);
    expect(motionPairs(0, 100, 8, 3)).toEqual([[0, 1], [33, 34], [66, 67]]);
    expect(magnitudeStats([3, 4, 0, 0])).toEqual([2.5, 5]);
    // 8 fps, 64x48: threshold 6 * 48 / 256 = 1.125; 16 pairs need round(4) = 4 above it.
    expect(isDynamic([...Array(4).fill(1.2), ...Array(12).fill(0)], 8, 64, 48)).toBe(true);
    expect(isDynamic([...Array(3).fill(1.2), ...Array(13).fill(0)], 8, 64, 48)).toBe(false);
    expect(isDynamic(Array(16).fill(2), 4, 64, 48)).toBe(false); // 4 fps: threshold doubles to 2.25
  });

  it('a 2 px/frame pan scores 2 within 10% and is dynamic; a still scores ~0 (GPU and CPU)', async () => {
    const png = join(dir, 'tex.png');
    stillImage(png, 'mandelbrot', 200, 48);
    const pan = join(dir, 'pan.mp4'), still = join(dir, 'still.mp4');
    panVideo(pan, png, 20, 2, { width: 64, height: 48, fps: 8 });
    panVideo(still, png, 20, 0, { width: 64, height: 48, fps: 8 });
    const device = await testDevice();
    for (const backend of ['gpu', 'cpu'] as const) {
      const o = { width: 64, height: 48, fps: 8, backend, device, maxPairs: 4 };
      const [p] = await clipMotions(pan, [[0, 20]], o);
      const [s] = await clipMotions(still, [[0, 20]], o);
      expect(p!.pairs).toBe(4);
      expect(Math.abs(p!.flow - 2) / 2, `${backend} pan flow ${p!.flow}`).toBeLessThan(0.1);
      expect(p!.dynamic).toBe(true);
      expect(s!.flow).toBeLessThan(0.05);
      expect(s!.dynamic).toBe(false);
    }
  });
});
