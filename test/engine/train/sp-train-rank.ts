// One rank of the sequence-parallel training tests: splits the world into SP x DP groups (spDataGroups), loads the
// tiny checkpoint's transformer (host copies, or the checkpoint folder inside a worker), makes the items of its data-
// parallel rank's share of the global batch (every rank of an SP group the same items: makeItem of
// dist-train-rank.ts), trains a few steps with DistributedTrainer { sp } and returns the losses, norms, parameters and
// EMA. Fault injection as dist-train-rank.ts ('throw': a bad context on failRank in failStep; 'crash': its transport
// vanishes). Also the shm worker entry.
import type { ProcessGroup } from '../../../engine/distributed/collectives.js';
import type { WorkerContext } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { DistributedTrainer, type ZeroStage } from '../../../engine/train/distributed-step.js';
import { spDataGroups } from '../../../engine/train/sp-groups.js';
import type { TrainStepOptions } from '../../../engine/train/train-step.js';
import { batchShare } from '../../../engine/train/zero-layout.js';
import { disposeItem, loadHost, makeItem, type Geometry, type HostWeights, type RankOut } from './dist-train-rank.js';

export interface SpRankArgs {
  geo: Geometry;
  sp: number;
  K: number;
  steps: number;
  zero: ZeroStage;
  opts: Omit<TrainStepOptions, 'keepGrads'>;
  dir?: string;
  failRank?: number;
  failStep?: number;
  failMode?: 'throw' | 'crash';
}

export async function runSpTrainRank(world: ProcessGroup, device: Device, a: SpRankArgs, hostIn?: HostWeights): Promise<RankOut> {
  const host = hostIn ?? (await loadHost(a.dir!));
  const { sp, dp } = await spDataGroups(world, a.sp, a.geo.heads);
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
export default async function main(ctx: WorkerContext<SpRankArgs>): Promise<RankOut> {
  const device = await Device.create({ label: `rank${ctx.rank}` });
  try {
    return await runSpTrainRank(ctx.world, device, ctx.args);
  } finally {
    device.destroy();
  }
}
