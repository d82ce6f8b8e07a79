// `parallax train`: trains the Vchitect transformer of a diffusers folder on a meta table of clips (flow matching,
// frozen text encoders and VAE with cached latents and embeddings, AdamW + EMA), writing OUT/ as a checkpoint that
// `parallax generate --model OUT` loads, plus the train state for --resume, a JSONL log, loss.png and sample grids.
// The engine is engine/train/dit-trainer.ts (one device) and dit-parallel.ts (--devices / --multi-host ranks); this
// file parses options, draws progress, and for --transport socket relaunches itself as one --multi-host process per
// rank under the local launcher (as generate does).
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { launchLocal } from '../../engine/distributed/launch.js';
import { checkParallelOptions, type DitTrainOptions } from '../../engine/train/dit-trainer.js';
import { runTrain } from '../../engine/train/dit-parallel.js';
import { TRAIN_TIMEOUT_MS } from '../../engine/train/train-ranks.js';
import type { ZeroStage } from '../../engine/train/distributed-step.js';
import { createCountProgress, createTrainProgress } from '../progress.js';
import { fmtBytes, fmtMs, parseDeviceList, parseFloatArg, parseIntArg, requireModelDir } from '../options.js';

interface TrainCliOptions extends Omit<DitTrainOptions, 'memoryLimit' | 'zero'> {
  memoryLimit?: number;
  progress: boolean;
  device?: number;
  zero?: string;
}

/** This command's arguments for one --multi-host rank: the same argv without --transport socket. */
export function socketRankArgs(argv: readonly string[]): string[] {
  const a: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--transport') { i++; continue; }
    if (argv[i]!.startsWith('--transport=')) continue;
    a.push(argv[i]!);
  }
  return [...a, '--multi-host'];
}

