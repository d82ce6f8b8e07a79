// Memory estimate of a Vchitect training step, checked before training starts. The items of a batch run one after
// another (train-step.ts), so activations are those of one item; the batch adds only its inputs.
//   persistent: the f32 weights, Adam m and v, the EMA, the accumulated gradients and one item's gradients
//               (6 or 5 copies of the parameters);
//   activations: per block about ACT_PER_ROW x D floats per token row (visual + text rows of every frame: the saved
//               linear inputs, attention outputs and log-sum-exps, the feed-forward's 4D pre-activations), plus a
//               transient of TRANSIENT_ROWS x D per row while a block runs backward; a block checkpointed by
//               --recompute keeps only its input (D per row; none on the device when offloaded), and the one that
//               reruns in the backward holds its activations again next to their gradients (counted twice);
//   inputs: per item its latents and text conditioning.
// The largest single tensor (the feed-forward's [rows, 4D]) must also fit one storage binding. The budget is
// --memory-limit, or on a CPU adapter (lavapipe, SwiftShader) 70% of the host's memory; a GPU's total memory is not
// visible to WebGPU, so only the binding limit is checked there unless a limit is given.

import { totalmem } from 'node:os';

export const ACT_PER_ROW = 40;
export const TRANSIENT_ROWS = 24;

export interface StepGeometry {
  params: number;
  layers: number;
  dim: number;
  ema: boolean;
  /** Latent frames, latent height and width, channels, patch. */
  frames: number;
  height: number;
  width: number;
  channels: number;
  patch: number;
  /** Text tokens T, joint width J, pooled width P. */
  tokens: number;
  joint: number;
  pooled: number;
  batch: number;
  /** Blocks checkpointed by --recompute (they keep only their input; one reruns at a time) and of those offloaded. */
  checkpointed?: number;
  offloaded?: number;
}

export interface MemoryEstimate {
  persistent: number;
  activations: number;
  inputs: number;
  total: number;
  /** Bytes of the largest single tensor. */
  largestTensor: number;
}

export function estimateTrainMemory(g: StepGeometry): MemoryEstimate {
  const persistent = g.params * 4 * (g.ema ? 6 : 5);
  const rows = g.frames * ((g.height / g.patch) * (g.width / g.patch) + g.tokens);
  const ck = g.checkpointed ?? 0;
  const kept = ACT_PER_ROW * (g.layers - ck) + (ck - (g.offloaded ?? 0)) + (ck ? 2 * ACT_PER_ROW : 0);
  const activations = 4 * rows * g.dim * (kept + TRANSIENT_ROWS);
  const inputs = 4 * g.batch * (g.frames * g.channels * g.height * g.width * 3 + g.tokens * g.joint + g.pooled);
  return { persistent, activations, inputs, total: persistent + activations + inputs, largestTensor: 4 * rows * 4 * g.dim };
}

export interface DeviceLimits {
  maxBinding: number;
  /** Total bytes training may use (undefined: unknown, only the binding limit is checked). */
  budget?: number;
}

/** The budget for an adapter: the given limit, else 70% of host memory on a CPU adapter, else unknown. */
export function memoryBudget(adapter: { isFallbackAdapter: boolean; description: string; device?: string }, limitBytes?: number): number | undefined {
  if (limitBytes !== undefined) return limitBytes;
  const cpu = adapter.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|cpu/i.test(`${adapter.description} ${adapter.device ?? ''}`);
  return cpu ? 0.7 * totalmem() : undefined;
}

const fits = (g: StepGeometry, l: DeviceLimits) => {
  const e = estimateTrainMemory(g);
  return e.largestTensor <= l.maxBinding && (l.budget === undefined || e.total <= l.budget);
};

const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(2)} MiB`);

/** Throws when the step would not fit, saying the largest --frames and --batch that would. */
export function checkTrainFits(g: StepGeometry, l: DeviceLimits): MemoryEstimate {
  const e = estimateTrainMemory(g);
  if (fits(g, l)) return e;
  let frames = 0;
  for (let f = g.frames - 1; f >= 1; f--) if (fits({ ...g, frames: f }, l)) { frames = f; break; }
  let batch = 0;
  for (let lo = 1, hi = g.batch - 1; lo <= hi;) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits({ ...g, batch: mid }, l)) { batch = mid; lo = mid + 1; } else hi = mid - 1;
  }
  const why = e.largestTensor > l.maxBinding
    ? `its largest tensor (${gib(e.largestTensor)}) exceeds this device's storage binding limit (${gib(l.maxBinding)})`
    : `it needs about ${gib(e.total)} (weights + optimizer ${gib(e.persistent)}, activations ${gib(e.activations)}, batch inputs ${gib(e.inputs)}) but the budget is ${gib(l.budget!)} (--memory-limit)`;
  const fix = [
    frames ? `--frames ${frames} (at --batch ${g.batch})` : '',
    batch ? `--batch ${batch} (at --frames ${g.frames})` : '',
  ].filter(Boolean);
  throw new Error(`a training step of ${g.batch} x ${g.frames} frames of ${g.width}x${g.height} latents does not fit: ${why}. ${fix.length ? `Largest that fits: ${fix.join(' or ')}` : 'Nothing smaller fits either: use a smaller model or a larger --memory-limit'}.`);
}
