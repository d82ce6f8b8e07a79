// Worker-thread entry of training over the shm transport (started by runTrainingRanks): opens this rank's device and
// runs the training rank module named in the arguments.
import type { WorkerContext } from '../distributed/shm-launcher.js';
import { runWorkerRank, type WorkerArgs } from './train-ranks.js';

export default function rank(ctx: WorkerContext<WorkerArgs<unknown>>): Promise<unknown> {
  return runWorkerRank(ctx);
}
