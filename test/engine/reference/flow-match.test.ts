// Checks of the flow-match scheduler reference: shift formula, schedule endpoints (incl. the double-shifted
// sigma_min of diffusers), Euler step, the Vchitect "reference" CFG weights and the sampling loop.
import { describe, expect, it } from 'vitest';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import {
  combineGuidance64,
  flowMatchSchedule,
  flowMatchStep64,
  guidanceWeight,
  guidanceWeights,
  sample64,
  shiftSigma,
} from '../../../engine/reference/flow-match.js';
import { expectClose, makeRng, randn64 } from './fixtures.js';

describe('flow-match schedule', () => {
  it('shift maps 0->0, 1->1, is the identity for shift 1 and 0.5 -> 0.75 for shift 3', () => {
    expect(shiftSigma(0, 3)).toBe(0);
    expect(shiftSigma(1, 3)).toBe(1);
    expect(shiftSigma(0.3, 1)).toBeCloseTo(0.3, 15);
    expect(shiftSigma(0.5, 3)).toBeCloseTo(0.75, 15);
  });

  it('shift 1: sigmas = linspace(1, 1/1000, N) then 0, timesteps = 1000*sigma', () => {
    const n = 10;
    const { sigmas, timesteps } = flowMatchSchedule(n, 1);
    expect(sigmas.length).toBe(n + 1);
    expect(timesteps.length).toBe(n);
    for (let i = 0; i < n; i++) {
      expect(sigmas[i]).toBeCloseTo(1 + (i * (0.001 - 1)) / (n - 1), 6);
      expect(timesteps[i]).toBeCloseTo(sigmas[i] * 1000, 3);
    }
    expect(sigmas[0]).toBe(1);
    expect(timesteps[0]).toBe(1000);
    expect(sigmas[n]).toBe(0);
  });

  it('shift 3: grid linspace(1000, 1000*shift(1/1000), N)/1000 shifted again; strictly decreasing', () => {
    const n = 28;
    const { sigmas, timesteps } = flowMatchSchedule(n, 3);
    const smin = (3 * 0.001) / (1 + 2 * 0.001); // 0.0029940...
    const lastGrid = smin; // linspace end point
    expect(sigmas[n - 1]).toBeCloseTo((3 * lastGrid) / (1 + 2 * lastGrid), 6); // 0.0089286
    expect(sigmas[n - 1]).toBeCloseTo(0.008928571, 6);
    const mid = 1 + (13 * (smin - 1)) / (n - 1);
    expect(sigmas[13]).toBeCloseTo((3 * mid) / (1 + 2 * mid), 6);
    for (let i = 0; i < n; i++) {
      expect(sigmas[i + 1]).toBeLessThan(sigmas[i]);
      expect(Math.fround(sigmas[i])).toBe(sigmas[i]); // float32 values like diffusers
      expect(Math.fround(timesteps[i])).toBe(timesteps[i]);
    }
    expect(timesteps[0]).toBe(1000);
  });

  it('one step: sigma 1 then 0', () => {
    const { sigmas, timesteps } = flowMatchSchedule(1, 3);
    expect(Array.from(sigmas)).toEqual([1, 0]);
    expect(Array.from(timesteps)).toEqual([1000]);
  });
});

describe('sampling', () => {
  it('Euler step is x + (sigma_next - sigma) * v', () => {
    const x: Tensor64 = { shape: [2], data: Float64Array.of(1, -2) };
    const v: Tensor64 = { shape: [2], data: Float64Array.of(4, 8) };
    expect(Array.from(flowMatchStep64(x, v, 0.75, 0.5).data)).toEqual([0, -4]);
  });

  it('the exact velocity of a straight path recovers x0 from noise in any number of steps', () => {
    const rng = makeRng(5);
    const x0 = randn64(rng, [3, 4]);
    const noise = randn64(rng, [3, 4]);
    const velocity = (): Tensor64 => ({ shape: [3, 4], data: noise.data.map((e, i) => e - x0.data[i]) });
    for (const steps of [1, 7]) {
      const out = sample64(velocity, noise, { numSteps: steps, shift: 3, guidance: 1, guidanceMode: 'constant' });
      expectClose(out, x0, 1e-12);
    }
  });

  it('reference guidance: 1 + G*(1 - cos(pi*((N - t)/N)^5))/2; constant guidance: G', () => {
    // N = 100, t = 1000: base -9, (-9)^5 = -59049 (odd) -> cos = -1 -> 1 + G
    expect(guidanceWeight('reference', 7.5, 1000, 100)).toBeCloseTo(8.5, 9);
    // t = 100 -> base 0 -> weight 1
    expect(guidanceWeight('reference', 7.5, 100, 100)).toBe(1);
    // t = 50, N = 100 -> base 0.5, 0.5^5 = 1/32 -> 1 + 7.5*(1 - cos(pi/32))/2
    expect(guidanceWeight('reference', 7.5, 50, 100)).toBeCloseTo(1 + (7.5 * (1 - Math.cos(Math.PI / 32))) / 2, 14);
    expect(guidanceWeight('constant', 7.5, 50, 100)).toBe(7.5);
    const ts = Float64Array.of(1000, 500);
    expect(Array.from(guidanceWeights('constant', 3, ts))).toEqual([3, 3]);
    // N = 2: t = 500 -> base -249, odd power -> cos(-249^5 pi) = -1 -> 1 + G
    expect(guidanceWeights('reference', 3, ts)[1]).toBeCloseTo(4, 6);
  });

  it('CFG combination and branch calls', () => {
    const u: Tensor64 = { shape: [2], data: Float64Array.of(1, 2) };
    const c: Tensor64 = { shape: [2], data: Float64Array.of(3, 1) };
    expect(Array.from(combineGuidance64(u, c, 2).data)).toEqual([5, 0]);
    const calls: string[] = [];
    const model = (x: Tensor64, t: number, branch: 'cond' | 'uncond') => {
      calls.push(`${branch}@${t}`);
      return branch === 'cond' ? c : u;
    };
    const x0: Tensor64 = { shape: [2], data: Float64Array.of(0, 0) };
    const out = sample64(model, x0, { numSteps: 1, shift: 3, guidance: 2, guidanceMode: 'constant' });
    expect(calls).toEqual(['cond@1000', 'uncond@1000']);
    // sigma 1 -> 0: x = 0 - 1 * (u + 2 (c - u)) = -[5, 0]
    expect(out.data[0]).toBe(-5);
    expect(Math.abs(out.data[1])).toBe(0);
    calls.length = 0;
    sample64(model, x0, { numSteps: 2, shift: 3, guidance: 1, guidanceMode: 'constant' });
    expect(calls.every((s) => s.startsWith('cond'))).toBe(true);
  });
});
