// Wall time of whole training steps of the shapes-sized transformer (make-tiny with D = 64 = 4 heads x 16, 6 layers;
// 8 frames of 8x8 latents, 32 text tokens, random items), one device, after one warm-up step: the number the
// speed work on the training path is judged by. Prints each step's ms, the mean, and the dispatches, buffer copies
// and submits per step. Compare two checkouts (e.g. before / after a change) by running it in each, interleaved.
// Usage: node --import tsx bench/train-step-time.ts [--batch 2] [--steps 12]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Device } from '../engine/gpu/device.js';
import { TrainState, trainStep } from '../engine/train/train-step.js';
import { deviceParams, rankItem, tinyTransformer } from './train-rank-memory.js';

const { values: a } = parseArgs({ options: { batch: { type: 'string', default: '2' }, steps: { type: 'string', default: '12' } } });
const K = Number(a.batch), STEPS = Number(a.steps);
if (!(Number.isInteger(K) && K >= 1 && Number.isInteger(STEPS) && STEPS >= 1)) throw new Error('--batch and --steps must be positive integers');
const device = await Device.create({ label: 'train-step-time' });
const dir = await mkdtemp(join(os.tmpdir(), 'parallax-step-time-'));
const m = await tinyTransformer(dir, 6, 4, 16);
const params = deviceParams(m.host, device);
const shape = m.shape;
const items = Array.from({ length: K }, (_, i) => rankItem(m, device, { F: 8, S: 8, Tn: 32, seed: 1 + 100 * i }));
const state = new TrainState(params, { ema: true });
const opts = { seed: 1, lr: 1e-4, sigma: { sampling: 'logit_normal', shift: 3 } as const, clip: 1, emaDecay: {} };
await trainStep(state, params, shape, items, opts);
const c0 = { ...device.counters };
const times: number[] = [];
for (let s = 0; s < STEPS; s++) {
  const t = performance.now();
  await trainStep(state, params, shape, items, opts);
  times.push(performance.now() - t);
}
const c1 = device.counters;
const per = (k: 'dispatches' | 'copies' | 'submits') => (c1[k] - c0[k]) / STEPS;
console.log(`batch ${K}: step ms ${times.map((t) => t.toFixed(0)).join(' ')}; mean ${(times.reduce((x, y) => x + y, 0) / STEPS).toFixed(0)} ms; per step ${per('dispatches')} dispatches, ${per('copies')} copies, ${per('submits')} submits (${device.adapter.description})`);
await rm(dir, { recursive: true, force: true });
