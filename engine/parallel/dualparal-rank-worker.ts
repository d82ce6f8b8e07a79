// Worker-thread entry of `generate --long dualparal --transport shm` (started by generateDualParalWithWorkers): runs
// one rank of the DualParal generation on its own device and posts rank 0's per-block progress to the launcher.
import type { WorkerContext } from '../distributed/shm-launcher.js';
import { Device } from '../gpu/device.js';
import { dualParalRank, type DualParalGenerateJob, type DualParalResult } from './dualparal-generate.js';
import { pickRankAdapter } from './rank-runners.js';

export default async function rank(ctx: WorkerContext<DualParalGenerateJob>): Promise<DualParalResult | null> {
  const device = await Device.create({ adapterIndex: await pickRankAdapter(ctx.args.devices, ctx.rank), label: `rank${ctx.rank}` });
  try {
    return await dualParalRank(ctx.world, device, ctx.args, (p) => ctx.post(p));
  } finally {
    device.destroy();
  }
}
