// Training rank module for the runTrainingRanks tests: trains with runTrainRank and returns the losses and a SHA-256 of
// the gathered parameters and EMA (name order), so results from threads and processes compare as plain data.
import { createHash } from 'node:crypto';
import type { TrainRankContext } from '../../../engine/train/train-ranks.js';
import { runTrainRank, type RankArgs } from './dist-train-rank.js';

export interface Summary {
  rank: number;
  size: number;
  losses: number[];
  norms: number[];
  hash: string;
}

export function digest(m: Map<string, Float32Array>): string {
  const h = createHash('sha256');
  for (const [k, v] of m) { h.update(k); h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)); }
  return h.digest('hex');
}

export default async function main(ctx: TrainRankContext<RankArgs>): Promise<Summary> {
  const o = await runTrainRank(ctx.world, ctx.device, ctx.args);
  return { rank: ctx.world.rank, size: ctx.world.size, losses: o.losses, norms: o.norms, hash: `${digest(o.params)}/${digest(o.ema)}` };
}