/** --transport socket: one process per rank on this host (this command with --multi-host under launchLocal). */
async function launchSocketRanks(ranks: number): Promise<void> {
  const i = process.argv.indexOf('train');
  const script = fileURLToPath(new URL('../main.ts', import.meta.url));
  const w = await launchLocal({ nproc: ranks, script, args: socketRankArgs(process.argv.slice(i)), env: { PARALLAX_DIST_TIMEOUT_MS: process.env.PARALLAX_DIST_TIMEOUT_MS ?? String(TRAIN_TIMEOUT_MS) } });
  // Signals are passed on to every rank (they agree to stop after the same step; rank 0 saves). Ctrl-C on a terminal
  // also reaches them directly: a rank takes the two copies within a second as one (trainer.ts StopSignal).
  const onInt = () => w.killAll('SIGINT');
  const onTerm = () => w.killAll('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const r = await w.done;
    if (r.codes.every((c) => c === 130)) {
      console.error('interrupted: rank 0 saved the last step. Continue with the same command plus --resume.');
      process.exitCode = 130;
      return;
    }
    if (r.failedRank >= 0) {
      const code = r.codes[r.failedRank];
      const why = code !== null ? `exited with code ${code} (its error is printed above)` : `was killed by ${r.signals[r.failedRank]}`;
      throw new Error(`parallel training failed: rank ${r.failedRank} ${why}`);
    }
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description('train the transformer on captioned clips (flow matching; frozen, cached text encoders and VAE); OUT becomes a diffusers checkpoint that generate loads')
    .requiredOption('--model <dir>', 'diffusers checkpoint to start from (its text encoders and VAE stay frozen)')
    .requiredOption('--data <meta>', "meta table of clips: .jsonl (path, text, num_frames, height, width per row) or .csv / .parquet (every spec column); only split 'train' rows when the table has a split column")
    .requiredOption('--out <dir>', 'output folder: the trained checkpoint, train-state/, cache/, samples/, train-log.jsonl, loss.png')
    .option('--steps <n>', 'optimizer steps in total (a resumed run continues to this step)', parseIntArg('--steps', 1), 1000)
    .option('--batch <k>', 'clips per step (run one after another: memory grows only by their inputs)', parseIntArg('--batch', 1), 1)
    .option('--lr <x>', 'peak learning rate (AdamW)', parseFloatArg('--lr', 0), 1e-4)
    .option('--warmup <n>', 'linear warmup steps', parseIntArg('--warmup', 0), 0)
    .addOption(new Option('--lr-schedule <kind>', 'learning rate after warmup').choices(['constant', 'cosine']).default('constant'))
    .option('--weight-decay <x>', 'AdamW weight decay (not on norms, biases, the position table)', parseFloatArg('--weight-decay', 0), 1e-4)
    .option('--clip <x>', 'global gradient-norm clip (0: off)', parseFloatArg('--clip', 0), 1)
    .option('--ema', 'keep an EMA of the weights and export it', true)
    .option('--no-ema', 'no EMA: export the raw weights')
    .option('--seed <n>', 'seed of the data order, frame windows, caption dropout, sigma and noise', parseIntArg('--seed', 0), 0)
    .option('--frames <n>', 'consecutive latent frames per clip, from a seeded start (default: all frames)', parseIntArg('--frames', 1))
    .option('--caption-dropout <p>', 'probability of training on the empty prompt (enables guidance)', parseFloatArg('--caption-dropout', 0), 0.1)
    .addOption(new Option('--sigma-sampling <kind>', 'how training sigmas are drawn').choices(['logit_normal', 'uniform', 'mode']).default('logit_normal'))
    .option('--shift <s>', "sigma shift s u / (1 + (s - 1) u) (default: the scheduler's shift)", parseFloatArg('--shift', 0))
    .option('--save-every <n>', 'save OUT/ every n steps (and always at the end; 0: only at the end)', parseIntArg('--save-every', 0), 500)
    .option('--sample-every <n>', 'write OUT/samples/step-N.png every n steps (0: never)', parseIntArg('--sample-every', 0), 500)
    .option('--log-every <n>', 'redraw OUT/loss.png (and print a line when not on a terminal) every n steps', parseIntArg('--log-every', 1), 10)
    .option('--sample-steps <n>', 'denoising steps of the samples', parseIntArg('--sample-steps', 1), 10)
    .option('--sample-guidance <g>', 'guidance scale of the samples', parseFloatArg('--sample-guidance', 0), 4)
    .option('--resume', 'continue the run saved in OUT (same model, data and options; says which differs)')
    .option('--recompute <ratio>', "selective recomputation, LiteGen's ratio in [0, 1]: the share of blocks that keep their activations (0 reruns every block's forward in the backward; same results, less memory; with any --sp and --zero, except --zero 3 on several ranks, which reruns every block already)", parseFloatArg('--recompute', 0))
    .option('--offload <ratio>', 'share of the recomputed blocks whose kept input waits in host memory (needs --recompute < 1, or --zero 3 on several ranks, where every block is recomputed)', parseFloatArg('--offload', 0))
    .option('--memory-limit <GiB>', 'memory one rank may use; the estimate, checked before training, is per rank for the layout used (--sp rows, --zero shards, --recompute / --offload), and a step over it is refused naming the --frames / --batch and the --recompute, --offload, --zero 3 or --sp that would fit (default: 70% of host memory on a CPU adapter; a GPU is checked against its binding limit only)', parseFloatArg('--memory-limit', 0))
    .option('--device <index>', 'GPU adapter index (parallax doctor --list)', parseIntArg('--device', 0))
    .option('--devices <list>', 'train on several ranks, one per listed adapter index, e.g. 0,1,2,3 (repeat an index to put several ranks on one adapter); the global batch --batch is split over the data-parallel ranks', parseDeviceList)
    .addOption(new Option('--transport <kind>', 'how the ranks of this host talk: inprocess (one process drives every GPU), shm (one worker thread per GPU, shared-memory rings), socket (one process per GPU over Unix sockets)').choices(['inprocess', 'shm', 'socket']))
    .option('--multi-host', "run as ONE rank of a world started by a launcher (torchrun-style RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; Slurm and MPI variables work too); --devices then lists each local rank's GPU; rank 0 writes OUT (the caches and train-state are read by every rank: OUT on a shared filesystem across hosts)")
    .addOption(new Option('--zero <stage>', 'ZeRO stage over the data-parallel ranks: 0 replicate, 1 shard the optimizer state and EMA, 2 also the gradients, 3 also the parameters, each block gathered for its forward and again for its backward (same results at every stage)').choices(['0', '1', '2', '3']))
    .option('--sp <n>', 'Ulysses sequence-parallel group size: each item\'s tokens split over n ranks (divides the rank count; --zero then shards over the data-parallel ranks)', parseIntArg('--sp', 1))
    .option('--no-progress', 'no progress bar')
    .addHelpText('after', `
Example (tiny model, synthetic data):
  parallax make-tiny tiny --preset shapes && parallax data synth --out data/shapes --count 200
  parallax train --model tiny --data data/shapes/meta.jsonl --out runs/shapes --steps 2000 --batch 4 --lr 5e-4 --warmup 100
  parallax generate --model runs/shapes --prompt "a red circle moving left on a blue background" --width 64 --height 64
Ctrl-C finishes the current step, saves and exits (code 130); continue with the same command plus --resume.
Outputs: OUT/train-log.jsonl (step, loss, grad_norm, lr, sigmas, seconds, tokens), OUT/loss.png, OUT/samples/.
Parallel (the same results as one device with the same --batch: item j of the global batch draws as it would there):
  parallax train ... --batch 4 --devices 0,1,2,3                    4 data-parallel ranks, one item each
  parallax train ... --batch 4 --devices 0,1,2,3 --zero 2           optimizer state and gradients sharded
  parallax train ... --devices 0,1,2,3 --sp 2                       2 data-parallel groups x SP 2
  parallax train ... --devices 0,1,2,3 --sp 2 --zero 3 --offload 1  SP 2, parameters sharded, block inputs in host memory
  parallax train ... --devices 0,1 --transport shm|socket           worker threads / one process per GPU
  several hosts: one 'parallax train --multi-host ...' per GPU under torchrun-style variables (docs/training.md)`)
    .action(async (o: TrainCliOptions) => {
      await requireModelDir(o.model);
      const zero = o.zero === undefined ? undefined : (Number(o.zero) as ZeroStage);
      if (o.transport === 'socket' && !o.multiHost) {
        const ranks = o.devices?.length ?? 1;
        checkParallelOptions({ ...o, zero, memoryLimit: undefined, resume: !!o.resume }, ranks);
        await launchSocketRanks(ranks);
        return;
      }
      const cacheBar = o.progress ? createCountProgress('cache (VAE latents, text)') : null;
      const bar = o.progress ? createTrainProgress(o.logEvery) : null;
      let stepSecs = 0;
      const r = await runTrain({ ...o, zero, resume: !!o.resume, adapterIndex: o.device, memoryLimit: o.memoryLimit === undefined ? undefined : o.memoryLimit * 2 ** 30 }, {
        log: (m) => console.error(m),
        cacheProgress: cacheBar ? (d, t, w) => cacheBar.update(d, t, w) : undefined,
        start: (s, n) => bar?.start(s, n),
        step: (rec, sm) => {
          stepSecs += rec.seconds;
          bar?.update(rec.step, sm, rec.tokens);
        },
        stop: () => bar?.stop(),
      });
      if (r.rank !== 0) {
        if (r.interrupted) process.exitCode = 130;
        return; // rank 0 reports and writes OUT
      }
      const ran = r.lastStep - r.startStep;
      if (ran > 0) {
        console.error(`trained steps ${r.startStep + 1}..${r.lastStep} in ${fmtMs(r.seconds * 1000)} (steps alone: ${(stepSecs / ran).toFixed(3)} s/step, ${(r.tokens / stepSecs).toFixed(1)} tokens/s; with saves and samples ${(r.seconds / ran).toFixed(3)} s/step)`);
        console.error(`memory: measured device peak ${fmtBytes(r.peakBytes)} (estimated ${fmtBytes(r.memory.total)} per step)`);
      }
      if (r.interrupted) {
        console.error(`${r.signal ?? 'interrupted'}: saved step ${r.lastStep} to ${r.out}. Continue with the same command plus --resume.`);
        process.exitCode = 130;
        return;
      }
      console.log(r.out);
      console.error(`wrote ${r.out} (a diffusers checkpoint: parallax generate --model ${r.out} ...)`);
    });
}
