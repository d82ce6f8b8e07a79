// The WebGPU backend (text encoders, transformer and VAE on the GPU) inside the text-to-video pipeline reproduces
// the float64 reference pipeline for the same seed: latents after guided sampling, and the decoded frames.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import { expectClose } from '../../helpers/compare.js';

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-gpu-backend-'));
  await makeTinyCheckpoint(dir, { seed: 3 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GPU backend', () => {
  it('matches the float64 reference pipeline: latents and decoded frames (CFG, 2 frames, 3 steps)', async () => {
    const req = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', frames: 2, width: 32, height: 48, steps: 3, guidance: 4, guidanceMode: 'reference' as const, seed: 9 };
    const gpu = await TextToVideoPipeline.fromPretrained(dir, { backend: 'gpu' });
    const a = await gpu.generate(req);
    await gpu.dispose();
    const ref = await TextToVideoPipeline.fromPretrained(dir, { backend: 'reference' });
    const b = await ref.generate(req);
    await ref.dispose();
    expectClose(a.latents.data, b.latents.data, { rtol: 1e-4, atol: 1e-5 }, 'latents');
    expect(a.video.frames.length).toBe(2);
    expect([a.video.width, a.video.height]).toEqual([32, 48]);
    a.video.frames.forEach((f, i) => {
      let worst = 0;
      for (let j = 0; j < f.length; j++) worst = Math.max(worst, Math.abs(f[j]! - b.video.frames[i]![j]!));
      expect(worst, `frame ${i}: largest byte difference`).toBeLessThanOrEqual(1);
    });
  }, 600_000);
});
