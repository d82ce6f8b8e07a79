// Worker-thread entry of `generate --transport shm` (started by generateWithWorkers): runs one rank of the
// parallel pipeline and posts rank 0's per-step progress (without latents) to the launcher.
import type { WorkerContext } from '../distributed/shm-launcher.js';
import type { GenerateResult } from '../pipeline/text-to-video.js';
import { runRankJob, type RankJob } from './rank-runners.js';

export default async function rank(ctx: WorkerContext<RankJob>): Promise<GenerateResult | null> {
  return runRankJob(ctx.world, ctx.rank, ctx.args, (s) => {
    const { latents: _latents, ...info } = s;
    ctx.post(info);
  });
}
