// One rank of the sequence-parallel training tests: splits the world into SP x DP groups (spDataGroups), loads the
// tiny checkpoint's transformer (host copies, or the checkpoint folder inside a worker), makes the items of its data-
// parallel rank's share of the global batch (every rank of an SP group the same items: makeItem of
// dist-train-rank.ts), trains a few steps with DistributedTrainer { sp } (trainOnRank of dist-train-rank.ts) and
// returns the losses, norms, parameters and EMA. Fault injection as dist-train-rank.ts ('throw': a bad context on
// failRank in failStep; 'crash': its transport vanishes). Also the shm worker entry.
import type { ProcessGroup } from '../../../engine/distributed/collectives.js';
import type { WorkerContext } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import { spDataGroups } from '../../../engine/train/sp-groups.js';
import { loadHost, trainOnRank, type HostWeights, type RankArgs, type RankOut } from './dist-train-rank.js';

export interface SpRankArgs extends RankArgs {
  sp: number;
}

export async function runSpTrainRank(world: ProcessGroup, device: Device, a: SpRankArgs, hostIn?: HostWeights): Promise<RankOut> {
  const host = hostIn ?? (await loadHost(a.dir!));
  const { sp, dp } = await spDataGroups(world, a.sp, a.geo.heads);
  return trainOnRank(world, dp, device, a, host, sp);
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
