// Host-side training schedules (training.md sections 3 and 4): the flow-matching sigma sampling (logit-normal,
// uniform, mode) with the scheduler's shift, the learning rate (linear warmup, then constant or cosine), diffusers'
// EMA decay, and LiteGen's rule for which blocks to recompute. Pure functions of their inputs and a seeded draw.

export type SigmaSampling = 'logit_normal' | 'uniform' | 'mode';

export interface SigmaOptions {
  sampling: SigmaSampling;
  /** Scheduler shift s: sigma' = s u / (1 + (s - 1) u). */
  shift: number;
  /** logit_normal: mean and std of the normal. */
  logitMean?: number;
  logitStd?: number;
  /** mode: the scale of SD3's mode sampling (default 1.29). */
  modeScale?: number;
}

/** Shifts a sigma in [0, 1] as the flow-matching scheduler does. */
export function shiftSigma(u: number, shift: number): number {
  return (shift * u) / (1 + (shift - 1) * u);
}

/**
 * One sigma from uniforms in (0, 1) (`u1`, and `u2` for the Box-Muller normal of logit_normal): logit_normal
 * u = sigmoid(N(mean, std)); uniform u; mode u = 1 - u1 - scale (cos(pi u1 / 2)^2 - 1 + u1); then the shift.
 * timestep = 1000 sigma.
 */
export function sampleSigma(o: SigmaOptions, u1: number, u2: number): number {
  let u: number;
  if (o.sampling === 'uniform') u = u1;
  else if (o.sampling === 'mode') {
    const scale = o.modeScale ?? 1.29;
    u = 1 - u1 - scale * (Math.cos((Math.PI * u1) / 2) ** 2 - 1 + u1);
  } else {
    const n = Math.sqrt(-2 * Math.log(Math.max(u1, 1e-300))) * Math.cos(2 * Math.PI * u2);
    u = 1 / (1 + Math.exp(-((o.logitMean ?? 0) + (o.logitStd ?? 1) * n)));
  }
  return shiftSigma(u, o.shift);
}

export interface LrOptions {
  lr: number;
  warmup: number;
  schedule: 'constant' | 'cosine';
  /** Total steps (cosine decays to `minLr` at this step). */
  steps: number;
  minLr?: number;
}

/** Learning rate at step t (1-based): linear warmup over `warmup` steps, then constant or cosine to minLr. */
export function learningRate(t: number, o: LrOptions): number {
  if (o.warmup > 0 && t <= o.warmup) return (o.lr * t) / o.warmup;
  if (o.schedule === 'constant') return o.lr;
  const min = o.minLr ?? 0;
  const span = Math.max(1, o.steps - o.warmup);
  const progress = Math.min(1, (t - o.warmup) / span);
  return min + 0.5 * (o.lr - min) * (1 + Math.cos(Math.PI * progress));
}

export interface EmaDecayOptions {
  /** diffusers' use_ema_warmup: 1 - (1 + step / invGamma)^-power; else (1 + step) / (10 + step). */
  warmup?: boolean;
  invGamma?: number;
  power?: number;
  maxDecay?: number;
  minDecay?: number;
}

/** diffusers EMAModel.get_decay for optimization step `step` (its internal step - 1, as it counts from 1). */
export function emaDecay(step: number, o: EmaDecayOptions = {}): number {
  const s = Math.max(0, step - 1);
  if (s <= 0) return 0;
  const d = o.warmup ? 1 - (1 + s / (o.invGamma ?? 1)) ** -(o.power ?? 2 / 3) : (1 + s) / (10 + s);
  return Math.max(o.minDecay ?? 0, Math.min(d, o.maxDecay ?? 0.9999));
}

/**
 * LiteGen's selective recomputation rule: p = 1 - ratio, cut = 0.5; for block i = 1..n, if i p >= cut the block is
 * checkpointed (keeps only its input, reruns its forward in backward) and cut += 1. Returns the 1-based blocks.
 * ratio 0 checkpoints every block; ratio 1 none.
 */
export function recomputedBlocks(n: number, ratio: number): number[] {
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`--recompute ratio must be in [0, 1], got ${ratio}`);
  const p = 1 - ratio;
  let cut = 0.5;
  const out: number[] = [];
  for (let i = 1; i <= n; i++) {
    if (i * p >= cut) {
      out.push(i);
      cut += 1;
    }
  }
  return out;
}
