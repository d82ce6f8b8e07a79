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
