// The shared half of the distributed training memory benchmarks (bench/zero-memory.ts, bench/sp-memory.ts,
// bench:train's SP longest-sequence rows): the make-tiny transformer they train (made in a folder, read back as host
// copies), a seeded item, and one rank's measurement: a DistributedTrainer made from the host copies, 2 steps on the
// item, and the bytes the device holds between steps (parameters + Adam moments + EMA: "persistent"), the peak of
// step 2 (the pool's accounting, 256-byte size classes), both above what the device held before, and the collective
// bytes sent in step 2. openSpRanks keeps one SP group of in-process ranks (a trainer each) open so that a search
// can run one step per probe on items of any frame count and read every rank's peak.
import { ProcessGroup, resetStats } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import type { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { mulberry32 } from '../engine/mulberry32.js';
import { Tensor } from '../engine/tensor.js';
import { DistributedTrainer, type DistributedStepOptions, type ZeroStage } from '../engine/train/distributed-step.js';
import type { MemoryOptions } from '../engine/train/memory-plan.js';
import { spDataGroups } from '../engine/train/sp-groups.js';
import type { TrainBatch } from '../engine/train/train-step.js';
import type { ModelShape } from '../engine/train/vchitect-backward.js';

/** n standard normal draws (Box-Muller on mulberry32(seed)). */
export function randn(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

export type HostWeights = Map<string, { shape: number[]; data: Float32Array }>;

export interface TinyTransformer {
  host: HostWeights;
  nParams: number;
  shape: ModelShape;
  /** Latent channels, text width, pooled width. */
  C: number;
  J: number;
  P: number;
}

/** A make-tiny transformer (seed 5) of the given size written to dir and read back as host copies. */
export async function tinyTransformer(dir: string, layers: number, heads: number, headDim: number): Promise<TinyTransformer> {
  await makeTinyCheckpoint(dir, { seed: 5, transformer: { num_layers: layers, num_attention_heads: heads, attention_head_dim: headDim } });
  const ck = await openCheckpoint(dir);
  const cfg = ck.transformer.config as unknown as Record<string, number>;
  const host: HostWeights = new Map();
  for (const k of ck.transformer.weights.keys()) host.set(k, { shape: [...ck.transformer.weights.info(k).shape], data: await ck.transformer.weights.readFloat32(k) });
  await ck.close();
  const nParams = [...host.values()].reduce((s, h) => s + h.data.length, 0);
  const shape = { numLayers: layers, heads, patchSize: cfg.patch_size ?? 2, eps: LN_EPS };
  return { host, nParams, shape, C: cfg.in_channels!, J: cfg.joint_attention_dim!, P: cfg.pooled_projection_dim! };
}

/** The host weights as labelled f32 tensors on `device` (a fresh copy: a training step updates them in place). */
export function deviceParams(host: HostWeights, device: Device): Map<string, Tensor> {
  return new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32', k)]));
}

/** An item: F frames of S x S latents, Tn text tokens; x0 from seed, context from seed + 10, pooled from seed + 20. */
export interface RankItem { F: number; S: number; Tn: number; seed: number }

/** The item's tensors on `device` (the caller disposes them: disposeItem). */
export function rankItem(m: TinyTransformer, device: Device, it: RankItem): TrainBatch {
  const { F, S, Tn, seed } = it;
  return {
    x0: Tensor.from(device, randn(F * m.C * S * S, seed), [1, F, m.C, S, S], 'f32'),
    context: Tensor.from(device, randn(Tn * m.J, seed + 10), [1, Tn, m.J], 'f32'),
    pooled: Tensor.from(device, randn(m.P, seed + 20), [1, m.P], 'f32'),
  };
}

export function disposeItem(b: TrainBatch): void {
  b.x0.dispose();
  b.context.dispose();
  b.pooled.dispose();
}

export interface RankRun {
  device: Device;
  /** Whose bytes sent are counted (the world group). */
  world: ProcessGroup;
  /** The trainer's (data-parallel) group and, for sequence parallelism, the SP group. */
  group: ProcessGroup;
  sp?: ProcessGroup;
  zero: ZeroStage;
  item: RankItem;
  globalBatch: number;
  /** Recompute / offload step options (default: neither). */
  memory?: MemoryOptions;
}

/** One rank's persistent bytes, step-2 peak bytes and step-2 bytes sent (see the header). */
export async function measureRank(m: TinyTransformer, o: RankRun): Promise<{ persistent: number; peak: number; sent: number }> {
  const { device } = o;
  const base = device.pool.stats.liveBytes;
  const params = deviceParams(m.host, device);
  const trainer = DistributedTrainer.create(o.group, params, m.shape, { zero: o.zero, ema: true, sp: o.sp });
  const persistent = trainer.memory().liveBytes - base;
  const item = rankItem(m, device, o.item);
  const opts = { seed: 3, lr: 1e-3, sigma: { sampling: 'logit_normal' as const, shift: 3 }, emaDecay: {}, globalBatch: o.globalBatch, ...o.memory };
  await trainer.step([item], opts);
  resetStats(o.world.stats);
  device.pool.resetPeak();
  await trainer.step([item], opts);
  const peak = trainer.memory().peakBytes - base;
  const sent = o.world.stats.bytesSent;
  disposeItem(item);
  trainer.dispose();
  return { persistent, peak, sent };
}

/** One SP group of in-process ranks with a trainer each (openSpRanks). */
export interface SpRanks {
  sp: number;
  /**
   * One training step of every rank on the same item (global batch 1) with `opts`; per rank, the step's peak bytes
   * above what the rank's device held before its trainer was made (parameters, Adam m and v, EMA, the item and the
   * step's activations; the pool's accounting). Steps run in order: call it again only after it resolved.
   */
  step(item: RankItem, opts: Omit<DistributedStepOptions, 'globalBatch'>): Promise<number[]>;
  dispose(): void;
}

/**
 * SP ranks 0..sp-1 on devices[0..sp-1] in this process (in-process transport, `timeoutMs` per collective: a failing
 * rank ends the others with an error instead of a hang), each with a DistributedTrainer (ZeRO 0, EMA, the SP group)
 * made from fresh copies of the host weights. The trainers persist across steps, as a training run's do.
 */
export async function openSpRanks(m: TinyTransformer, devices: readonly Device[], sp: number, timeoutMs = 300_000): Promise<SpRanks> {
  if (devices.length < sp) throw new Error(`SP ranks: SP ${sp} needs ${sp} devices, got ${devices.length}`);
  const world = createInProcessWorld(sp, { timeoutMs });
  const opened = await Promise.allSettled(world.map(async (t, r) => {
    const device = devices[r]!;
    const groups = await spDataGroups(ProcessGroup.world(t), sp, m.shape.heads);
    const base = device.pool.stats.liveBytes;
    const params = deviceParams(m.host, device);
    return { device, base, trainer: DistributedTrainer.create(groups.dp, params, m.shape, { zero: 0, ema: true, sp: groups.sp }) };
  }));
  const ranks = opened.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
  const failed = opened.find((x) => x.status === 'rejected');
  if (failed) {
    ranks.forEach((r) => r.trainer.dispose());
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    sp,
    step: (it, opts) => Promise.all(ranks.map(async ({ device, base, trainer }) => {
      const item = rankItem(m, device, it);
      try {
        device.pool.resetPeak();
        await trainer.step([item], { ...opts, globalBatch: 1 });
        return trainer.memory().peakBytes - base;
      } finally {
        disposeItem(item);
      }
    })),
    dispose: () => ranks.forEach((r) => r.trainer.dispose()),
  };
}
