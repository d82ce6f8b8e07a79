// One flow-matching training step of the Vchitect transformer on GPU tensors (training.md section 3), over a batch
// of K clips: for item i, sigma and eps are drawn from (seed, draw index d*K + i) with the engine's Philox generator
// (d = the optimizer step unless drawStep fixes it; K = 1 gives index d); x_t = (1 - sigma) x0 + sigma eps;
// target = eps - x0; v = modelForward(x_t, timestep = 1000 sigma); loss_i = mean((v - target)^2);
// dOut = 2 (v - target) / (n K) -> modelBackward, the items' gradients summed in item order (the batch loss is the
// mean of the items'); then `clippedUpdate` (update.ts): the global gradient norm, clipped AdamW, optional EMA.
// One readback per step: [loss, norm]. `itemGradients` is the per-item half, for callers that split a batch
// (data-parallel ranks).

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { axpby, mul, scale, sub } from '../ops/elementwise.js';
import { concat } from '../ops/layout.js';
import { reduce } from '../ops/reduce.js';
import type { AdamWDefaults } from '../ops/optim.js';
import { philoxBitsRef, randnRef, unitFromBits } from '../ops/random.ref.js';
import { sampleSigma, type EmaDecayOptions, type LrOptions, type SigmaOptions } from './schedule.js';
import { memoryPlan, type MemoryOptions } from './memory-plan.js';
import { addGrads, clippedUpdate, prepareUpdate, TrainState, type GradMap, type ParamMap } from './update.js';
import { disposeModelSaved, modelBackward, modelForward, offloadReady, type ModelInputs, type ModelShape } from './vchitect-backward.js';

export { decays, TrainState } from './update.js';

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
  /** The step whose (sigma, eps) are drawn (default: the optimizer step); a fixed value repeats one draw. Item i of
   *  a K-item batch draws index drawStep * K + i. */
  drawStep?: number;
  /** EMA decay settings (needs a TrainState made with { ema: true }). */
  emaDecay?: EmaDecayOptions;
  /** Selective recomputation and activation offload of the model forward (memory-plan.ts; default: neither). */
  recompute?: MemoryOptions['recompute'];
  offload?: MemoryOptions['offload'];
  /** Hand the step's gradients to the caller (who disposes them) instead of freeing them. */
  keepGrads?: boolean;
}

