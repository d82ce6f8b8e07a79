// Training schedules against the spec's numbers: LiteGen's recompute sets, the shift, the sigma distributions,
// warmup/cosine learning rates and diffusers' EMA decay.
import { describe, expect, it } from 'vitest';
import { emaDecay, learningRate, recomputedBlocks, sampleSigma, shiftSigma } from '../../../engine/train/schedule.js';
import { rng } from '../../helpers/random.js';

describe('training schedules', () => {
  it("LiteGen's recompute rule gives the spec's block sets", () => {
    expect(recomputedBlocks(10, 0.2)).toEqual([1, 2, 4, 5, 6, 7, 9, 10]);
    expect(recomputedBlocks(10, 0.5)).toEqual([1, 3, 5, 7, 9]);
    expect(recomputedBlocks(10, 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(recomputedBlocks(10, 1)).toEqual([]);
    expect(() => recomputedBlocks(4, 1.5)).toThrow(/must be in \[0, 1\]/);
  });

  it('shifts sigmas as the scheduler does and keeps the ends', () => {
    expect(shiftSigma(0, 3)).toBe(0);
    expect(shiftSigma(1, 3)).toBe(1);
    expect(shiftSigma(0.5, 3)).toBeCloseTo(0.75, 12);
    expect(shiftSigma(0.3, 1)).toBeCloseTo(0.3, 12);
  });

  it('draws logit-normal sigmas whose logits have the asked mean and std; uniform and mode stay in [0, 1]', () => {
    const r = rng(5);
    const logits: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const s = sampleSigma({ sampling: 'logit_normal', shift: 1, logitMean: 0.5, logitStd: 0.8 }, r(), r());
      logits.push(Math.log(s / (1 - s)));
    }
    const mean = logits.reduce((a, b) => a + b, 0) / logits.length;
    const std = Math.sqrt(logits.reduce((a, b) => a + (b - mean) ** 2, 0) / logits.length);
    expect(mean).toBeCloseTo(0.5, 1);
    expect(std).toBeCloseTo(0.8, 1);
    for (let i = 0; i < 1000; i++) {
      for (const sampling of ['uniform', 'mode'] as const) {
        const s = sampleSigma({ sampling, shift: 3 }, r(), r());
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(1);
      }
    }
    expect(sampleSigma({ sampling: 'uniform', shift: 1 }, 0.37, 0.9)).toBeCloseTo(0.37, 12);
    // SD3's mode sampling at u = 0.5 with scale 1.29: 1 - 0.5 - 1.29 (cos(pi/4)^2 - 0.5) = 0.5.
    expect(sampleSigma({ sampling: 'mode', shift: 1 }, 0.5, 0)).toBeCloseTo(0.5, 12);
  });

  it('warms the learning rate up linearly, then holds it or decays it by a cosine', () => {
    const o = { lr: 1e-3, warmup: 10, steps: 110, schedule: 'constant' as const };
    expect(learningRate(1, o)).toBeCloseTo(1e-4, 15);
    expect(learningRate(10, o)).toBeCloseTo(1e-3, 15);
    expect(learningRate(50, o)).toBe(1e-3);
    const c = { ...o, schedule: 'cosine' as const, minLr: 1e-5 };
    expect(learningRate(10, c)).toBeCloseTo(1e-3, 15);
    expect(learningRate(60, c)).toBeCloseTo(1e-5 + 0.5 * (1e-3 - 1e-5), 15);
    expect(learningRate(110, c)).toBeCloseTo(1e-5, 15);
  });

  it("follows diffusers' EMA decay", () => {
    expect(emaDecay(1)).toBe(0);
    expect(emaDecay(2)).toBeCloseTo(2 / 11, 15);
    expect(emaDecay(1e9)).toBe(0.9999);
    expect(emaDecay(11, { warmup: true, power: 2 / 3 })).toBeCloseTo(1 - 11 ** (-2 / 3), 15);
  });
});
