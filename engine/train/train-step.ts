// One flow-matching training step of the Vchitect transformer on GPU tensors (training.md section 3):
//   sigma and eps drawn from (seed, step) with the engine's Philox generator; x_t = (1 - sigma) x0 + sigma eps;
//   target = eps - x0; v = modelForward(x_t, timestep = 1000 sigma); loss = mean((v - target)^2);
//   dOut = 2 (v - target) / n -> modelBackward; the global gradient norm over every gradient (the l2norm of the
//   per-tensor l2norms, in parameter order: deterministic, no copy of the gradients); AdamW per parameter tensor with the clip folded in (weight decay off for
//   1-D tensors (norms, biases) and the positional embedding table); optional EMA. One readback: [loss, norm].
// TrainState owns the Adam moments (m, v per parameter), the optimizer step count and the optional EMA weights.

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { axpby, cast, mul, scale, sub } from '../ops/elementwise.js';
import { concat } from '../ops/layout.js';
import { reduce } from '../ops/reduce.js';
import { ADAMW_DEFAULTS, adamwStep, emaUpdate, type AdamWDefaults } from '../ops/optim.js';
import { philoxBitsRef, randnRef, unitFromBits } from '../ops/random.ref.js';
import { emaDecay, learningRate, sampleSigma, type EmaDecayOptions, type LrOptions, type SigmaOptions } from './schedule.js';
import { memoryPlan, type MemoryOptions } from './memory-plan.js';
import { disposeModelSaved, modelBackward, modelForward, offloadReady, type GradMap, type ModelShape, type ParamMap } from './vchitect-backward.js';

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
    if (params.size === 0) throw new Error('TrainState: no parameters (pass the transformer\'s checkpoint tensors as f32 master weights)');
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

export interface TrainBatch {
  /** Clean latents [1, F, C, Hl, Wl] f32. */
  x0: Tensor;
  /** Cached text conditioning: encoder_hidden_states [1, T, J] and pooled [1, P], f32. */
  context: Tensor;
  pooled: Tensor;
}

export interface TrainStepOptions {
  seed: number;
  /** A constant learning rate or a schedule (learningRate at the optimizer step). */
  lr: number | LrOptions;
  /** Sigma sampling with shift, or a fixed sigma in (0, 1) (tests, overfitting checks). */
  sigma: SigmaOptions | { fixed: number };
  adamw?: Partial<AdamWDefaults>;
  /** Global gradient-norm clip (default 1.0; 0 turns it off). */
  clip?: number;
  /** The step whose (sigma, eps) are drawn (default: the optimizer step); a fixed value repeats one draw. */
  drawStep?: number;
  /** EMA decay settings (needs a TrainState made with { ema: true }). */
  emaDecay?: EmaDecayOptions;
  /** Hand the step's gradients to the caller (who disposes them) instead of freeing them. */
  keepGrads?: boolean;
  /** Selective recomputation and activation offload of the model forward (memory-plan.ts; default: neither). */
  recompute?: MemoryOptions['recompute'];
  offload?: MemoryOptions['offload'];
}

export interface TrainStepResult {
  loss: number;
  gradNorm: number;
  sigma: number;
  lr: number;
  /** The optimizer step just taken (1-based). */
  step: number;
  grads?: GradMap;
}

/**
 * sigma and eps for (seed, step): Philox counters (step << 32) + 0 for sigma (words 2, 3: the uniforms) and
 * (step << 32) + 1 + i for eps element i (Box-Muller as engine/pipeline/noise.ts), so every step has its own stream.
 */
export function drawSigmaNoise(seed: number, step: number, n: number, sigma: TrainStepOptions['sigma']): { sigma: number; eps: Float32Array } {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`train step: seed must be an integer in [0, 2^53), got ${seed}`);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`train step: draw step must be a non-negative integer, got ${step}`);
  if (n >= 2 ** 32 - 1) throw new Error(`train step: ${n} latent elements exceed one Philox stream per step (2^32 - 1)`);
  const base = BigInt(step) << 32n;
  let s: number;
  if ('fixed' in sigma) s = sigma.fixed;
  else {
    const bits = philoxBitsRef(1, seed, base);
    s = sampleSigma(sigma, unitFromBits(bits[2]!), unitFromBits(bits[3]!));
  }
  if (!(s > 0 && s < 1)) throw new Error(`train step: sigma must be in (0, 1), got ${s}`);
  return { sigma: s, eps: Float32Array.from(randnRef(n, seed, base + 1n)) };
}

