// One rank of the data-parallel / ZeRO training tests: loads the tiny checkpoint's transformer tensors (from host
// copies, or from the checkpoint folder inside a worker), builds the global batch's items deterministically (item j
// from seeds 100 + 3j ..), trains this rank's share for a few steps with DistributedTrainer, and returns the losses,
// norms, the full parameters and EMA (gathered) and the device memory of this rank. Also the shm worker entry.
import type { ProcessGroup } from '../../../engine/distributed/collectives.js';
import type { WorkerContext } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { DistributedTrainer, type ZeroStage } from '../../../engine/train/distributed-step.js';
import type { TrainBatch, TrainStepOptions } from '../../../engine/train/train-step.js';
import { batchShare } from '../../../engine/train/zero-layout.js';
import { normal } from '../../helpers/random.js';

export type HostWeights = Map<string, { shape: number[]; data: Float32Array }>;

export interface Geometry {
  numLayers: number;
  heads: number;
  patchSize: number;
  C: number;
  J: number;
  P: number;
  F: number;
  Hl: number;
  Wl: number;
  Tn: number;
}

export interface RankArgs {
  geo: Geometry;
  K: number;
  steps: number;
  zero: ZeroStage;
  opts: Omit<TrainStepOptions, 'keepGrads'>;
  /** Worker ranks read the checkpoint folder; in-process ranks get host copies. */
  dir?: string;
  /** Fault injection on rank failRank in step failStep (1-based): 'throw' gives its first item a context with the
   *  wrong width (the forward throws); 'crash' makes its transport vanish (like a killed process) once the step runs. */
  failRank?: number;
  failStep?: number;
  failMode?: 'throw' | 'crash';
}

export interface RankOut {
  losses: number[];
  norms: number[];
  params: Map<string, Float32Array>;
  ema: Map<string, Float32Array>;
  /** Bytes held after the trainer was made (parameters + optimizer state) and the peak of the last step, both above what the device held before. */
  persistentBytes: number;
  stepPeakBytes: number;
}

export const TRAIN_OPTS: Omit<TrainStepOptions, 'keepGrads'> = { seed: 77, lr: 2e-3, sigma: { sampling: 'logit_normal', shift: 3 }, emaDecay: {}, adamw: { weightDecay: 0.1 } };

/** Item j of the global batch on `device`. */
export function makeItem(device: Device, geo: Geometry, j: number): TrainBatch {
  const { F, C, Hl, Wl, Tn, J, P } = geo;
  return {
    x0: Tensor.from(device, normal(F * C * Hl * Wl, 100 + 3 * j), [1, F, C, Hl, Wl], 'f32'),
    context: Tensor.from(device, normal(Tn * J, 101 + 3 * j), [1, Tn, J], 'f32'),
    pooled: Tensor.from(device, normal(P, 102 + 3 * j), [1, P], 'f32'),
  };
}

export const disposeItem = (b: TrainBatch) => { b.x0.dispose(); b.context.dispose(); b.pooled.dispose(); };

export async function loadHost(dir: string): Promise<HostWeights> {
  const ck = await openCheckpoint(dir);
  try {
    const store = ck.transformer.weights;
    const host: HostWeights = new Map();
    for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
    return host;
  } finally {
    await ck.close();
  }
}

/**
 * The tests' checkpoint: a 2-layer make-tiny transformer (D = 8: 2 heads x 4 unless given) in `dir`; its host tensors
 * and the item geometry (2 frames of 4x4 latents, 3 text tokens).
 */
export async function tinySetup(dir: string, seed: number, heads = { heads: 2, headDim: 4 }): Promise<{ host: HostWeights; geo: Geometry }> {
  await makeTinyCheckpoint(dir, { seed, transformer: { num_layers: 2, num_attention_heads: heads.heads, attention_head_dim: heads.headDim } });
  const ck = await openCheckpoint(dir);
  const cfg = ck.transformer.config as unknown as Record<string, number>;
  await ck.close();
  const geo = { numLayers: 2, heads: heads.heads, patchSize: cfg.patch_size ?? 2, C: cfg.in_channels!, J: cfg.joint_attention_dim!, P: cfg.pooled_projection_dim!, F: 2, Hl: 4, Wl: 4, Tn: 3 };
  return { host: await loadHost(dir), geo };
}

/** Byte equality of two tensor maps (same names, same order); names the first differing tensors. */
export function differingTensors(a: Map<string, Float32Array>, b: Map<string, Float32Array>): string[] {
  const out: string[] = [];
  if ([...a.keys()].join() !== [...b.keys()].join()) return ['(different names)'];
  for (const [k, v] of a) {
    const w = b.get(k)!;
    if (!Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength))) out.push(k);
  }
  return out;
}

export async function runTrainRank(world: ProcessGroup, device: Device, a: RankArgs, hostIn?: HostWeights): Promise<RankOut> {
  const host = hostIn ?? (await loadHost(a.dir!));
  return trainOnRank(world, world, device, a, host);
}

/**
 * The training loop of one rank (also sp-train-rank.ts's): a DistributedTrainer over the data-parallel group dp (with
 * `sp`, the rank's sequence-parallel group), this dp rank's share of the global batch, a.steps steps with the fault
 * injection of RankArgs (on world rank failRank; 'crash' drops the world's transport), then the gathered results.
 */
export async function trainOnRank(world: ProcessGroup, dp: ProcessGroup, device: Device, a: RankArgs, host: HostWeights, sp?: ProcessGroup): Promise<RankOut> {
  const base = device.pool.stats.liveBytes;
  const params = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
  const shape = { numLayers: a.geo.numLayers, heads: a.geo.heads, patchSize: a.geo.patchSize, eps: LN_EPS };
  const trainer = DistributedTrainer.create(dp, params, shape, { zero: a.zero, ema: true, sp });
  const persistentBytes = trainer.memory().liveBytes - base;
  const share = batchShare(a.K, dp.size, dp.rank);
  const items = Array.from({ length: share.count }, (_, i) => makeItem(device, a.geo, share.offset + i));
  const losses: number[] = [], norms: number[] = [];
  let stepPeakBytes = 0;
  try {
    for (let s = 1; s <= a.steps; s++) {
      if (a.failRank === world.rank && a.failStep === s) {
        if ((a.failMode ?? 'throw') === 'throw') {
          items[0]!.context.dispose();
          items[0] = { ...items[0]!, context: Tensor.from(device, new Float32Array(a.geo.J + 1), [1, 1, a.geo.J + 1], 'f32') };
        } else setTimeout(() => (world.transport as unknown as { crash(): void }).crash(), 50);
      }
      device.pool.resetPeak();
      const r = await trainer.step(items, { ...a.opts, globalBatch: a.K });
      stepPeakBytes = trainer.memory().peakBytes - base;
      losses.push(r.loss);
      norms.push(r.gradNorm);
    }
    return { losses, norms, params: await trainer.gatherHost('params'), ema: await trainer.gatherHost('ema'), persistentBytes, stepPeakBytes };
  } finally {
    items.forEach(disposeItem);
    trainer.dispose();
  }
}

/** shm worker entry: a device per worker, the checkpoint read from a.dir. */
export default async function main(ctx: WorkerContext<RankArgs>): Promise<RankOut> {
  const device = await Device.create({ label: `rank${ctx.rank}` });
  try {
    return await runTrainRank(ctx.world, device, ctx.args);
  } finally {
    device.destroy();
  }
}
