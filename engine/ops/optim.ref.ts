// Float64 references of the optimizer updates (engine/ops/optim.ts), written from torch.optim.AdamW's algorithm
// (decoupled weight decay applied to the weight before the step, here in the equivalent folded form
// w - lr (update + wd w)), llm.c's clip folded into the update, and diffusers' EMA update.

export interface AdamWRefState {
  param: Float64Array;
  m: Float64Array;
  v: Float64Array;
}

export interface AdamWRefOptions {
  lr: number;
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global-norm clip threshold (0: none) and the norm it applies to. */
  clip?: number;
  norm?: number;
  start?: number;
  count?: number;
}

/** One AdamW step in place over [start, start + count). */
export function adamwRef(s: AdamWRefState, grad: ArrayLike<number>, o: AdamWRefOptions): void {
  const start = o.start ?? 0;
  const end = start + (o.count ?? s.param.length - start);
  const scale = o.clip && o.norm !== undefined && o.norm > o.clip ? o.clip / o.norm : 1;
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = start; i < end; i++) {
    const g = grad[i]! * scale;
    s.m[i] = o.beta1 * s.m[i]! + (1 - o.beta1) * g;
    s.v[i] = o.beta2 * s.v[i]! + (1 - o.beta2) * g * g;
    const w = s.param[i]!;
    s.param[i] = w - o.lr * (s.m[i]! / bc1 / (Math.sqrt(s.v[i]! / bc2) + o.eps) + o.weightDecay * w);
  }
}

export function emaRef(ema: Float64Array, param: ArrayLike<number>, decay: number, start = 0, count = ema.length - start): void {
  for (let i = start; i < start + count; i++) ema[i] = decay * ema[i]! + (1 - decay) * param[i]!;
}
