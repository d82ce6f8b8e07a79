// Selective recomputation and activation offload of the training forward/backward (engine/train/memory-plan.ts,
// engine/train/offload.ts, modelForward's `mem` option in engine/train/vchitect-backward.ts) on a 4-layer make-tiny
// checkpoint (D = 8, 4 frames of 16x16 latents, 3 text tokens): the block sets follow LiteGen's rule (written out by
// hand for 4 blocks); the output, every gradient and d(hidden_states) are bit-identical to the plain run for recompute
// ratios 0, 0.2, 0.5, 1 and an explicit list, with and without offload; trainStep with the options gives the same
// loss, norm and parameters bit for bit; checkpointing lowers the pool's peak and the bytes held between forward and
// backward, offload lowers the held bytes and never raises the peak; nothing leaks; misuse and bad ratios are named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { memoryPlan, type MemoryOptions } from '../../../engine/train/memory-plan.js';
import { TrainState, trainStep } from '../../../engine/train/train-step.js';
import { disposeModelSaved, modelBackward, modelForward, offloadReady, type ModelShape } from '../../../engine/train/vchitect-backward.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const LAYERS = 4;
const F = 4, Hl = 16, Wl = 16, Tn = 3; // activations above the parameters, so memory differences show
let dir: string;
let ckpt: Checkpoint;
const host = new Map<string, { shape: number[]; data: Float32Array }>();
let params: Map<string, Tensor>;
let shape: ModelShape;
let C = 0, J = 0, P = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-recompute-'));
  await makeTinyCheckpoint(dir, { seed: 31, transformer: { num_layers: LAYERS, num_attention_heads: 2, attention_head_dim: 4 } });
  ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
  params = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
  const cfg = ckpt.transformer.config as unknown as Record<string, number>;
  shape = { numLayers: LAYERS, heads: 2, patchSize: cfg.patch_size ?? 2, eps: LN_EPS };
  C = cfg.in_channels!;
  J = cfg.joint_attention_dim!;
  P = cfg.pooled_projection_dim!;
});

afterAll(async () => {
  for (const t of params.values()) t.dispose();
  await ckpt.close();
  rmSync(dir, { recursive: true, force: true });
});

const blocksOf = (flags: boolean[]) => flags.flatMap((f, i) => (f ? [i] : []));

describe('memory plan', () => {
  it('checkpoints the blocks of LiteGen\'s rule and offloads the earliest checkpointed ones', () => {
    // 4 blocks, p = 1 - ratio, cut = 0.5: block i (1-based) is checkpointed when i p >= cut, then cut += 1.
    // ratio 0.2: 0.8 >= .5, 1.6 >= 1.5, 2.4 < 2.5, 3.2 >= 2.5 -> 1, 2, 4; ratio 0.5: .5, 1 < 1.5, 1.5, 2 < 2.5 -> 1, 3.
    expect(blocksOf(memoryPlan(4, {}).checkpointed)).toEqual([]);
    expect(blocksOf(memoryPlan(4, { recompute: 0 }).checkpointed)).toEqual([0, 1, 2, 3]);
    expect(blocksOf(memoryPlan(4, { recompute: 0.2 }).checkpointed)).toEqual([0, 1, 3]);
    expect(blocksOf(memoryPlan(4, { recompute: 0.5 }).checkpointed)).toEqual([0, 2]);
    expect(blocksOf(memoryPlan(4, { recompute: 1 }).checkpointed)).toEqual([]);
    expect(blocksOf(memoryPlan(4, { recompute: [3, 1] }).checkpointed)).toEqual([1, 3]);
    // offload: max(1, round(ratio k)) of the k checkpointed blocks, earliest first.
    expect(blocksOf(memoryPlan(4, { recompute: 0, offload: 0.2 }).offloaded)).toEqual([0]);
    expect(blocksOf(memoryPlan(4, { recompute: 0, offload: 0.5 }).offloaded)).toEqual([0, 1]);
    expect(blocksOf(memoryPlan(4, { recompute: 0.2, offload: 1 }).offloaded)).toEqual([0, 1, 3]);
    expect(blocksOf(memoryPlan(4, { recompute: 0.5, offload: 0 }).offloaded)).toEqual([]);
  });

  it('names bad ratios and block lists', () => {
    for (const r of [-0.1, 1.5, Number.NaN]) expect(() => memoryPlan(4, { recompute: r })).toThrow(/recompute ratio must be a number in \[0, 1\]/);
    expect(() => memoryPlan(4, { recompute: [4] })).toThrow(/recompute block 4 is not a block index: the model has blocks 0\.\.3/);
    expect(() => memoryPlan(4, { recompute: [0.5] })).toThrow(/recompute block 0\.5 is not a block index/);
    expect(() => memoryPlan(4, { recompute: [1, 1] })).toThrow(/recompute block 1 is listed twice/);
    for (const r of [-1, 2, Number.NaN]) expect(() => memoryPlan(4, { recompute: 0, offload: r })).toThrow(/offload ratio must be a number in \[0, 1\]/);
    expect(() => memoryPlan(4, { offload: 0.2 })).toThrow(/offload 0\.2 needs checkpointed blocks .* recompute is off/);
    expect(() => memoryPlan(4, { recompute: 1, offload: 0.2 })).toThrow(/offload 0\.2 needs checkpointed blocks .* recompute 1 checkpoints none/);
  });
});

