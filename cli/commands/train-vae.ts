// `parallax train-vae`: trains the AutoencoderKL of a diffusers folder on frames of a meta table's clips
// (reconstruction + a small KL term), writing OUT/ as a checkpoint whose vae/ has the trained weights and the
// scaling_factor / shift_factor measured on the data, plus train-state/ for --resume, a JSONL log, loss.png and
// reconstruction grids. The engine is engine/train/vae-trainer.ts.
import { Option, type Command } from 'commander';
import { DEFAULT_KL_WEIGHT } from '../../engine/train/vae-train-step.js';
import { trainVae, type VaeTrainOptions } from '../../engine/train/vae-trainer.js';
import { createCountProgress, createTrainProgress } from '../progress.js';
import { fmtMs, parseFloatArg, parseIntArg, requireModelDir } from '../options.js';

interface TrainVaeCliOptions extends VaeTrainOptions {
  progress: boolean;
  device?: number;
}

export function registerTrainVae(program: Command): void {
  program
    .command('train-vae')
    .description('train the VAE on frames of captioned clips (reconstruction + KL); OUT becomes a diffusers checkpoint with the trained vae/ and its measured scaling_factor / shift_factor')
    .requiredOption('--model <dir>', 'diffusers checkpoint to start from (its other parts are linked into OUT unchanged)')
    .requiredOption('--data <meta>', "meta table (.jsonl, .csv, .parquet) of clips of one frame size (only split 'train' rows when there is a split column)")
    .requiredOption('--out <dir>', 'output folder: the checkpoint, train-state/, cache/frames/, samples/, train-log.jsonl, loss.png')
    .option('--steps <n>', 'optimizer steps in total', parseIntArg('--steps', 1), 1000)
    .option('--batch <n>', 'frames per step', parseIntArg('--batch', 1), 8)
    .option('--lr <x>', 'peak learning rate (AdamW)', parseFloatArg('--lr', 0), 1e-4)
    .option('--warmup <n>', 'linear warmup steps', parseIntArg('--warmup', 0), 0)
    .addOption(new Option('--lr-schedule <kind>', 'learning rate after warmup').choices(['constant', 'cosine']).default('constant'))
    .option('--weight-decay <x>', 'AdamW weight decay (conv kernels and linear weights only)', parseFloatArg('--weight-decay', 0), 1e-4)
    .option('--clip <x>', 'global gradient-norm clip (0: off)', parseFloatArg('--clip', 0), 1)
    .option('--ema', 'keep an EMA of the weights and export it', true)
    .option('--no-ema', 'no EMA: export the raw weights')
    .option('--seed <n>', 'seed of the frame choice and the posterior noise', parseIntArg('--seed', 0), 0)
    .option('--kl-weight <x>', 'weight of the KL term', parseFloatArg('--kl-weight', 0), DEFAULT_KL_WEIGHT)
    .option('--stats-frames <n>', 'frames whose posterior means set scaling_factor / shift_factor at each save', parseIntArg('--stats-frames', 1), 64)
    .option('--crop <px>', 'train on random px x px squares of the frames (a multiple of the VAE scale factor: cheaper steps; the VAE is convolutional, so it then runs on whole frames)', parseIntArg('--crop', 1))
    .option('--save-every <n>', 'save every n steps (and at the end; 0: only at the end)', parseIntArg('--save-every', 0), 500)
    .option('--sample-every <n>', 'write OUT/samples/step-N.png (frames and reconstructions) every n steps (0: never)', parseIntArg('--sample-every', 0), 500)
    .option('--log-every <n>', 'redraw OUT/loss.png (and print a line when not on a terminal) every n steps', parseIntArg('--log-every', 1), 10)
    .option('--resume', 'continue the run saved in OUT (same model, data and options; says which differs)')
    .option('--device <index>', 'GPU adapter index (parallax doctor --list)', parseIntArg('--device', 0))
    .option('--no-progress', 'no progress bar')
    .addHelpText('after', `
Example: parallax train-vae --model tiny --data data/shapes/meta.jsonl --out runs/vae --steps 2000 --batch 8 --lr 1e-3
then train the transformer on the new VAE's latents: parallax train --model runs/vae --data ... --out runs/dit
Ctrl-C finishes the current step, saves and exits (code 130); continue with the same command plus --resume.`)
    .action(async (o: TrainVaeCliOptions) => {
      await requireModelDir(o.model);
      const cacheBar = o.progress ? createCountProgress('frames') : null;
      const bar = o.progress ? createTrainProgress(o.logEvery, 'train-vae') : null;
      let stepSecs = 0;
      const r = await trainVae({ ...o, resume: !!o.resume, adapterIndex: o.device }, {
        log: (m) => console.error(m),
        cacheProgress: cacheBar ? (d, t, w) => cacheBar.update(d, t, w) : undefined,
        start: (s, n) => bar?.start(s, n),
        step: (rec, sm) => {
          stepSecs += rec.seconds;
          bar?.update(rec.step, sm, rec.tokens);
        },
        stop: () => bar?.stop(),
      });
      const ran = r.lastStep - r.startStep;
      if (ran > 0) console.error(`trained steps ${r.startStep + 1}..${r.lastStep} in ${fmtMs(r.seconds * 1000)} (steps alone: ${(stepSecs / ran).toFixed(3)} s/step)`);
      if (r.stats) console.error(`vae/config.json: scaling_factor ${r.stats.scalingFactor.toPrecision(6)}, shift_factor ${r.stats.shiftFactor.toPrecision(6)} (measured on the data)`);
      if (r.interrupted) {
        console.error(`${r.signal ?? 'interrupted'}: saved step ${r.lastStep} to ${r.out}. Continue with the same command plus --resume.`);
        process.exitCode = 130;
        return;
      }
      console.log(r.out);
      console.error(`wrote ${r.out} (a diffusers checkpoint with the trained VAE)`);
    });
}
