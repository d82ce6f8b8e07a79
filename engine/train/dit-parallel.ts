// `parallax train` on several ranks (Node only): data parallelism with ZeRO 0-3 and Ulysses sequence parallelism
// over every transport the inference engine has. `runTrain` picks one device (dit-trainer.ts trainDit) or starts the
// ranks: inprocess (one process, one Device per rank), shm (worker threads) or env (this process is one rank of a
// launcher's world: --multi-host, and `--transport socket`, which the command relaunches under launchLocal). Every
// rank runs dit-trainer.ts trainRank (dit-train-rank.ts): rank 0 builds the caches, the others read them; rank 0
// owns the log, progress, loss.png, samples and checkpoint writes; the ranks agree on a stop before every step.
// Progress reaches the caller directly (same process) or as messages (shm workers).

import { readDistEnv } from '../distributed/env.js';
import { checkParallelOptions, trainDit, type DitStepRecord, type DitTrainOptions, type TrainSummary, type TrainUi } from './dit-trainer.js';
import { runTrainingRanks } from './train-ranks.js';
import { StopSignal } from './trainer.js';

/** What every rank receives (plain data; the flag's memory is shared with worker threads). */
export interface DitRankArgs {
  o: DitTrainOptions;
  /** 1 = SIGINT, 2 = SIGTERM: set by the launcher of inprocess / shm ranks; rank bodies stop after the current step. */
  stopFlag?: Int32Array;
}

/** Messages rank 0 of shm workers posts to the launcher. */
export type UiEvent =
  | { t: 'log'; m: string }
  | { t: 'cache'; done: number; total: number; what: string }
  | { t: 'start'; startStep: number; steps: number }
  | { t: 'step'; r: DitStepRecord; sm: number }
  | { t: 'stop' };

/** The UI of ranks in this process (inprocess and env ranks); null in worker threads. */
let sameProcessUi: TrainUi | null = null;

const SILENT: TrainUi = { log: () => {} };

/** The UI a rank reports to: rank 0's is the caller's (directly, or through post from a worker); others are silent. */
export function rankUi(rank: number, post?: (v: unknown) => void): TrainUi {
  if (rank !== 0) return SILENT;
  if (sameProcessUi) return sameProcessUi;
  if (!post) return { log: (m) => console.error(m) };
  const send = (e: UiEvent) => post(e);
  return {
    log: (m) => send({ t: 'log', m }),
    cacheProgress: (done, total, what) => send({ t: 'cache', done, total, what }),
    start: (startStep, steps) => send({ t: 'start', startStep, steps }),
    step: (r, sm) => send({ t: 'step', r, sm }),
    stop: () => send({ t: 'stop' }),
  };
}

function dispatch(ui: TrainUi, e: UiEvent): void {
  if (e.t === 'log') ui.log(e.m);
  else if (e.t === 'cache') ui.cacheProgress?.(e.done, e.total, e.what);
  else if (e.t === 'start') ui.start?.(e.startStep, e.steps);
  else if (e.t === 'step') ui.step?.(e.r, e.sm);
  else ui.stop?.();
}

/** Whether these options train on several ranks. */
export function isParallel(o: DitTrainOptions): boolean {
  return !!o.multiHost || (o.devices?.length ?? 1) > 1;
}

/** `parallax train`: one device, or the ranks the options ask for. Socket transport is started by the command. */
export async function runTrain(o: DitTrainOptions, ui: TrainUi): Promise<TrainSummary> {
  if (!isParallel(o)) {
    checkParallelOptions(o, 1);
    if ((o.zero ?? 0) > 0) ui.log(`--zero ${o.zero} shards over several ranks; on one device it changes nothing`);
    return trainDit({ ...o, adapterIndex: o.adapterIndex ?? o.devices?.[0] }, ui);
  }
  return trainDitParallel(o, ui);
}

export async function trainDitParallel(o: DitTrainOptions, ui: TrainUi): Promise<TrainSummary> {
  const module = new URL('./dit-train-rank.ts', import.meta.url);
  if (o.multiHost) {
    const env = readDistEnv();
    checkParallelOptions(o, env.worldSize);
    sameProcessUi = ui;
    try {
      const [r] = await runTrainingRanks<DitRankArgs, TrainSummary>({ transport: 'env', module, args: { o }, devices: o.devices, env });
      return r!;
    } finally {
      sameProcessUi = null;
    }
  }
  const ranks = o.devices!.length;
  checkParallelOptions(o, ranks);
  const transport = o.transport ?? 'inprocess';
  if (transport === 'socket') throw new Error('--transport socket starts one process per rank: run it through `parallax train` (the command relaunches itself with --multi-host)');
  const stopFlag = new Int32Array(new SharedArrayBuffer(4));
  const stop = new StopSignal(o.signals ?? true, (sig) => Atomics.store(stopFlag, 0, sig === 'SIGTERM' ? 2 : 1));
  const args: DitRankArgs = { o: { ...o, signals: false }, stopFlag };
  try {
    if (transport === 'shm') {
      const rs = await runTrainingRanks<DitRankArgs, TrainSummary>({ transport: 'shm', ranks, devices: o.devices, module, args, onMessage: (rank, v) => { if (rank === 0) dispatch(ui, v as UiEvent); } });
      return rs[0]!;
    }
    sameProcessUi = ui;
    const rs = await runTrainingRanks<DitRankArgs, TrainSummary>({ transport: 'inprocess', ranks, devices: o.devices, module, args });
    return rs[0]!;
  } finally {
    sameProcessUi = null;
    stop.dispose();
  }
}
