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
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { SeededRandom } from '../engine/io/tiny-random.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { Tensor } from '../engine/tensor.js';
import { TrainState, trainStep } from '../engine/train/train-step.js';

const { values: a } = parseArgs({ options: { batch: { type: 'string', default: '2' }, steps: { type: 'string', default: '12' } } });
const K = Number(a.batch), STEPS = Number(a.steps);
if (!(Number.isInteger(K) && K >= 1 && Number.isInteger(STEPS) && STEPS >= 1)) throw new Error('--batch and --steps must be positive integers');
const device = await Device.create({ label: 'train-step-time' });
const dir = await mkdtemp(join(os.tmpdir(), 'parallax-step-time-'));
await makeTinyCheckpoint(dir, { transformer: { num_layers: 6, num_attention_heads: 4, attention_head_dim: 16 } });
const ckpt = await openCheckpoint(dir);
const store = ckpt.transformer.weights;
const params = new Map<string, Tensor>();
for (const k of store.keys()) params.set(k, Tensor.from(device, await store.readFloat32(k), [...store.info(k).shape], 'f32', k));
const c = ckpt.transformer.config as unknown as Record<string, number>;
await ckpt.close();
const shape = { numLayers: c.num_layers!, heads: c.num_attention_heads!, patchSize: 2, eps: LN_EPS };
const rng = new SeededRandom(1);
const items = Array.from({ length: K }, () => ({
  x0: Tensor.from(device, rng.normals(8 * c.in_channels! * 64), [1, 8, c.in_channels!, 8, 8], 'f32'),
  context: Tensor.from(device, rng.normals(32 * c.joint_attention_dim!), [1, 32, c.joint_attention_dim!], 'f32'),
  pooled: Tensor.from(device, rng.normals(c.pooled_projection_dim!), [1, c.pooled_projection_dim!], 'f32'),
}));
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