export interface TrainStepResult {
  loss: number;
  gradNorm: number;
  /** The first item's sigma; `sigmas` has every item's. */
  sigma: number;
  sigmas: number[];
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

/**
 * Forward and backward of one item at a given (sigma, eps) draw, its gradients scaled by `weight` / n (n = latent
 * elements; weight 1 / K for the mean over a K-item batch) and added into `acc` (or a new map when acc is null).
 * `memory`: selective recomputation / activation offload (memory-plan.ts). Returns the item's loss f32[1] (the caller
 * disposes it) and the gradient map.
 */
export async function itemGradients(params: ParamMap, shape: ModelShape, item: TrainBatch, draw: { sigma: number; eps: Float32Array }, weight: number, acc: GradMap | null, memory: MemoryOptions = {}): Promise<{ loss: Tensor; grads: GradMap }> {
  return itemGradientsWith(item, draw, weight, acc, async (inputs) => {
    const { out, saved } = modelForward(params, shape, inputs, memory);
    return {
      out,
      backward: async (dOut) => {
        await offloadReady(saved);
        const { grads, dHidden } = modelBackward(saved, dOut);
        dHidden.dispose();
        return grads;
      },
      dispose: () => disposeModelSaved(saved),
    };
  });
}

/** One forward of a model for itemGradientsWith: the velocity, its backward (the gradients by name) and the cleanup. */
export interface ItemPass {
  out: Tensor;
  backward(dOut: Tensor): Promise<GradMap>;
  dispose(): void;
}

/**
 * itemGradients on any forward/backward pair (`run`: the whole model, or a sequence-parallel rank's share of it,
 * sp-model.ts): x_t, the target and the timestep from the draw, loss = mean((v - target)^2), dOut = 2 (v - target)
 * weight / n, the gradients added into acc in map order.
 */
export async function itemGradientsWith(item: TrainBatch, draw: { sigma: number; eps: Float32Array }, weight: number, acc: GradMap | null, run: (inputs: ModelInputs) => Promise<ItemPass>): Promise<{ loss: Tensor; grads: GradMap }> {
  checkInput('x0', item.x0, 5);
  checkInput('context', item.context, 3);
  checkInput('pooled', item.pooled, 2);
  const x0 = item.x0;
  const device = x0.device;
  const n = x0.numel;
  if (draw.eps.length !== n) throw new Error(`train step: eps has ${draw.eps.length} elements but x0 has ${n}`);
  const epsT = T.from(device, draw.eps, x0.shape, 'f32', 'train eps');
  const xt = axpby(x0, epsT, 1 - draw.sigma, draw.sigma);
  const target = sub(epsT, x0);
  epsT.dispose();
  const timestep = T.from(device, [1000 * draw.sigma], [1], 'f32');
  let pass: ItemPass;
  try {
    pass = await run({ hidden: xt, timestep, context: item.context, pooled: item.pooled });
  } catch (e) {
    xt.dispose(); target.dispose(); timestep.dispose();
    throw e;
  }
  const { out } = pass;
  if (out.numel !== n) {
    out.dispose(); pass.dispose(); xt.dispose(); target.dispose(); timestep.dispose();
    throw new Error(`train step: the model predicts [${out.shape.join(', ')}] but the latents are [${x0.shape.join(', ')}] (out_channels must equal in_channels)`);
  }
  const diff = sub(out, target);
  out.dispose(); target.dispose();
  const sq = mul(diff, diff);
  const loss = reduce('mean', sq, { axis: 'all' });
  sq.dispose();
  const dOut = scale(diff, (2 * weight) / n);
  diff.dispose();
  let grads: GradMap;
  try {
    grads = await pass.backward(dOut);
  } catch (e) {
    loss.dispose();
    throw e;
  } finally {
    dOut.dispose();
    pass.dispose();
    xt.dispose(); timestep.dispose();
  }
  if (!acc) return { loss, grads };
  addGrads(acc, grads);
  return { loss, grads: acc };
}

/** One training step over a batch of one or more clips: updates params (and the EMA) in place. */
export async function trainStep(state: TrainState, params: ParamMap, shape: ModelShape, batch: TrainBatch | readonly TrainBatch[], o: TrainStepOptions): Promise<TrainStepResult> {
  const items = Array.isArray(batch) ? (batch as readonly TrainBatch[]) : [batch as TrainBatch];
  if (items.length === 0) throw new Error('train step: the batch is empty');
  const { step, lr, clip } = prepareUpdate('train step', state, params, o);
  const memory: MemoryOptions = { recompute: o.recompute, offload: o.offload };
  memoryPlan(shape.numLayers, memory); // bad options named before any GPU work
  const K = items.length;
  const d = o.drawStep ?? step;
  const sigmas: number[] = [];
  const losses: Tensor[] = [];
  let grads: GradMap | null = null;
  for (let i = 0; i < K; i++) {
    const draw = drawSigmaNoise(o.seed, d * K + i, items[i]!.x0.numel, o.sigma);
    sigmas.push(draw.sigma);
    const r = await itemGradients(params, shape, items[i]!, draw, 1 / K, grads, memory);
    losses.push(r.loss);
    grads = r.grads;
  }
  const norm = clippedUpdate(state, params, grads!, { lr, step, adamw: o.adamw, clip, emaDecay: o.emaDecay });
  const lossAll = K === 1 ? losses[0]! : concat(losses, 0);
  const loss = K === 1 ? lossAll : reduce('mean', lossAll, { axis: 'all' });
  if (K > 1) { for (const t of losses) t.dispose(); lossAll.dispose(); }
  const both = concat([loss, norm], 0);
  loss.dispose();
  norm.dispose();
  const r = await both.read();
  both.dispose();
  const result: TrainStepResult = { loss: r[0]!, gradNorm: r[1]!, sigma: sigmas[0]!, sigmas, lr, step };
  if (o.keepGrads) return { ...result, grads: grads! };
  for (const g of grads!.values()) g.dispose();
  return result;
}
