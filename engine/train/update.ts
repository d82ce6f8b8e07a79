// The optimizer half of a training step, shared by every model the engine trains (training.md section 3): the global
// gradient norm as the l2norm of the per-tensor l2norms in parameter order (fixed-order reductions: deterministic),
// AdamW on every parameter tensor with the clip folded in (scale = min(1, clip/||g||) read on the GPU, no readback),
// weight decay only where `decays` says, then the optional EMA of the weights. The per-tensor work runs over flat
// group buffers (flat-update.ts: a few dispatches per step instead of several per tensor, the same bits).
// TrainState owns the Adam moments, the optimizer step count and the EMA weights of any parameter map.

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { add, cast } from '../ops/elementwise.js';
import { reduce } from '../ops/reduce.js';
import { ADAMW_DEFAULTS, type AdamWDefaults } from '../ops/optim.js';
import { flatAdamw, flatAddInto, flatEma, tensorNorms } from './flat-update.js';
import { emaDecay, learningRate, type EmaDecayOptions, type LrOptions } from './schedule.js';

/** Parameters (f32 master weights) and gradients by checkpoint name. */
export type ParamMap = ReadonlyMap<string, Tensor>;
export type GradMap = Map<string, Tensor>;

/** Adds g's gradients into acc (acc + g, in place over flat groups: flat-update.ts); takes ownership of g's tensors. */
export function addGrads(acc: GradMap, g: GradMap): void {
  // A sum written in place must not land in a buffer that another gradient shares (a view): those get a new tensor.
  const users = new Map<GPUBuffer, number>();
  for (const t of acc.values()) users.set(t.buffer, (users.get(t.buffer) ?? 0) + 1);
  const both: { acc: Tensor; add: Tensor }[] = [];
  for (const [k, t] of g) {
    const a = acc.get(k);
    if (!a) acc.set(k, t);
    else if (users.get(a.buffer) === 1) both.push({ acc: a, add: t });
    else {
      acc.set(k, add(a, t));
      a.dispose(); t.dispose();
    }
  }
  flatAddInto(both);
  for (const q of both) q.add.dispose();
}

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
    if (params.size === 0) throw new Error('TrainState: no parameters (pass the model\'s checkpoint tensors as f32 master weights)');
    for (const [k, p] of params) if (p.dtype !== 'f32') throw new Error(`TrainState: parameter ${k} is ${p.dtype}; master weights must be f32 (load them with dtype f32)`);
    for (const [k, p] of params) {
      this.m.set(k, T.zeros(p.device, p.shape, 'f32', `adam.m ${k}`));
      this.v.set(k, T.zeros(p.device, p.shape, 'f32', `adam.v ${k}`));
    }
    this.ema = opts.ema ? new Map([...params].map(([k, p]) => [k, cast(p, 'f32')])) : null;
  }

  /** Throws unless the state was made from exactly these parameters. */
  check(params: ParamMap, who: string): void {
    for (const k of params.keys()) if (!this.m.has(k)) throw new Error(`${who}: parameter ${k} has no optimizer state (make the TrainState from the same parameters)`);
    if (params.size !== this.m.size) throw new Error(`${who}: ${params.size} parameters but the TrainState has ${this.m.size} (make it from the same parameters)`);
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values(), ...(this.ema?.values() ?? [])]) t.dispose();
    this.m.clear();
    this.v.clear();
    this.ema?.clear();
  }
}

/** The global gradient norm f32[1]: the l2norm of the per-tensor l2norms, in the order of `names`. */
export function globalGradNorm(grads: GradMap, names: readonly string[]): Tensor {
  const all = tensorNorms(names.map((k) => grads.get(k)!));
  const norm = reduce('l2norm', all, { axis: 'all' });
  all.dispose();
  return norm;
}

/**
 * Checks the state against the parameters and the options before any GPU work; returns the step about to be taken
 * (1-based), its learning rate and the clip (default 1). `who` prefixes the messages ("train step", "vae train step").
 */
export function prepareUpdate(who: string, state: TrainState, params: ParamMap, o: { lr: number | LrOptions; clip?: number; emaDecay?: EmaDecayOptions }): { step: number; lr: number; clip: number } {
  state.check(params, who);
  const clip = o.clip ?? 1;
  if (!(clip >= 0)) throw new Error(`${who}: clip must be >= 0 (0 turns it off), got ${clip}`);
  if (o.emaDecay && !state.ema) throw new Error(`${who}: emaDecay given but the TrainState keeps no EMA (make it with { ema: true })`);
  const step = state.step + 1;
  const lr = typeof o.lr === 'number' ? o.lr : learningRate(step, o.lr);
  if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`${who}: learning rate must be a finite number >= 0, got ${lr}`);
  return { step, lr, clip };
}

export interface UpdateOptions {
  lr: number;
  /** The optimizer step being taken (1-based). */
  step: number;
  adamw?: Partial<AdamWDefaults>;
  /** Global gradient-norm clip (0 turns it off). */
  clip: number;
  emaDecay?: EmaDecayOptions;
  /** A global norm computed elsewhere (e.g. all-reduced over ZeRO shards); default: globalGradNorm of grads. */
  norm?: Tensor;
}

/**
 * Clipped AdamW on every parameter that has a gradient (in parameter order), then the EMA of every parameter; sets
 * state.step. Returns the global gradient norm f32[1] (the caller disposes it).
 */
export function clippedUpdate(state: TrainState, params: ParamMap, grads: GradMap, o: UpdateOptions): Tensor {
  const names = [...params.keys()].filter((k) => grads.has(k));
  for (const k of grads.keys()) if (!params.has(k)) throw new Error(`optimizer update: a gradient for ${k}, which is not among the parameters`);
  if (o.emaDecay && !state.ema) throw new Error('optimizer update: emaDecay given but the TrainState keeps no EMA (make it with { ema: true })');
  const norm = o.norm ?? globalGradNorm(grads, names);
  const wd = o.adamw?.weightDecay ?? ADAMW_DEFAULTS.weightDecay;
  flatAdamw(names.map((k) => {
    const p = params.get(k)!;
    return { param: p, grad: grads.get(k)!, m: state.m.get(k)!, v: state.v.get(k)!, decay: decays(k, p.shape) };
  }), { ...o.adamw, lr: o.lr, step: o.step, weightDecay: wd, clip: o.clip, norm });
  if (state.ema) {
    const ema = state.ema;
    flatEma([...params].map(([k, p]) => ({ ema: ema.get(k)!, param: p })), emaDecay(o.step, o.emaDecay));
  }
  state.step = o.step;
  return norm;
}
