// Optical flow (shaders/flow.wgsl) against its float64 reference on awkward sizes (odd, pyramid levels of 1 pixel
// rows), poisoned outputs; and the method itself on known translations of a smooth random texture: the mean flow
// equals the shift within 10%.
import { describe, expect, it } from 'vitest';
import { opticalFlow } from '../../../engine/ops/flow.js';
import { downsampleRef, opticalFlowRef, upsampleFlowRef } from '../../../engine/ops/flow.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

/** A smooth texture (sum of random sinusoids, 0..255) sampled at (x + dx, y + dy). */
function texture(w: number, h: number, dx: number, dy: number, seed: number): Float64Array {
  const r = rng(seed);
  const waves = Array.from({ length: 6 }, () => ({ fx: (r() - 0.5) * 0.5, fy: (r() - 0.5) * 0.5, ph: r() * 6.28, a: 15 + 20 * r() }));
  const out = new Float64Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 128;
      for (const q of waves) v += q.a * Math.sin(q.fx * (x + dx) + q.fy * (y + dy) + q.ph);
      out[y * w + x] = Math.fround(v);
    }
  return out;
}

describe('optical flow', () => {
  it('reference helpers: 2x2 means with clamped edges, nearest x2 upsampling', () => {
    expect([...downsampleRef(Float64Array.from([1, 3, 5, 7, 9, 11]), 3, 2)]).toEqual([5, 8]); // (1+3+7+9)/4, (5+5+11+11)/4
    expect([...upsampleFlowRef(Float64Array.from([1, -1]), 1, 1, 3, 2)]).toEqual([2, -2, 2, -2, 2, -2, 2, -2, 2, -2, 2, -2]);
  });

  for (const [w, h, levels, iters, radius] of [[37, 29, 3, 2, 2], [20, 5, 3, 1, 1], [16, 16, 1, 3, 3]] as const) {
    it(`GPU equals the float64 reference: ${w}x${h}, ${levels} levels, ${iters} iterations, radius ${radius}`, async () => {
      const device = await testDevice();
      const a = texture(w, h, 0, 0, w), b = texture(w, h, 1.3, -0.7, w);
      const out = Tensor.empty(device, [h, w, 2], 'f32').poison();
      opticalFlow(Tensor.from(device, a, [h, w]), Tensor.from(device, b, [h, w]), { levels, iters, radius, out });
      const want = opticalFlowRef(a, b, w, h, { levels, iters, radius });
      // f32 sums of ~50 products of gradients (|I| ~ 100) then a 2x2 solve: a few 1e-4 px.
      expectClose(await out.read(), want, { rtol: 1e-4, atol: 2e-3 }, 'flow');
    });
  }

  it('recovers known shifts within 10% (mean over the interior)', async () => {
    const device = await testDevice();
    const [w, h] = [64, 48];
    for (const [dx, dy] of [[2, 0], [0, -1.5], [3, 1]] as const) {
      // Frame 1 shows the texture moved by (-dx, -dy)... i.e. content at p in frame 0 is at p - (dx, dy) in frame 1.
      const a = texture(w, h, 0, 0, 7), b = texture(w, h, dx, dy, 7);
      const f = await opticalFlow(Tensor.from(device, a, [h, w]), Tensor.from(device, b, [h, w])).read();
      let su = 0, sv = 0, n = 0;
      for (let y = 8; y < h - 8; y++) for (let x = 8; x < w - 8; x++) {
        su += f[(y * w + x) * 2]!;
        sv += f[(y * w + x) * 2 + 1]!;
        n++;
      }
      const [mu, mv] = [su / n, sv / n];
      const mag = Math.hypot(dx, dy);
      expect(Math.hypot(mu + dx, mv + dy) / mag, `shift (${dx}, ${dy}): mean flow (${mu.toFixed(3)}, ${mv.toFixed(3)})`).toBeLessThan(0.1);
    }
  });

  it('names bad shapes', async () => {
    const device = await testDevice();
    const a = Tensor.zeros(device, [4, 5]);
    expect(() => opticalFlow(a, Tensor.zeros(device, [5, 4]))).toThrow(/one shape/);
    expect(() => opticalFlow(a, a, { levels: 0 })).toThrow(/positive integers/);
  });
});
