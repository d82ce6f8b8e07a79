// One training step of the AutoencoderKL on GPU tensors (diffusers' AutoencoderKL objective, for ISSUE 11's
// `train-vae`: reconstruction + a small KL term; the optimizer as training.md section 3), and the latent statistics
// a trained VAE's config needs. Exactly what is computed, for images x [N, C, H, W] in [-1, 1]:
//   moments = encoder(x) [N, 2L, h, w] (L = latent_channels); mean = moments[:, :L]; logvar = clamp(moments[:, L:], -30, 20);
//   std = exp(logvar / 2); eps ~ N(0, 1) from the engine's Philox with key `seed`, counter (step << 32) + 1 + i for
//   element i of [N, L, h, w] (the transformer step's eps stream, drawSigmaNoise), step = the optimizer step (1-based);
//   z = mean + std * eps; x' = decoder(z);
//   recon = mean over all N C H W elements of (x' - x)^2;
//   kl = 0.5 / N * sum over all N L h w latent elements of (mean^2 + exp(logvar) - 1 - logvar)
//        (the batch mean of DiagonalGaussianDistribution.kl(), which sums over the latent's dims);
//   loss = recon + klWeight * kl (klWeight default 1e-6).
// Backward: dx' = 2 (x' - x) / (N C H W) -> decoder backward -> dz; dmean = dz + klWeight mean / N;
// dlogvar = (dz eps std / 2 + klWeight (exp(logvar) - 1) / (2N)) where -30 <= moments[:, L:] <= 20, else 0 (the clamp's
// gradient, as torch.clamp); dmoments = [dmean | dlogvar] -> encoder backward (no gradient for the images).
// Then update.ts's clippedUpdate: global gradient norm, AdamW (weight decay on conv kernels and linear weights
// only) with the norm clip (default 1), optional EMA. One readback per step: [loss, recon, kl, norm].

import type { AutoencoderKLConfig } from '../io/configs.js';
import { Scratch } from '../model/scratch.js';
import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { add, axpby, clamp, elementwise, mul, scale, sub } from '../ops/elementwise.js';
import { clampBackward } from '../ops/elementwise-backward.js';
import { concat, slice } from '../ops/layout.js';
import type { AdamWDefaults } from '../ops/optim.js';
import { randnRef } from '../ops/random.ref.js';
import { reduce } from '../ops/reduce.js';
import { clippedUpdate, prepareUpdate, type GradMap, type ParamMap, type TrainState } from './update.js';
import type { EmaDecayOptions, LrOptions } from './schedule.js';
import { checkVaeImages, decoderForward, disposeVaeSaved, encoderForward, vaeBackward, type VaeSaved } from './vae-backward.js';

export interface VaeTrainBatch {
  /** [N, 3, H, W] f32 in [-1, 1] (H, W multiples of 2^(blocks - 1)). */
  images: Tensor;
}

export interface VaeTrainStepOptions {
  seed: number;
  /** A constant learning rate or a schedule (learningRate at the optimizer step). */
  lr: number | LrOptions;
  /** Weight of the KL term (default 1e-6). */
  klWeight?: number;
  adamw?: Partial<AdamWDefaults>;
  /** Global gradient-norm clip (default 1; 0 turns it off). */
  clip?: number;
  /** EMA decay settings (needs a TrainState made with { ema: true }). */
  emaDecay?: EmaDecayOptions;
}

export interface VaeTrainStepResult {
  loss: number;
  recon: number;
  kl: number;
  gradNorm: number;
  lr: number;
  /** The optimizer step just taken (1-based). */
  step: number;
}

/** The logvar clamp of diffusers' DiagonalGaussianDistribution. */
export const LOGVAR_MIN = -30;
export const LOGVAR_MAX = 20;
export const DEFAULT_KL_WEIGHT = 1e-6;

const WHO = 'vae train step';

