// FlowMatchEulerDiscreteScheduler (diffusers 0.30.3, static shift) reference, the Vchitect CFG weights and a
// float64 sampling loop over a velocity function. Schedule values are rounded to float32 where diffusers does.
import { type Tensor64, assertShape } from './tensor64.js';

/** Time shift used by SD3/Vchitect: s -> shift*s / (1 + (shift-1)*s). */
export function shiftSigma(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/** Same mapping evaluated step by step in float32, as torch does on a float32 tensor. */
function shiftSigmaF32(sigma: number, shift: number): number {
  const f = Math.fround;
  return f(f(shift * sigma) / f(1 + f((shift - 1) * sigma)));
}

export interface FlowMatchSchedule {
  /** N+1 sigmas, decreasing from 1, last one 0 (float32 values). */
  sigmas: Float64Array;
  /** N timesteps sigma*1000 (float32 values), what the transformer receives. */
  timesteps: Float64Array;
}

/**
 * diffusers set_timesteps(N) without custom sigmas:
 *   init: sigmas_train = shift(linspace(1, T, T)[::-1] / T) in float32; sigma_max = first, sigma_min = last
 *   t = linspace(sigma_max*T, sigma_min*T, N) (float64); sigmas = shift(t / T) -> float32; timesteps = sigmas*T (f32);
 *   append sigma 0.
 * Note sigma_min is shifted once at init and the whole grid is shifted again, exactly like diffusers.
 */
export function flowMatchSchedule(numSteps: number, shift: number, numTrainTimesteps = 1000): FlowMatchSchedule {
  if (!Number.isInteger(numSteps) || numSteps < 1) throw new Error(`flowMatchSchedule: numSteps must be a positive integer, got ${numSteps}`);
  const f = Math.fround;
  const nt = numTrainTimesteps;
  const sigmaMax = shiftSigmaF32(f(nt / nt), shift);
  const sigmaMin = shiftSigmaF32(f(f(1) / nt), shift);
  const sigmas = new Float64Array(numSteps + 1);
  const timesteps = new Float64Array(numSteps);
  const t0 = sigmaMax * nt;
  const t1 = sigmaMin * nt;
  const step = numSteps > 1 ? (t1 - t0) / (numSteps - 1) : 0;
  for (let i = 0; i < numSteps; i++) {
    // numpy linspace: i*step + start, the last element forced to stop.
    const t = numSteps > 1 && i === numSteps - 1 ? t1 : i * step + t0;
    sigmas[i] = f(shiftSigma(t / nt, shift));
    timesteps[i] = f(sigmas[i] * nt);
  }
  sigmas[numSteps] = 0;
  return { sigmas, timesteps };
}

/** Euler step in place-free form: x + (sigmaNext - sigma) * v. */
export function flowMatchStep64(x: Tensor64, v: Tensor64, sigma: number, sigmaNext: number): Tensor64 {
  assertShape(v, x.shape, 'flowMatchStep64 velocity');
  const out = new Float64Array(x.data.length);
  const dt = sigmaNext - sigma;
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] + dt * v.data[i];
  return { shape: [...x.shape], data: out };
}

export type GuidanceMode = 'reference' | 'constant';

/**
 * Per-step CFG weight. 'constant': g. 'reference' (Vchitect pipeline):
 * 1 + g * (1 - cos(pi * ((N - t_i) / N)^5)) / 2 with t_i the timestep (0..1000] and N the step count.
 */
export function guidanceWeight(mode: GuidanceMode, guidance: number, timestep: number, numSteps: number): number {
  if (mode === 'constant') return guidance;
  const base = (numSteps - timestep) / numSteps;
  return 1 + (guidance * (1 - Math.cos(Math.PI * Math.pow(base, 5)))) / 2;
}

export function guidanceWeights(mode: GuidanceMode, guidance: number, timesteps: Float64Array): Float64Array {
  return timesteps.map((t) => guidanceWeight(mode, guidance, t, timesteps.length));
}

/** CFG combination v_u + g * (v_c - v_u). */
export function combineGuidance64(vUncond: Tensor64, vCond: Tensor64, g: number): Tensor64 {
  assertShape(vCond, vUncond.shape, 'combineGuidance64');
  const out = new Float64Array(vUncond.data.length);
  for (let i = 0; i < out.length; i++) out[i] = vUncond.data[i] + g * (vCond.data[i] - vUncond.data[i]);
  return { shape: [...vUncond.shape], data: out };
}

/** Velocity model: latents at a timestep (sigma*1000) under the conditional or unconditional prompt. */
export type VelocityFn64 = (latents: Tensor64, timestep: number, branch: 'cond' | 'uncond', step: number) => Tensor64;

export interface SampleOptions64 {
  numSteps: number;
  shift: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  numTrainTimesteps?: number;
  /** Called after each step with the new latents. */
  onStep?: (step: number, latents: Tensor64) => void;
}

/**
 * Full Euler sampling loop from `noise`. CFG is applied when guidance > 1 (like the pipeline's
 * do_classifier_free_guidance); otherwise only the conditional branch is evaluated.
 */
export function sample64(model: VelocityFn64, noise: Tensor64, opts: SampleOptions64): Tensor64 {
  const { sigmas, timesteps } = flowMatchSchedule(opts.numSteps, opts.shift, opts.numTrainTimesteps ?? 1000);
  const useCfg = opts.guidance > 1;
  let x = noise;
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    const vc = model(x, t, 'cond', i);
    const v = useCfg
      ? combineGuidance64(model(x, t, 'uncond', i), vc, guidanceWeight(opts.guidanceMode, opts.guidance, t, opts.numSteps))
      : vc;
    x = flowMatchStep64(x, v, sigmas[i], sigmas[i + 1]);
    opts.onStep?.(i, x);
  }
  return x;
}
