// The generic training loop, shared by every model the engine trains (`parallax train`, `train-vae`): steps
// startStep+1..steps, a JSONL log record per step, the loss picture every logEvery steps, samples every sampleEvery,
// a save every saveEvery and at the end. Ctrl-C (SIGINT) or SIGTERM asks to stop: the running step finishes, the
// state is saved, and the loop returns { interrupted: true } (a second signal exits at once; the last save stays).
// Parallel ranks agree on the stop before every step (agreeStop), so they all stop after the same one.

import { resolve } from 'node:path';
import type { StepRecord, TrainLog } from './train-log.js';

/** What the loop writes to (a TrainLog on the rank that owns the log; a no-op elsewhere). */
export type LoopLog = Pick<TrainLog, 'append' | 'plot'>;

/** The options every trainer command shares (`parallax train`, `parallax train-vae`). */
export interface CommonTrainOptions {
  model: string;
  data: string;
  out: string;
  steps: number;
  /** Items (clips or frames) per step. */
  batch: number;
  lr: number;
  warmup: number;
  lrSchedule: 'constant' | 'cosine';
  weightDecay: number;
  clip: number;
  ema: boolean;
  seed: number;
  saveEvery: number;
  sampleEvery: number;
  logEvery: number;
  resume: boolean;
  adapterIndex?: number;
  /** Listen for SIGINT / SIGTERM (default true). */
  signals?: boolean;
}

/** Option name -> command-line flag of the shared options, for the messages of a resume check. */
export const COMMON_FLAGS: Readonly<Record<string, string>> = {
  batch: '--batch', lr: '--lr', warmup: '--warmup', lrSchedule: '--lr-schedule', weightDecay: '--weight-decay', clip: '--clip', ema: '--ema',
  seed: '--seed', steps: '--steps (the cosine schedule depends on it)',
};

/** Checks the shared options (throws naming the flag); `need` is the caller's check-or-throw. */
export function checkCommonOptions(o: CommonTrainOptions, need: (ok: boolean, msg: string) => void): void {
  need(Number.isInteger(o.steps) && o.steps >= 1, `--steps must be an integer >= 1, got ${o.steps}`);
  need(Number.isInteger(o.batch) && o.batch >= 1, `--batch must be an integer >= 1, got ${o.batch}`);
  need(o.lr > 0 && Number.isFinite(o.lr), `--lr must be > 0, got ${o.lr}`);
  need(Number.isInteger(o.warmup) && o.warmup >= 0, `--warmup must be an integer >= 0, got ${o.warmup}`);
  need(o.weightDecay >= 0, `--weight-decay must be >= 0, got ${o.weightDecay}`);
  need(o.clip >= 0, `--clip must be >= 0 (0 turns it off), got ${o.clip}`);
  need(resolve(o.out) !== resolve(o.model), '--out must differ from --model (the trained checkpoint is written to --out; the source stays as it is)');
}

export interface LoopHooks<R extends StepRecord> {
  /** One optimizer step (1-based). */
  step(step: number): Promise<R>;
  save(step: number): Promise<void>;
  sample?(step: number): Promise<void>;
  log: LoopLog;
  /** Called after each step with the smoothed loss. */
  onStep?(r: R, smoothedLoss: number): void;
  /**
   * Parallel ranks: turns this rank's stop request into the world's decision (every rank must stop after the same
   * step); called before every step. Default: the local request.
   */
  agreeStop?(requested: boolean): Promise<boolean>;
  /** A stop request from outside this process's signal handlers (e.g. a flag the launcher of worker ranks sets). */
  stopRequested?(): string | null;
}

export interface LoopOptions {
  startStep: number;
  steps: number;
  saveEvery: number;
  sampleEvery: number;
  logEvery: number;
  /** Listen for SIGINT / SIGTERM (default true). */
  signals?: boolean;
}

export interface LoopResult {
  lastStep: number;
  interrupted: boolean;
  /** The signal that stopped the run. */
  signal?: string;
  seconds: number;
}

/** Stops after the current step on the first SIGINT/SIGTERM; exits (code 130) on the second. */
export class StopSignal {
  requested: string | null = null;
  private at = 0;
  private readonly handler = (sig: NodeJS.Signals) => {
    // one Ctrl-C can arrive twice (from the terminal and forwarded by a launcher): a repeat within a second is the same
    if (this.requested && performance.now() - this.at < 1000) return;
    if (this.requested) {
      process.stderr.write(`\n${sig} again: exiting without saving (the last saved checkpoint is intact)\n`);
      process.exit(130);
    }
    this.requested = sig;
    this.at = performance.now();
    process.stderr.write(`\n${sig}: finishing the current step, then saving (press Ctrl-C again to exit without saving)\n`);
    this.onRequest?.(sig);
  };

  /** onRequest: also told of the first signal (e.g. to raise a flag that worker ranks read). */
  constructor(listen: boolean, private readonly onRequest?: (sig: NodeJS.Signals) => void) {
    if (listen) {
      process.on('SIGINT', this.handler);
      process.on('SIGTERM', this.handler);
    }
  }

  dispose(): void {
    process.off('SIGINT', this.handler);
    process.off('SIGTERM', this.handler);
  }
}

export async function runTrainingLoop<R extends StepRecord>(h: LoopHooks<R>, o: LoopOptions): Promise<LoopResult> {
  const stop = new StopSignal(o.signals ?? true);
  const t0 = performance.now();
  let smoothed = 0;
  let n = 0;
  let step = o.startStep;
  let saved = o.startStep;
  let stopped: string | null = null;
  const shouldStop = async () => {
    const local = stop.requested ?? h.stopRequested?.() ?? null;
    const all = h.agreeStop ? await h.agreeStop(local !== null) : local !== null;
    if (all) stopped = local ?? 'stop requested by another rank';
    return all;
  };
  try {
    while (step < o.steps && !(await shouldStop())) {
      const r = await h.step(step + 1);
      step = r.step;
      n++;
      smoothed = 0.9 * smoothed + 0.1 * r.loss;
      await h.log.append(r);
      h.onStep?.(r, smoothed / (1 - 0.9 ** n));
      if (o.logEvery > 0 && step % o.logEvery === 0) await h.log.plot();
      if (o.saveEvery > 0 && step % o.saveEvery === 0) {
        await h.save(step);
        saved = step;
      }
      if (h.sample && o.sampleEvery > 0 && step % o.sampleEvery === 0) await h.sample(step);
    }
    if (saved !== step) await h.save(step);
    await h.log.plot();
  } finally {
    stop.dispose();
  }
  return { lastStep: step, interrupted: stopped !== null && step < o.steps, signal: stopped ?? undefined, seconds: (performance.now() - t0) / 1000 };
}
