// Worker module for the shm tests: runs one scenario on its rank (see rank-scenarios.ts).
import type { WorkerContext } from '../../../engine/distributed/shm-launcher.js';
import { runScenario, type ScenarioArgs } from './rank-scenarios.js';

export default function main(ctx: WorkerContext<ScenarioArgs>) {
  return runScenario(ctx.world, ctx.transport, ctx.args, () => process.exit(7));
}
