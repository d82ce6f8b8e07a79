// One flow-matching training step of the Vchitect transformer on GPU tensors (training.md section 3):
//   sigma and eps drawn from (seed, step) with the engine's Philox generator; x_t = (1 - sigma) x0 + sigma eps;
//   target = eps - x0; v = modelForward(x_t, timestep = 1000 sigma); loss = mean((v - target)^2);
//   dOut = 2 (v - target) / n -> modelBackward; the global gradient norm over every gradient (the l2norm of the
//   per-tensor l2norms, in parameter order: deterministic, no copy of the gradients); AdamW per parameter tensor with the clip folded in (weight decay off for
//   1-D tensors (norms, biases) and the positional embedding table); optional EMA. One readback: [loss, norm].
// TrainState (./optimizer-update.ts, re-exported here) owns the Adam moments, the step count and the optional EMA;
// the norm, AdamW and EMA are optimizer-update.ts's applyUpdate, shared with the VAE's step (vae-train-step.ts).

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { axpby, mul, scale, sub } from '../ops/elementwise.js';
import { concat } from '../ops/layout.js';
import { reduce } from '../ops/reduce.js';
import type { AdamWDefaults } from '../ops/optim.js';
import { philoxBitsRef, randnRef, unitFromBits } from '../ops/random.ref.js';
import { applyUpdate, prepareUpdate, type TrainState } from './optimizer-update.js';
import { sampleSigma, type EmaDecayOptions, type LrOptions, type SigmaOptions } from './schedule.js';
import { disposeModelSaved, modelBackward, modelForward, type GradMap, type ModelShape, type ParamMap } from './vchitect-backward.js';

export { decays, TrainState } from './optimizer-update.js';

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
  const prep = prepareUpdate('train step', state, params, o);
  const { step, lr } = prep;
  const x0 = batch.x0;
  const device = x0.device;
  const n = x0.numel;
  const { sigma, eps } = drawSigmaNoise(o.seed, o.drawStep ?? step, n, o.sigma);

  const epsT = T.from(device, eps, x0.shape, 'f32', 'train eps');
  const xt = axpby(x0, epsT, 1 - sigma, sigma);
  const target = sub(epsT, x0);
  epsT.dispose();
  const timestep = T.from(device, [1000 * sigma], [1], 'f32');
  const { out, saved } = modelForward(params, shape, { hidden: xt, timestep, context: batch.context, pooled: batch.pooled });
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
  const { grads, dHidden } = modelBackward(saved, dOut);
  dOut.dispose(); dHidden.dispose();
  disposeModelSaved(saved);
  xt.dispose(); timestep.dispose();

  const norm = applyUpdate('train step', state, params, grads, o, prep);

  const both = concat([loss, norm], 0);
  loss.dispose();
  const r = await both.read();
  both.dispose();
  norm.dispose();
  if (o.keepGrads) return { loss: r[0]!, gradNorm: r[1]!, sigma, lr, step, grads };
  for (const g of grads.values()) g.dispose();
  return { loss: r[0]!, gradNorm: r[1]!, sigma, lr, step };
}
