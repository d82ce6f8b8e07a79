// The async float32 sampler against engine/reference/flow-match.ts sample64 on the same velocity function.
import { describe, expect, it } from 'vitest';
import { sampleFlowMatch } from '../../../engine/pipeline/sampler.js';
import { sample64, type GuidanceMode } from '../../../engine/reference/flow-match.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';

// A nonlinear velocity that differs per branch, position and time.
function vel(x: ArrayLike<number>, t: number, branch: 'cond' | 'uncond'): Float64Array {
  const a = branch === 'cond' ? 0.7 : -0.3;
  return Float64Array.from({ length: x.length }, (_, i) => Math.sin(x[i] * a + i * 0.1) - (t / 1000) * x[i] + (branch === 'cond' ? 0.2 : -0.1));
}

async function run(steps: number, guidance: number, mode: GuidanceMode) {
  const n = 37;
  const noise = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i * 1.7) * 1.3));
  const calls = { cond: 0, uncond: 0 };
  const got = await sampleFlowMatch(noise, {
    steps, shift: 3, numTrainTimesteps: 1000, guidance, guidanceMode: mode,
    velocity: async (x, t, withUncond) => {
      calls.cond++;
      if (withUncond) calls.uncond++;
      return { cond: Float32Array.from(vel(x, t, 'cond')), uncond: withUncond ? Float32Array.from(vel(x, t, 'uncond')) : undefined };
    },
  });
  const want = sample64((x: Tensor64, t, branch) => ({ shape: x.shape, data: vel(x.data, t, branch) }), { shape: [n], data: Float64Array.from(noise) }, {
    numSteps: steps, shift: 3, guidance, guidanceMode: mode,
  });
  return { got, want: want.data, calls };
}

describe('sampleFlowMatch', () => {
  for (const mode of ['reference', 'constant'] as const) {
    it(`matches sample64 with CFG (${mode} guidance), 7 steps`, async () => {
      const { got, want, calls } = await run(7, 4.5, mode);
      expect(calls).toEqual({ cond: 7, uncond: 7 });
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4 * (1 + Math.abs(want[i])));
    });
  }

  it('guidance <= 1 runs the conditional branch only (matches sample64)', async () => {
    const { got, want, calls } = await run(3, 1, 'reference');
    expect(calls).toEqual({ cond: 3, uncond: 0 });
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * (1 + Math.abs(want[i])));
  });

  it('reference and constant modes differ; onStep sees every step with the schedule', async () => {
    const a = await run(4, 6, 'reference');
    const b = await run(4, 6, 'constant');
    expect(Math.max(...a.got.map((v, i) => Math.abs(v - b.got[i])))).toBeGreaterThan(1e-3);
    const seen: number[] = [];
    await sampleFlowMatch(new Float32Array(3), {
      steps: 5, shift: 3, numTrainTimesteps: 1000, guidance: 1, guidanceMode: 'constant',
      velocity: async (x) => ({ cond: new Float32Array(x.length) }),
      onStep: (s) => {
        seen.push(s.timestep);
        expect(s.sigmaNext).toBeLessThan(s.sigma);
      },
    });
    expect(seen.length).toBe(5);
    expect(seen[0]).toBeCloseTo(1000, 3);
  });

  it('a guided velocity (v_u + g (v_c - v_u) computed by the model) gives the branch result; g is the step weight', async () => {
    const { got: want } = await run(5, 4.5, 'reference');
    const n = 37;
    const noise = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.cos(i * 1.7) * 1.3));
    const weights: number[] = [];
    const got = await sampleFlowMatch(noise, {
      steps: 5, shift: 3, numTrainTimesteps: 1000, guidance: 4.5, guidanceMode: 'reference',
      velocity: async (x, t, withUncond, _step, g) => {
        expect(withUncond).toBe(true);
        weights.push(g);
        const c = vel(x, t, 'cond');
        const u = vel(x, t, 'uncond');
        return { guided: Float32Array.from(c, (cv, i) => Math.fround(u[i]!) + g * (Math.fround(cv) - Math.fround(u[i]!))) };
      },
    });
    expect(new Set(weights).size).toBeGreaterThan(1); // the reference mode changes the weight over the steps
    for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!)));
    await expect(sampleFlowMatch(noise, {
      steps: 2, shift: 3, numTrainTimesteps: 1000, guidance: 1, guidanceMode: 'constant',
      velocity: async (x) => ({ guided: new Float32Array(x.length) }),
    })).rejects.toThrow(/guided velocity although CFG is off/);
    await expect(sampleFlowMatch(noise, {
      steps: 2, shift: 3, numTrainTimesteps: 1000, guidance: 3, guidanceMode: 'constant',
      velocity: async () => ({ guided: new Float32Array(2) }),
    })).rejects.toThrow(/returned 2 guided values for 37 latents/);
  });
});
