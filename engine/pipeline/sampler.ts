// Flow-match Euler sampling loop over an async velocity model on float32 latents, with classifier-free guidance
// (spec section 4). Mirrors engine/reference/flow-match.ts sample64 step for step.
import { flowMatchSchedule, guidanceWeight, type GuidanceMode } from '../reference/flow-match.js';

export interface SamplerStep {
  /** 0-based step index. */
  step: number;
  steps: number;
  /** Timestep fed to the model (sigma*1000). */
  timestep: number;
  sigma: number;
  sigmaNext: number;
  /** CFG weight used at this step (1 when CFG is off). */
  guidanceWeight: number;
  /** Latents after this step. */
  latents: Float32Array;
  /** Wall time of this step in ms. */
  ms: number;
}

/** What a velocity call returns: the branches, or (with CFG) their guided combination. */
export type BranchVelocity = { cond: Float32Array; uncond?: Float32Array } | { guided: Float32Array };

export interface SamplerOptions {
  steps: number;
  shift: number;
  numTrainTimesteps: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  /**
   * Velocity for both branches: `withUncond` is false when CFG is off (guidance <= 1, like diffusers'
   * do_classifier_free_guidance); then only the conditional velocity is returned. With CFG a model may instead
   * return `guided` = uncond + g (cond - uncond) already combined (g = `weight`, the step's CFG weight), e.g. a
   * CFG-parallel model whose branches live on different GPUs.
   */
  velocity: (latents: Float32Array, timestep: number, withUncond: boolean, step: number, weight: number) => Promise<BranchVelocity>;
  onStep?: (s: SamplerStep) => void | Promise<void>;
  now?: () => number;
}

/** Runs the Euler loop from `noise` (not modified); returns the final latents. */
export async function sampleFlowMatch(noise: Float32Array, opts: SamplerOptions): Promise<Float32Array> {
  const { sigmas, timesteps } = flowMatchSchedule(opts.steps, opts.shift, opts.numTrainTimesteps);
  const useCfg = opts.guidance > 1;
  const now = opts.now ?? (() => performance.now());
  let x = Float32Array.from(noise);
  for (let i = 0; i < timesteps.length; i++) {
    const t0 = now();
    const t = timesteps[i];
    const g = useCfg ? guidanceWeight(opts.guidanceMode, opts.guidance, t, opts.steps) : 1;
    const out = await opts.velocity(x, t, useCfg, i, g);
    const dt = sigmas[i + 1] - sigmas[i];
    const next = new Float32Array(x.length);
    if ('guided' in out) {
      if (!useCfg) throw new Error('velocity: returned a guided velocity although CFG is off');
      if (out.guided.length !== x.length) throw new Error(`velocity returned ${out.guided.length} guided values for ${x.length} latents`);
      for (let k = 0; k < x.length; k++) next[k] = x[k] + dt * out.guided[k];
    } else {
      const { cond, uncond } = out;
      if (cond.length !== x.length) throw new Error(`velocity returned ${cond.length} values for ${x.length} latents`);
      if (useCfg && (!uncond || uncond.length !== x.length)) throw new Error('velocity: the unconditional branch is missing or mis-sized');
      for (let k = 0; k < x.length; k++) {
        const v = useCfg ? uncond![k] + g * (cond[k] - uncond![k]) : cond[k];
        next[k] = x[k] + dt * v;
      }
    }
    x = next;
    await opts.onStep?.({ step: i, steps: opts.steps, timestep: t, sigma: sigmas[i], sigmaNext: sigmas[i + 1], guidanceWeight: g, latents: x, ms: now() - t0 });
  }
  return x;
}