interface Run { out: Buffer; dh: Buffer; grads: Map<string, Buffer>; peak: number; held: number; leaked: number }

const hidden = () => normal(F * C * Hl * Wl, 41);
const inputs = () => ({
  hidden: Tensor.from(device, hidden(), [1, F, C, Hl, Wl], 'f32'),
  timestep: Tensor.from(device, [377.5], [1], 'f32'),
  context: Tensor.from(device, normal(Tn * J, 42), [1, Tn, J], 'f32'),
  pooled: Tensor.from(device, normal(P, 43), [1, P], 'f32'),
});

/**
 * One forward/backward with `mem`: bytes of the output, every gradient and dHidden; the pool's peak over it, the GPU
 * bytes held between the forward and the backward (output and dOut included), and what stayed allocated.
 */
async function run(mem: MemoryOptions): Promise<Run> {
  const inp = inputs();
  await device.sync();
  const live0 = device.pool.stats.liveBytes;
  device.pool.resetPeak();
  const { out, saved } = modelForward(params, shape, inp, mem);
  const dO = Tensor.from(device, normal(out.numel, 44), out.shape, 'f32');
  await offloadReady(saved);
  const held = device.pool.stats.liveBytes - live0;
  const { grads, dHidden } = modelBackward(saved, dO);
  disposeModelSaved(saved);
  const peak = device.pool.stats.peakBytes - live0;
  const r: Run = { out: Buffer.from(await out.readRaw()), dh: Buffer.from(await dHidden.readRaw()), grads: new Map(), peak, held, leaked: 0 };
  for (const [k, g] of grads) { r.grads.set(k, Buffer.from(await g.readRaw())); g.dispose(); }
  for (const t of [out, dO, dHidden]) t.dispose();
  r.leaked = device.pool.stats.liveBytes - live0;
  for (const t of Object.values(inp)) t.dispose();
  return r;
}

function expectSame(a: Run, b: Run, label: string): void {
  expect(b.out.equals(a.out), `${label}: output`).toBe(true);
  expect(b.dh.equals(a.dh), `${label}: d(hidden_states)`).toBe(true);
  expect([...b.grads.keys()].sort(), `${label}: gradient names`).toEqual([...a.grads.keys()].sort());
  for (const [k, g] of a.grads) expect(b.grads.get(k)!.equals(g), `${label}: gradient of ${k}`).toBe(true);
}

