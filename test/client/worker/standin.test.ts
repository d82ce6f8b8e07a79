// The in-browser preview stand-in, run in Node on the test device: every step's preview and the final frames
// must match a float64 replay of the Euler sampler (x_k = sigma_k * noise + (1 - sigma_k) * scene).
import { describe, expect, it } from 'vitest';
import { latentPreview } from '../../../server/latent-preview.js';
import { gaussianNoise, hashString, LATENT_CHANNELS, MAX_LATENT_FLOATS, proceduralScene, runStandIn } from '../../../client/worker/standin.js';
import type { LocalProgress } from '../../../client/worker/protocol.js';
import { testDevice } from '../../helpers/gpu.js';

function maxByteDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('stand-in sampler', () => {
  it('gaussianNoise has mean ~0 and variance ~1 and depends only on the seed', () => {
    const n = 20_001;
    const x = gaussianNoise(n, 987654321);
    let s = 0;
    let s2 = 0;
    for (const v of x) {
      s += v;
      s2 += v * v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
    expect(gaussianNoise(7, 5)).toEqual(gaussianNoise(7, 5));
    expect(gaussianNoise(7, 5)).not.toEqual(gaussianNoise(7, 6));
  });

  it('matches a float64 replay at every step and ends on the scene', async () => {
    const device = await testDevice();
    const seed = (Math.random() * 0xffffffff) >>> 0;
    const req = { prompt: 'a fox in the snow', negative_prompt: '', frames: 3, width: 40, height: 24, steps: 7, guidance: 7.5, seed, fps: 5 };
    const [w, h] = [5, 3];
    const shape = { frames: 3, channels: LATENT_CHANNELS, height: h, width: w };
    const progress: LocalProgress[] = [];
    const result = await runStandIn(device, req, (p) => progress.push(p));
    const noise = Float64Array.from(gaussianNoise(3 * 16 * h * w, seed), Math.fround);
    const scene = Float64Array.from(proceduralScene(3, h, w, hashString(req.prompt) ^ seed), Math.fround);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const p of progress) {
      const sigma = 1 - p.step / 7;
      const ref = Float32Array.from(noise, (v, i) => sigma * v + (1 - sigma) * scene[i]!);
      expect(p.preview!.width).toBe(w);
      expect(p.preview!.height).toBe(h);
      expect(maxByteDiff(p.preview!.rgba, latentPreview(ref, shape, { frame: 0 }).rgba), `step ${p.step}`).toBeLessThanOrEqual(1);
      expect(p.its).toBeGreaterThan(0);
    }
    expect(result.frames).toHaveLength(3);
    const sceneF32 = Float32Array.from(scene);
    result.frames.forEach((f, i) => expect(maxByteDiff(f.rgba, latentPreview(sceneF32, shape, { frame: i }).rgba), `frame ${i}`).toBeLessThanOrEqual(1));
    // frames differ from each other (the scene moves)
    expect(maxByteDiff(result.frames[0]!.rgba, result.frames[2]!.rgba)).toBeGreaterThan(3);
  });

  it('refuses sizes above its budget with the way out', async () => {
    const device = await testDevice();
    const frames = Math.ceil(MAX_LATENT_FLOATS / (16 * 160 * 90)) + 1;
    await expect(runStandIn(device, { prompt: 'x', negative_prompt: '', frames, width: 1280, height: 720, steps: 1, guidance: 1, seed: 1, fps: 8 }, () => {})).rejects.toThrow(/Preview preset/);
  });
});
