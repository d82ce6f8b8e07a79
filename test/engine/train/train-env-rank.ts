// Script for the runTrainingRanks test: one rank of an env world (started by the local launcher) running
// train-rank-module.ts; writes rank R's summary to OUT_DIR/rank-R.json. Usage: train-env-rank.ts ARGS_JSON OUT_DIR
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTrainingRanks } from '../../../engine/train/train-ranks.js';
import type { RankArgs } from './dist-train-rank.js';
import type { Summary } from './train-rank-module.js';

const [argsJson, outDir] = process.argv.slice(2);
const [r] = await runTrainingRanks<RankArgs, Summary>({ transport: 'env', module: new URL('./train-rank-module.ts', import.meta.url), args: JSON.parse(argsJson!) as RankArgs });
writeFileSync(join(outDir!, `rank-${r!.rank}.json`), JSON.stringify(r));