describe('recompute and offload in the model forward/backward', () => {
  let base: Run;
  const peaks = new Map<string, number>();
  const held = new Map<string, number>();

  it('the plain run keeps every gradient and frees everything it allocated', async () => {
    await run({}); // warm-up: ops build their per-device tables (RoPE frequencies) once
    base = await run({});
    expect(base.grads.size).toBe(host.size);
    // Not trivially equal: the gradients are not all zero.
    expect([...base.grads.values()].some((g) => new Float32Array(g.buffer, g.byteOffset, g.length / 4).some((v) => v !== 0))).toBe(true);
    expect(base.leaked).toBe(0);
    peaks.set('none', base.peak);
    held.set('none', base.held);
  }, 300_000);

  const cases: [string, MemoryOptions][] = [
    ['recompute 0 (every block)', { recompute: 0 }],
    ['recompute 0.2', { recompute: 0.2 }],
    ['recompute 0.5', { recompute: 0.5 }],
    ['recompute 1 (no block)', { recompute: 1 }],
    ['recompute blocks [1, 2]', { recompute: [1, 2] }],
    ['recompute 0 + offload 1', { recompute: 0, offload: 1 }],
    ['recompute 0 + offload 0.5', { recompute: 0, offload: 0.5 }],
    ['recompute 0.5 + offload 1', { recompute: 0.5, offload: 1 }],
    ['recompute blocks [1, 2] + offload 1', { recompute: [1, 2], offload: 1 }],
  ];
  for (const [label, mem] of cases) it(`${label}: output and gradients bit-identical to the plain run, nothing leaked`, async () => {
    const r = await run(mem);
    expectSame(base, r, label);
    expect(r.leaked, `${label}: bytes left allocated`).toBe(0);
    peaks.set(label, r.peak);
    held.set(label, r.held);
  }, 300_000);

  it('checkpointing lowers the held and the peak GPU memory; offloading lowers the held memory and never raises the peak', () => {
    // Held = live between forward and backward; with these shapes (activations > parameters) the plain run's peak is
    // there, a checkpointed run's peak is inside the backward (one block's activations plus the gradients so far).
    const [none, all, half] = ['none', 'recompute 0 (every block)', 'recompute 0.5'];
    expect(peaks.get('recompute 1 (no block)')).toBe(peaks.get(none));
    expect(held.get('recompute 1 (no block)')).toBe(held.get(none));
    expect(peaks.get(half)!).toBeLessThan(peaks.get(none)!);
    expect(peaks.get(all)!).toBeLessThan(peaks.get(half)!);
    expect(held.get(half)!).toBeLessThan(held.get(none)!);
    expect(held.get(all)!).toBeLessThan(held.get(half)!);
    expect(held.get('recompute 0 + offload 0.5')!).toBeLessThan(held.get(all)!);
    expect(held.get('recompute 0 + offload 1')!).toBeLessThan(held.get('recompute 0 + offload 0.5')!);
    expect(held.get('recompute 0.5 + offload 1')!).toBeLessThan(held.get(half)!);
    for (const [withOffload, without] of [['recompute 0 + offload 1', all], ['recompute 0 + offload 0.5', all], ['recompute 0.5 + offload 1', half], ['recompute blocks [1, 2] + offload 1', 'recompute blocks [1, 2]']] as const) {
      expect(peaks.get(withOffload)!, withOffload).toBeLessThanOrEqual(peaks.get(without)!);
    }
  });

  it('names a backward before the offloaded inputs settled, and a second backward', async () => {
    const inp = inputs();
    const { out, saved } = modelForward(params, shape, inp, { recompute: 0, offload: 1 });
    const dO = Tensor.from(device, new Float32Array(out.numel), out.shape, 'f32');
    expect(() => modelBackward(saved, dO)).toThrow(/offloaded block inputs are not on the host yet; await offloadReady\(saved\)/);
    await offloadReady(saved);
    const r = modelBackward(saved, dO);
    expect(() => modelBackward(saved, dO)).toThrow(/already used by a backward.*run modelForward again/);
    for (const g of r.grads.values()) g.dispose();
    disposeModelSaved(saved);
    for (const t of [out, dO, r.dHidden, ...Object.values(inp)]) t.dispose();
    await device.sync();
  }, 300_000);

  it('disposing the saved activations without a backward frees the host copies too', async () => {
    const inp = inputs();
    await device.sync();
    const live0 = device.pool.stats.liveBytes;
    const { out, saved } = modelForward(params, shape, inp, { recompute: 0.5, offload: 1 });
    disposeModelSaved(saved); // the readbacks may still be pending
    out.dispose();
    await device.sync();
    expect(device.pool.stats.liveBytes).toBe(live0);
    for (const t of Object.values(inp)) t.dispose();
  }, 300_000);
});

describe('trainStep with recompute and offload', () => {
  it('gives the same loss, norm and parameters bit for bit; bad options are named before any GPU work', async () => {
    const step = async (mem: MemoryOptions) => {
      const p = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
      const state = new TrainState(p);
      const batch = {
        x0: Tensor.from(device, normal(F * C * Hl * Wl, 51), [1, F, C, Hl, Wl], 'f32'),
        context: Tensor.from(device, normal(Tn * J, 52), [1, Tn, J], 'f32'),
        pooled: Tensor.from(device, normal(P, 53), [1, P], 'f32'),
      };
      const r = await trainStep(state, p, shape, batch, { seed: 5, lr: 1e-2, sigma: { fixed: 0.4 }, ...mem });
      const w = new Map<string, Buffer>();
      for (const [k, t] of p) { w.set(k, Buffer.from(await t.readRaw())); t.dispose(); }
      state.dispose();
      for (const t of Object.values(batch)) t.dispose();
      return { loss: r.loss, norm: r.gradNorm, w };
    };
    const a = await step({});
    const b = await step({ recompute: 0, offload: 0.5 });
    expect(b.loss).toBe(a.loss);
    expect(b.norm).toBe(a.norm);
    for (const [k, w] of a.w) expect(b.w.get(k)!.equals(w), k).toBe(true);

    const state = new TrainState(params);
    const batch = { x0: Tensor.zeros(device, [1, F, C, Hl, Wl]), context: Tensor.zeros(device, [1, Tn, J]), pooled: Tensor.zeros(device, [1, P]) };
    const live0 = device.pool.stats.liveBytes;
    await expect(trainStep(state, params, shape, batch, { seed: 0, lr: 1e-3, sigma: { fixed: 0.5 }, recompute: 2 })).rejects.toThrow(/recompute ratio must be a number in \[0, 1\]/);
    await expect(trainStep(state, params, shape, batch, { seed: 0, lr: 1e-3, sigma: { fixed: 0.5 }, offload: 0.2 })).rejects.toThrow(/offload 0\.2 needs checkpointed blocks/);
    expect(device.pool.stats.liveBytes).toBe(live0);
    expect(state.step).toBe(0);
    for (const t of Object.values(batch)) t.dispose();
    state.dispose();
  }, 300_000);
});
