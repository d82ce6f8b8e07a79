// The 'shapes' make-tiny preset (16 CLIP + 16 T5 text tokens, 6 layers) through the WebGPU backend and the float64
// reference backend: the same [32, J] text conditioning for a synth caption and the empty prompt, and the same
// latents and frames after guided sampling.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint, type TinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import { expectClose } from '../../helpers/compare.js';

let dir: string;
let tiny: TinyCheckpoint;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-gpu-shapes-'));
  tiny = await makeTinyCheckpoint(dir, { preset: 'shapes', seed: 5 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("GPU backend on the 'shapes' preset", () => {
  it('matches the float64 reference: 32-token text conditioning, latents and frames (CFG, 2 frames, 2 steps, 64x64)', async () => {
    const prompt = 'a yellow triangle moving right on a white background';
    const req = { prompt, negativePrompt: '', frames: 2, width: 64, height: 64, steps: 2, guidance: 4, guidanceMode: 'reference' as const, seed: 11 };
    const gpu = await TextToVideoPipeline.fromPretrained(dir, { backend: 'gpu' });
    const ref = await TextToVideoPipeline.fromPretrained(dir, { backend: 'reference' });
    try {
      const J = tiny.transformer.joint_attention_dim;
      for (const p of [prompt, '']) {
        const a = await gpu.backend.encodeText(p);
        const b = await ref.backend.encodeText(p);
        expect([1, a.tokens, a.jointDim]).toEqual([1, 32, J]);
        expect([1, b.tokens, b.jointDim]).toEqual([1, 32, J]);
        expect(a.promptEmbeds.length).toBe(32 * J);
        expectClose(a.promptEmbeds, b.promptEmbeds, { rtol: 1e-4, atol: 1e-5 }, `prompt_embeds of ${JSON.stringify(p)}`);
        expectClose(a.pooled, b.pooled, { rtol: 1e-4, atol: 1e-5 }, `pooled of ${JSON.stringify(p)}`);
      }
      const x = await gpu.generate(req);
      const y = await ref.generate(req);
      expectClose(x.latents.data, y.latents.data, { rtol: 1e-4, atol: 1e-5 }, 'latents');
      expect([x.video.width, x.video.height, x.video.frames.length]).toEqual([64, 64, 2]);
      x.video.frames.forEach((f, i) => {
        let worst = 0;
        for (let j = 0; j < f.length; j++) worst = Math.max(worst, Math.abs(f[j]! - y.video.frames[i]![j]!));
        expect(worst, `frame ${i}: largest byte difference`).toBeLessThanOrEqual(1);
      });
    } finally {
      await gpu.dispose();
      await ref.dispose();
    }
  }, 600_000);
});
