// The shared half of the distributed training memory benchmarks (bench/zero-memory.ts, bench/sp-memory.ts): the
// make-tiny transformer they train (made in a folder, read back as host copies), a seeded item, and one rank's
// measurement: a DistributedTrainer made from the host copies, 2 steps on the item, and the bytes the device holds
// between steps (parameters + Adam moments + EMA: "persistent"), the peak of step 2 (the pool's accounting,
// 256-byte size classes), both above what the device held before, and the collective bytes sent in step 2.
import type { ProcessGroup } from '../engine/distributed/collectives.js';
import { resetStats } from '../engine/distributed/collectives.js';
import type { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { mulberry32 } from '../engine/mulberry32.js';
import { Tensor } from '../engine/tensor.js';
import { DistributedTrainer, type ZeroStage } from '../engine/train/distributed-step.js';
import type { MemoryOptions } from '../engine/train/memory-plan.js';
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

export interface RankRun {
  device: Device;
  /** Whose bytes sent are counted (the world group). */
  world: ProcessGroup;
  /** The trainer's (data-parallel) group and, for sequence parallelism, the SP group. */
  group: ProcessGroup;
  sp?: ProcessGroup;
  zero: ZeroStage;
  /** The item: F frames of S x S latents, Tn text tokens; x0 from seed, context from seed + 10, pooled from seed + 20. */
  item: { F: number; S: number; Tn: number; seed: number };
  globalBatch: number;
  /** Recompute / offload step options (default: neither). */
  memory?: MemoryOptions;
}

/** One rank's persistent bytes, step-2 peak bytes and step-2 bytes sent (see the header). */
export async function measureRank(m: TinyTransformer, o: RankRun): Promise<{ persistent: number; peak: number; sent: number }> {
  const { device } = o;
  const { F, S, Tn, seed } = o.item;
  const base = device.pool.stats.liveBytes;
  const params = new Map([...m.host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
  const trainer = DistributedTrainer.create(o.group, params, m.shape, { zero: o.zero, ema: true, sp: o.sp });
  const persistent = trainer.memory().liveBytes - base;
  const item = {
    x0: Tensor.from(device, randn(F * m.C * S * S, seed), [1, F, m.C, S, S], 'f32'),
    context: Tensor.from(device, randn(Tn * m.J, seed + 10), [1, Tn, m.J], 'f32'),
    pooled: Tensor.from(device, randn(m.P, seed + 20), [1, m.P], 'f32'),
  };
  const opts = { seed: 3, lr: 1e-3, sigma: { sampling: 'logit_normal' as const, shift: 3 }, emaDecay: {}, globalBatch: o.globalBatch, ...o.memory };
  await trainer.step([item], opts);
  resetStats(o.world.stats);
  device.pool.resetPeak();
  await trainer.step([item], opts);
  const peak = trainer.memory().peakBytes - base;
  const sent = o.world.stats.bytesSent;
  item.x0.dispose(); item.context.dispose(); item.pooled.dispose();
  trainer.dispose();
  return { persistent, peak, sent };
}
