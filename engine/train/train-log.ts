// The training log (Node only): OUT/train-log.jsonl, one JSON record per step (step, loss, grad_norm, lr, sigmas,
// seconds, tokens, and whatever else the trainer reports), and OUT/loss.png, the smoothed loss curve, redrawn on
// request. On --resume the records after the resumed step (written after the last save) are dropped first, so the
// file always reads as one uninterrupted run.

import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeRgbPng } from '../video/png.js';
import { plotLoss } from './loss-plot.js';

export interface StepRecord {
  step: number;
  loss: number;
  grad_norm: number;
  lr: number;
  /** Seconds the step took. */
  seconds: number;
  /** Tokens (latent patches) the step trained on. */
  tokens: number;
  [k: string]: unknown;
}

export class TrainLog {
  private readonly steps: number[] = [];
  private readonly losses: number[] = [];

  private constructor(readonly dir: string) {}

  get path(): string {
    return join(this.dir, 'train-log.jsonl');
  }

  /** Opens the log of OUT, keeping the records up to `upToStep` (0: a fresh log). */
  static async open(dir: string, upToStep: number): Promise<TrainLog> {
    const log = new TrainLog(dir);
    const old = upToStep > 0 ? await readFile(log.path, 'utf8').catch(() => '') : '';
    const kept: string[] = [];
    for (const l of old.split('\n')) {
      if (!l.trim()) continue;
      let r: StepRecord;
      try {
        r = JSON.parse(l) as StepRecord;
      } catch {
        continue; // a line cut by a crash
      }
      if (r.step > upToStep) continue;
      kept.push(l);
      log.steps.push(r.step);
      log.losses.push(r.loss);
    }
    await writeFile(`${log.path}.tmp`, kept.map((l) => `${l}\n`).join(''));
    await rename(`${log.path}.tmp`, log.path);
    return log;
  }

  async append(r: StepRecord): Promise<void> {
    this.steps.push(r.step);
    this.losses.push(r.loss);
    await appendFile(this.path, `${JSON.stringify(r)}\n`);
  }

  /** Redraws OUT/loss.png. */
  async plot(): Promise<string> {
    const c = plotLoss(this.steps, this.losses);
    const p = join(this.dir, 'loss.png');
    await writeFile(`${p}.tmp`, encodeRgbPng(c.rgb, c.width, c.height));
    await rename(`${p}.tmp`, p);
    return p;
  }
}
