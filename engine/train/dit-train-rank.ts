// The rank module of parallel `parallax train` (started by dit-parallel.ts through runTrainingRanks on every
// transport): one rank of the run on its own device, reporting to rank 0's UI.
import { rankUi, type DitRankArgs } from './dit-parallel.js';
import { trainRank, type TrainSummary } from './dit-trainer.js';
import type { TrainRankContext } from './train-ranks.js';

export default async function rank(ctx: TrainRankContext<DitRankArgs>): Promise<TrainSummary> {
  const ui = rankUi(ctx.world.rank, ctx.post);
  if (ctx.world.rank === 0) {
    const o = ctx.args.o;
    const sp = o.sp ?? 1;
    ui.log(`parallel: ${ctx.world.size} ranks = ${ctx.world.size / sp} data-parallel x SP ${sp}, ZeRO ${o.zero ?? 0}, ${o.multiHost ? 'launcher world (sockets)' : `transport ${o.transport ?? 'inprocess'}`}; global batch ${o.batch}`);
  }
  return trainRank(ctx.args.o, ui, ctx.device, { world: ctx.world, stopFlag: ctx.args.stopFlag });
}