/** eps for (seed, step): n standard normals, Philox counter (step << 32) + 1 + i for element i (as drawSigmaNoise). */
export function drawVaeNoise(seed: number, step: number, n: number): Float32Array {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${WHO}: seed must be an integer in [0, 2^53), got ${seed}`);
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`${WHO}: step must be a non-negative integer, got ${step}`);
  if (n >= 2 ** 32 - 1) throw new Error(`${WHO}: ${n} latent elements exceed one Philox stream per step (2^32 - 1); use a smaller batch`);
  return Float32Array.from(randnRef(n, seed, (BigInt(step) << 32n) + 1n));
}

const checkImages = (images: Tensor, config: AutoencoderKLConfig) => checkVaeImages(config, images, WHO);

/** The latent shape [N, L, h, w] the encoder gives for images [N, C, H, W]. */
export function latentShape(config: AutoencoderKLConfig, images: Tensor): number[] {
  const f = 2 ** (config.block_out_channels.length - 1);
  return [images.shape[0]!, config.latent_channels, images.shape[2]! / f, images.shape[3]! / f];
}

export interface VaeObjective {
  /** [1] f32 each (the caller disposes them and the gradients). */
  loss: Tensor;
  recon: Tensor;
  kl: Tensor;
  grads: GradMap;
}

/** The objective above and every parameter's f32 gradient for a given eps (latent-shaped). */
export function vaeObjective(params: ParamMap, config: AutoencoderKLConfig, images: Tensor, eps: Float32Array, klWeight: number): VaeObjective {
  checkImages(images, config);
  if (!(klWeight >= 0) || !Number.isFinite(klWeight)) throw new Error(`${WHO}: klWeight must be a finite number >= 0, got ${klWeight}`);
  const L = config.latent_channels;
  const zShape = latentShape(config, images);
  const nz = zShape.reduce((a, b) => a * b, 1);
  if (eps.length !== nz) throw new Error(`${WHO}: eps has ${eps.length} values, the latents [${zShape.join(', ')}] have ${nz}`);
  const N = zShape[0]!;
  // Every temporary is registered so that an error part way frees them, the saved forwards and the gradients.
  const s = new Scratch();
  let enc: { out: Tensor; saved: VaeSaved } | undefined;
  let dec: { out: Tensor; saved: VaeSaved } | undefined;
  const grads: GradMap = new Map();
  const results: Tensor[] = [];
  try {
    enc = encoderForward(params, config, images);
    const moments = s.t(enc.out);
    if (moments.shape[1] !== 2 * L) {
      throw new Error(`${WHO}: the encoder gives ${moments.shape[1]} channels; a Gaussian posterior needs 2 x latent_channels = ${2 * L} (mean and logvar)`);
    }
    const mean = s.t(slice(moments, 1, 0, L));
    const lvRaw = s.t(slice(moments, 1, L, 2 * L));
    const logvar = s.t(clamp(lvRaw, LOGVAR_MIN, LOGVAR_MAX));
    const std = s.t(elementwise('exp', [s.t(scale(logvar, 0.5))]));
    const epsT = s.t(T.from(images.device, eps, zShape, 'f32', 'vae eps'));
    const z = s.t(add(mean, s.t(mul(std, epsT)))); // the decoder's saved state reads z (conv_in's input)
    dec = decoderForward(params, config, z);
    const diff = s.t(sub(s.t(dec.out), images));
    const recon = reduce('mean', s.t(mul(diff, diff)), { axis: 'all' });
    const dRec = s.t(scale(diff, 2 / images.numel));
    // kl = the sum of 0.5/N (mean^2 + var - logvar) - 0.5/N over the latent elements.
    const variance = s.t(elementwise('exp', [logvar]));
    const terms = s.t(scale(s.t(add(s.t(mul(mean, mean)), s.t(sub(variance, logvar)))), 0.5 / N, -0.5 / N));
    const kl = reduce('sum', terms, { axis: 'all' });
    const loss = axpby(recon, kl, 1, klWeight);
    results.push(recon, kl, loss);

    const dz = s.t(vaeBackward(dec.saved, dRec, { grads }).dInput!);
    disposeVaeSaved(dec.saved);
    // dmean = dz + klWeight mean / N; dlogvar = dz eps std / 2 + klWeight (var - 1) / (2N), zero where clamped.
    const dMean = s.t(axpby(dz, mean, 1, klWeight / N));
    const c = s.t(axpby(s.t(mul(s.t(mul(dz, epsT)), std)), variance, 0.5, (0.5 * klWeight) / N));
    const dLogvar = s.t(scale(c, 1, (-0.5 * klWeight) / N));
    const dLvRaw = s.t(clampBackward(lvRaw, dLogvar, LOGVAR_MIN, LOGVAR_MAX));
    const dMoments = s.t(concat([dMean, dLvRaw], 1));
    vaeBackward(enc.saved, dMoments, { inputGrad: false, grads });
    disposeVaeSaved(enc.saved);
    s.release();
    return { loss, recon, kl, grads };
  } catch (e) {
    s.release();
    if (enc) disposeVaeSaved(enc.saved);
    if (dec) disposeVaeSaved(dec.saved);
    for (const t of [...grads.values(), ...results]) t.dispose();
    throw e;
  }
}

/** One training step: updates params (and the EMA) in place; returns the loss, its two terms and the gradient norm. */
export async function vaeTrainStep(state: TrainState, params: ParamMap, config: AutoencoderKLConfig, batch: VaeTrainBatch, o: VaeTrainStepOptions): Promise<VaeTrainStepResult> {
  checkImages(batch.images, config);
  const klWeight = o.klWeight ?? DEFAULT_KL_WEIGHT;
  if (!(klWeight >= 0) || !Number.isFinite(klWeight)) throw new Error(`${WHO}: klWeight must be a finite number >= 0, got ${klWeight}`);
  const prep = prepareUpdate(WHO, state, params, o);
  const zShape = latentShape(config, batch.images);
  const eps = drawVaeNoise(o.seed, prep.step, zShape.reduce((a, b) => a * b, 1));
  const { loss, recon, kl, grads } = vaeObjective(params, config, batch.images, eps, klWeight);
  let norm: Tensor;
  try {
    norm = clippedUpdate(state, params, grads, { lr: prep.lr, step: prep.step, clip: prep.clip, adamw: o.adamw, emaDecay: o.emaDecay });
  } finally {
    for (const g of grads.values()) g.dispose();
  }
  const all = concat([loss, recon, kl, norm], 0);
  for (const x of [loss, recon, kl, norm]) x.dispose();
  const r = await all.read();
  all.dispose();
  return { loss: r[0]!, recon: r[1]!, kl: r[2]!, gradNorm: r[3]!, lr: prep.lr, step: prep.step };
}

export interface VaeLatentStats {
  /** The mean of every posterior-mean element: the config's shift_factor. */
  shiftFactor: number;
  /** 1 / their standard deviation (population, around shiftFactor): the config's scaling_factor. */
  scalingFactor: number;
  mean: number;
  std: number;
  /** Latent elements seen. */
  count: number;
}

/**
 * shift_factor and scaling_factor for a trained VAE's config: the mean and 1 / std (population) of the posterior
 * means (the encoder's first latent_channels channels) over all the given image batches [N, C, H, W]; so that
 * (mean - shift_factor) * scaling_factor has mean 0 and variance 1 on these images. One readback per batch;
 * sums in float64 on the host.
 */
export async function vaeLatentStats(params: ParamMap, config: AutoencoderKLConfig, batches: Iterable<Tensor>): Promise<VaeLatentStats> {
  let n = 0, s = 0, s2 = 0;
  const L = config.latent_channels;
  for (const images of batches) {
    checkImages(images, config);
    const { out, saved } = encoderForward(params, config, images);
    disposeVaeSaved(saved);
    const mean = slice(out, 1, 0, L);
    out.dispose();
    const d = await mean.read();
    mean.dispose();
    for (let i = 0; i < d.length; i++) { s += d[i]!; s2 += d[i]! * d[i]!; }
    n += d.length;
  }
  if (!n) throw new Error('vae latent stats: no images (pass at least one batch [N, C, H, W])');
  const m = s / n;
  const std = Math.sqrt(Math.max(s2 / n - m * m, 0));
  if (!(std > 0)) throw new Error(`vae latent stats: the posterior means are constant over ${n} elements (std 0): no scaling_factor`);
  return { shiftFactor: m, scalingFactor: 1 / std, mean: m, std, count: n };
}
