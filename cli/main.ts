// The `parallax` command: sub-commands are registered here; each lives in cli/commands/<name>.ts.

import { Command } from 'commander';
import { registerDoctor } from './commands/doctor.js';
import { registerDemo } from './commands/demo.js';
import { registerMakeTiny } from './commands/make-tiny.js';
import { registerInspect } from './commands/inspect.js';
import { registerGenerate } from './commands/generate.js';
import { registerStages } from './commands/stages.js';
import { registerBackward } from './commands/backward.js';
import { registerServe } from './commands/serve.js';
import { registerData } from './commands/data.js';
import { registerEvalPrompts } from './commands/eval-prompts.js';
import { registerTune } from './commands/tune.js';
import { registerTrain } from './commands/train.js';
import { registerTrainVae } from './commands/train-vae.js';
import { registerBorderReport } from './commands/border-report.js';
import { loadTuneCache } from '../engine/ops/tune-store.js';

const program = new Command();
program
  .name('parallax')
  .description('Parallax: WebGPU-native video diffusion (Vchitect-2.0) for Node and the browser.')
  .version('0.1.0')
  .showHelpAfterError()
  .option('--cache-dir <dir>', 'kernel tuning cache folder (default $PARALLAX_CACHE_DIR, else $XDG_CACHE_HOME/parallax or ~/.cache/parallax)')
  // Tuned kernel choices (`parallax tune`) apply to every command that runs kernels.
  .hook('preAction', async () => {
    await loadTuneCache(program.opts<{ cacheDir?: string }>().cacheDir);
  });

registerDoctor(program);
registerDemo(program);
registerMakeTiny(program);
registerInspect(program);
registerGenerate(program);
registerStages(program);
registerBackward(program);
registerServe(program);
registerData(program);
registerEvalPrompts(program);
registerTune(program);
registerTrain(program);
registerTrainVae(program);
registerBorderReport(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  console.error(`parallax: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.PARALLAX_DEBUG && err instanceof Error) console.error(err.stack);
  process.exit(1);
}