function checkInput(name: string, t: Tensor, rank: number): void {
  if (t.dtype !== 'f32' || t.shape.length !== rank || t.shape[0] !== 1) {
    throw new Error(`train step: ${name} must be f32 with ${rank} axes and batch 1, got ${t.dtype}[${t.shape.join(', ')}]`);
  }
}

/** One training step: updates params (and the EMA) in place and returns the loss and the gradient norm. */
export async function trainStep(state: TrainState, params: ParamMap, shape: ModelShape, batch: TrainBatch, o: TrainStepOptions): Promise<TrainStepResult> {
  checkInput('x0', batch.x0, 5);
  checkInput('context', batch.context, 3);
  checkInput('pooled', batch.pooled, 2);
  for (const k of params.keys()) if (!state.m.has(k)) throw new Error(`train step: parameter ${k} has no optimizer state (make the TrainState from the same parameters)`);
  if (params.size !== state.m.size) throw new Error(`train step: ${params.size} parameters but the TrainState has ${state.m.size} (make it from the same parameters)`);
  const clip = o.clip ?? 1;
  if (!(clip >= 0)) throw new Error(`train step: clip must be >= 0 (0 turns it off), got ${clip}`);
  memoryPlan(shape.numLayers, { recompute: o.recompute, offload: o.offload }); // bad options named before any GPU work
  if (o.emaDecay && !state.ema) throw new Error('train step: emaDecay given but the TrainState keeps no EMA (make it with { ema: true })');
  const step = state.step + 1;
  const lr = typeof o.lr === 'number' ? o.lr : learningRate(step, o.lr);
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`train step: learning rate must be a finite number >= 0, got ${lr}`);
  const x0 = batch.x0;
  const device = x0.device;
  const n = x0.numel;
  const { sigma, eps } = drawSigmaNoise(o.seed, o.drawStep ?? step, n, o.sigma);

  const epsT = T.from(device, eps, x0.shape, 'f32', 'train eps');
  const xt = axpby(x0, epsT, 1 - sigma, sigma);
  const target = sub(epsT, x0);
  epsT.dispose();
  const timestep = T.from(device, [1000 * sigma], [1], 'f32');
  const { out, saved } = modelForward(params, shape, { hidden: xt, timestep, context: batch.context, pooled: batch.pooled }, { recompute: o.recompute, offload: o.offload });
  if (out.numel !== n) {
    out.dispose(); disposeModelSaved(saved); xt.dispose(); target.dispose(); timestep.dispose();
    throw new Error(`train step: the model predicts [${out.shape.join(', ')}] but the latents are [${x0.shape.join(', ')}] (out_channels must equal in_channels)`);
  }
  const diff = sub(out, target);
  out.dispose(); target.dispose();
  const sq = mul(diff, diff);
  const loss = reduce('mean', sq, { axis: 'all' });
  sq.dispose();
  const dOut = scale(diff, 2 / n);
  diff.dispose();
  await offloadReady(saved);
  const { grads, dHidden } = modelBackward(saved, dOut);
  dOut.dispose(); dHidden.dispose();
  disposeModelSaved(saved);
  xt.dispose(); timestep.dispose();

  // Global norm = the l2norm of the per-tensor l2norms, taken in the parameters' order: fixed-order reductions
  // only (deterministic), and no concatenated copy of the gradients.
  const names = [...params.keys()].filter((k) => grads.has(k));
  for (const k of grads.keys()) if (!params.has(k)) throw new Error(`train step: the backward produced a gradient for ${k}, which is not among the parameters`);
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

  const both = concat([loss, norm], 0);
  loss.dispose();
  const r = await both.read();
  both.dispose();
  norm.dispose();
  if (o.keepGrads) return { loss: r[0]!, gradNorm: r[1]!, sigma, lr, step, grads };
  for (const g of grads.values()) g.dispose();
  return { loss: r[0]!, gradNorm: r[1]!, sigma, lr, step };
}
