// Denoising progress on stderr: a cli-progress bar (step, it/s, ETA) on a TTY, one line per step otherwise.
import cliProgress from 'cli-progress';
import type { SamplerStep } from '../engine/pipeline/sampler.js';
import { fmtMs } from './options.js';

export interface StepProgress {
  onStep(s: SamplerStep): void;
  stop(): void;
}

export function createStepProgress(total: number, label = 'denoise'): StepProgress {
  const start = performance.now();
  const rate = (done: number) => (done / Math.max(1e-9, (performance.now() - start) / 1000));
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${label} [{bar}] {value}/{total} steps | {rate} it/s | ETA {eta_formatted} | t={t}`, stream: process.stderr, hideCursor: true, etaBuffer: 5 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.00', t: '-' });
    return {
      onStep: (s) => bar.update(s.step + 1, { rate: rate(s.step + 1).toFixed(2), t: s.timestep.toFixed(1) }),
      stop: () => bar.stop(),
    };
  }
  return {
    onStep: (s) => {
      const done = s.step + 1;
      const eta = ((performance.now() - start) / done) * (total - done);
      process.stderr.write(`${label} step ${done}/${total} t=${s.timestep.toFixed(1)} ${rate(done).toFixed(2)} it/s ETA ${fmtMs(eta)}\n`);
    },
    stop: () => {},
  };
}

export interface TrainProgress {
  start(startStep: number, steps: number): void;
  update(step: number, loss: number, tokens: number): void;
  stop(): void;
}

/**
 * Training progress on stderr: a cli-progress bar (step, smoothed loss, it/s, tokens/s, ETA) on a TTY, else one line
 * every `every` steps. Rates count the steps of this run only (a resumed run starts its clock at the resumed step).
 */
export function createTrainProgress(every: number, label = 'train'): TrainProgress {
  let bar: cliProgress.SingleBar | null = null;
  let t0 = 0;
  let first = 0;
  let total = 0;
  let tokens = 0;
  const stats = (step: number) => {
    const secs = Math.max(1e-9, (performance.now() - t0) / 1000);
    const done = step - first;
    return { rate: done / secs, tps: tokens / secs, eta: done ? (secs / done) * (total - step) * 1000 : NaN };
  };
  return {
    start(startStep, steps) {
      t0 = performance.now();
      first = startStep;
      total = steps;
      if (process.stderr.isTTY) {
        bar = new cliProgress.SingleBar(
          { format: `${label} [{bar}] {value}/{total} | loss {loss} | {rate} it/s | {tps} tok/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true, etaBuffer: 20 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(steps, startStep, { loss: '-', rate: '0.00', tps: '0' });
      }
    },
    update(step, loss, t) {
      tokens += t;
      const s = stats(step);
      if (bar) bar.update(step, { loss: loss.toPrecision(4), rate: s.rate.toFixed(2), tps: s.tps.toFixed(0) });
      else if (every > 0 && (step % every === 0 || step === total)) {
        process.stderr.write(`${label} step ${step}/${total} loss ${loss.toPrecision(4)} ${s.rate.toFixed(2)} it/s ${s.tps.toFixed(0)} tok/s ETA ${Number.isFinite(s.eta) ? fmtMs(s.eta) : '-'}\n`);
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

/** A count bar on stderr for work items (e.g. caching clips); on a non-TTY only the last item is reported. */
export function createCountProgress(label: string): { update(done: number, total: number, what: string): void; stop(): void } {
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(done, total, what) {
      if (!process.stderr.isTTY) {
        if (done === total) process.stderr.write(`${label}: ${done}/${total}\n`);
        return;
      }
      if (!bar) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | {what}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0, { what: '' });
      }
      bar.update(done, { what: what.slice(0, 40) });
      if (done === total) this.stop();
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
