// The optimizer half of a training step, shared by the transformer's (train-step.ts) and the VAE's (vae-train-step.ts):
// TrainState (Adam moments per parameter, the step count, the optional EMA weights), which parameters get weight
// decay, and applyUpdate: the global gradient norm (the l2norm of the per-tensor l2norms, in parameter order:
// fixed-order reductions, no copy of the gradients), AdamW per tensor with the clip folded in (the norm stays on the
// GPU), then the EMA with diffusers' decay. training.md section 3.

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { cast } from '../ops/elementwise.js';
import { concat } from '../ops/layout.js';
import { reduce } from '../ops/reduce.js';
import { ADAMW_DEFAULTS, adamwStep, emaUpdate, type AdamWDefaults } from '../ops/optim.js';
import { emaDecay, learningRate, type EmaDecayOptions, type LrOptions } from './schedule.js';
import type { GradMap, ParamMap } from './vchitect-backward.js';

/** Embedding tables that get no weight decay (besides every 1-D tensor: norms and biases). */
const NO_DECAY_TABLES = new Set(['pos_embed.pos_embed']);

/** Whether AdamW's weight decay applies to a parameter: matrices and conv kernels only (training.md section 3). */
export function decays(name: string, shape: readonly number[]): boolean {
  return shape.length >= 2 && !NO_DECAY_TABLES.has(name);
}

/** Adam moments per parameter, the optimizer step count and (optionally) the EMA weights. */
export class TrainState {
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();
  readonly ema: Map<string, Tensor> | null;
  /** Optimizer steps taken so far (AdamW's t of the next step is step + 1). */
  step = 0;

  constructor(params: ParamMap, opts: { ema?: boolean } = {}) {
    if (params.size === 0) throw new Error('TrainState: no parameters (pass the model\'s checkpoint tensors (transformer or VAE) as f32 master weights)');
    for (const [k, p] of params) if (p.dtype !== 'f32') throw new Error(`TrainState: parameter ${k} is ${p.dtype}; master weights must be f32 (load them with dtype f32)`);
    for (const [k, p] of params) {
      this.m.set(k, T.zeros(p.device, p.shape, 'f32', `adam.m ${k}`));
      this.v.set(k, T.zeros(p.device, p.shape, 'f32', `adam.v ${k}`));
    }
    this.ema = opts.ema ? new Map([...params].map(([k, p]) => [k, cast(p, 'f32')])) : null;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values(), ...(this.ema?.values() ?? [])]) t.dispose();
    this.m.clear();
    this.v.clear();
    this.ema?.clear();
  }
}

export interface UpdateOptions {
  lr: number | LrOptions;
  adamw?: Partial<AdamWDefaults>;
  /** Global gradient-norm clip (default 1.0; 0 turns it off). */
  clip?: number;
  emaDecay?: EmaDecayOptions;
}

/**
 * Checks the state against the parameters and the options before any work; returns the step about to be taken
 * (1-based), its learning rate and the clip. `who` prefixes the messages ("train step", "vae train step").
 */
export function prepareUpdate(who: string, state: TrainState, params: ParamMap, o: UpdateOptions): { step: number; lr: number; clip: number } {
  for (const k of params.keys()) if (!state.m.has(k)) throw new Error(`${who}: parameter ${k} has no optimizer state (make the TrainState from the same parameters)`);
  if (params.size !== state.m.size) throw new Error(`${who}: ${params.size} parameters but the TrainState has ${state.m.size} (make it from the same parameters)`);
  const clip = o.clip ?? 1;
  if (!(clip >= 0)) throw new Error(`${who}: clip must be >= 0 (0 turns it off), got ${clip}`);
  if (o.emaDecay && !state.ema) throw new Error(`${who}: emaDecay given but the TrainState keeps no EMA (make it with { ema: true })`);
  const step = state.step + 1;
  const lr = typeof o.lr === 'number' ? o.lr : learningRate(step, o.lr);
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`${who}: learning rate must be a finite number >= 0, got ${lr}`);
  return { step, lr, clip };
}

/**
 * The global gradient norm, clipped AdamW on every parameter with a gradient and the EMA; advances state.step.
 * Returns the norm ([1] f32, the caller disposes it). The gradients are left to the caller.
 */
export function applyUpdate(who: string, state: TrainState, params: ParamMap, grads: GradMap, o: UpdateOptions, prep: { step: number; lr: number; clip: number }): Tensor {
  const { step, lr, clip } = prep;
  // Global norm = the l2norm of the per-tensor l2norms, taken in the parameters' order: fixed-order reductions
  // only (deterministic), and no concatenated copy of the gradients.
  const names = [...params.keys()].filter((k) => grads.has(k));
  for (const k of grads.keys()) if (!params.has(k)) throw new Error(`${who}: the backward produced a gradient for ${k}, which is not among the parameters`);
  const norms = names.map((k) => reduce('l2norm', grads.get(k)!, { axis: 'all' }));
  const all = concat(norms, 0);
  for (const t of norms) t.dispose();
  const norm = reduce('l2norm', all, { axis: 'all' });
  all.dispose();

  const wd = o.adamw?.weightDecay ?? ADAMW_DEFAULTS.weightDecay;
  for (const k of names) {
    const p = params.get(k)!;
    adamwStep(p, grads.get(k)!, state.m.get(k)!, state.v.get(k)!, {
      ...o.adamw, lr, step, weightDecay: decays(k, p.shape) ? wd : 0, clip, norm,
    });
  }
  if (state.ema) {
    const d = emaDecay(step, o.emaDecay);
    for (const [k, p] of params) emaUpdate(state.ema.get(k)!, p, d);
  }
  state.step = step;
  return norm;
}
