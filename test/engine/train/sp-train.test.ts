// Ulysses sequence-parallel training (engine/train/sp-attn.ts, sp-model.ts, DistributedTrainer { sp }) against one
// rank, on a 2-layer make-tiny checkpoint with 4 heads (D = 8, head dim 2; 2 frames of 4x4 latents = 4 visual
// tokens per frame, 3 text tokens: SP 2 splits the text rows 2 + 1 (one padding row), SP 4 splits them 1 + 1 + 1 + 0
// (rank 3 holds only padding); SP 3 (4 heads do not split: the K/V all-gather path) splits the visual rows 2 + 2 + 0,
// padded). SP ranks run as async tasks in this process (in-process transport, one Dawn device
// each) and over shared-memory worker threads. Checked: the forward's velocity (blockwise.ts with the SP row split)
// is bit-identical to one rank; the loss and every parameter gradient (the ranks' shares summed in rank order) within
// 1e-6 relative; recompute and offload keep every rank's velocity and gradient share bit for bit and hold fewer bytes
// between forward and backward; parameters and EMA after 2 AdamW steps within 1e-6 for SP 2, 3 and 4 and for SP 2 x
// DP 2 against one rank with the doubled batch; with recompute / offload the plain run's bits (SP 2, SP 3 at ZeRO 1);
// ZeRO 2 and 3 with SP (with and without recompute / offload) give ZeRO 0's bits; shm gives the in-process bits; a
// rank failing mid-step ends every rank with an error naming it; bad layouts are refused.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { runWorkers, WorldError } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { compareGradients } from '../../../engine/train/grad-compare.js';
import { blockwisePass, fullSource } from '../../../engine/train/blockwise.js';
import { memoryPlan, type MemoryOptions } from '../../../engine/train/memory-plan.js';
import { makeSpGroup, spRows } from '../../../engine/train/sp-model.js';
import { addGrads, type GradMap } from '../../../engine/train/update.js';
import { checkSpLayout } from '../../../engine/train/sp-groups.js';
import { TrainState, trainStep } from '../../../engine/train/train-step.js';
import { disposeModelSaved, modelBackward, modelForward } from '../../../engine/train/vchitect-backward.js';
import { differingTensors, disposeItem, makeItem, tinySetup, TRAIN_OPTS, type Geometry, type HostWeights, type RankOut } from './dist-train-rank.js';
import { runSpTrainRank, type SpRankArgs } from './sp-train-rank.js';
import { normal } from '../../helpers/random.js';

const STEPS = 2;
let devices: Device[];
let dir: string;
let host: HostWeights;
let geo: Geometry;

beforeAll(async () => {
  devices = await Device.createMany(4, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-sp-train-'));
  ({ host, geo } = await tinySetup(dir, 43, { heads: 4, headDim: 2 }));
}, 120_000);

afterAll(() => {
  devices?.forEach((d) => d.destroy());
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shapeOf = () => ({ numLayers: geo.numLayers, heads: geo.heads, patchSize: geo.patchSize, eps: LN_EPS });
const upload = (device: Device) => new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
const readMap = async (m: ReadonlyMap<string, Tensor>) => new Map(await Promise.all([...m].map(async ([k, t]) => [k, await t.read()] as const)));

/** Model inputs of one item at sigma 0.4 (x_t = 0.6 x0 + 0.4 eps), and a fixed output gradient. */
function inputsOf(device: Device) {
  const item = makeItem(device, geo, 0);
  const n = item.x0.numel;
  const x0 = normal(n, 100), eps = normal(n, 7);
  const hidden = Tensor.from(device, x0.map((v, i) => 0.6 * v + 0.4 * eps[i]!), item.x0.shape, 'f32');
  item.x0.dispose();
  return { hidden, timestep: Tensor.from(device, [400], [1], 'f32'), context: item.context, pooled: item.pooled, dOut: Tensor.from(device, normal(n, 9), hidden.shape, 'f32') };
}

function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0, den = 0;
  for (const [k, v] of b) {
    const x = a.get(k)!;
    for (let i = 0; i < v.length; i++) { num += (x[i]! - v[i]!) ** 2; den += v[i]! ** 2; }
  }
  return Math.sqrt(num / den);
}

describe('sequence-parallel forward/backward against one rank', () => {
  let ref: { out: Float32Array; grads: Map<string, Float32Array> };
  beforeAll(async () => {
    const device = devices[0]!;
    const p = upload(device);
    const inp = inputsOf(device);
    const { out, saved } = modelForward(p, shapeOf(), inp);
    const { grads, dHidden } = modelBackward(saved, inp.dOut);
    disposeModelSaved(saved);
    ref = { out: await out.read(), grads: await readMap(grads) };
    for (const t of [out, dHidden, ...grads.values(), ...p.values(), inp.hidden, inp.timestep, inp.context, inp.pooled, inp.dOut]) t.dispose();
  }, 120_000);

  /** One SP rank's velocity and gradient share for the fixed dOut, through the block-by-block driver with `mem`. */
  async function spRank(t: Parameters<typeof ProcessGroup.world>[0], r: number, mem: MemoryOptions = {}) {
    const device = devices[r]!;
    const p = upload(device);
    const inp = inputsOf(device);
    const sp = makeSpGroup(ProcessGroup.world(t), device, geo.heads);
    const acc: GradMap = new Map();
    const before = device.pool.stats.liveBytes;
    const pass = await blockwisePass(fullSource(p), shapeOf(), inp, acc, { plan: memoryPlan(geo.numLayers, mem), rows: spRows(sp, shapeOf()) });
    const held = device.pool.stats.liveBytes - before; // what the forward keeps for the backward
    const out = await pass.out.read();
    addGrads(acc, await pass.backward(inp.dOut));
    pass.dispose();
    const res = { out, grads: await readMap(acc), held };
    for (const x of [pass.out, ...acc.values(), ...p.values(), inp.hidden, inp.timestep, inp.context, inp.pooled, inp.dOut]) x.dispose();
    return res;
  }

  for (const P of [1, 2, 3, 4]) it(`SP ${P}${P === 3 ? ' (4 heads: the K/V all-gather path)' : ''}: the velocity bit for bit, the summed gradient shares within 1e-6`, async () => {
    const world = createInProcessWorld(P, { timeoutMs: 120_000 });
    const outs = await Promise.all(world.map((t, r) => spRank(t, r)));
    outs.forEach((o, r) => expect(Buffer.from(o.out.buffer).equals(Buffer.from(ref.out.buffer)), `rank ${r}: velocity bits`).toBe(true));
    // The ranks' shares summed in rank order (what the SP all-reduce does).
    const sum = new Map([...ref.grads.keys()].map((k) => {
      const acc = new Float32Array(ref.grads.get(k)!.length);
      for (const o of outs) { const g = o.grads.get(k)!; for (let i = 0; i < acc.length; i++) acc[i]! += g[i]!; }
      return [k, acc] as const;
    }));
    expect([...outs[0]!.grads.keys()].sort(), 'gradient names').toEqual([...ref.grads.keys()].sort());
    const cmp = compareGradients(sum, ref.grads);
    console.log(`SP ${P}: overall ${cmp.overall.toExponential(2)}, worst ${cmp.perTensor[0]!.name} ${cmp.perTensor[0]!.rel.toExponential(2)}`);
    expect(cmp.overall, 'overall relative gradient error').toBeLessThan(1e-6);
    expect(cmp.perTensor[0]!.rel, `worst tensor ${cmp.perTensor[0]!.name}`).toBeLessThan(1e-6);
    if (P === 1) expect(differingTensors(sum, ref.grads), 'SP 1: the same bits').toEqual([]);
  }, 120_000);

  // Recompute reruns a block's forward (its attention's all-to-alls / all-gathers included) before its backward;
  // offload parks its input on the host: each rank's velocity and gradient share keep the plain SP run's bits.
  const memCases: { P: number; mem: MemoryOptions; note: string }[] = [
    { P: 2, mem: { recompute: 0 }, note: 'every block recomputed' },
    { P: 2, mem: { recompute: 0, offload: 1 }, note: 'every block recomputed and offloaded' },
    { P: 3, mem: { recompute: [1], offload: 1 }, note: 'block 1 recomputed and offloaded, K/V all-gather path, uneven rows' },
  ];
  for (const c of memCases) it(`SP ${c.P}, ${c.note}: every rank's velocity and gradient share bit-identical to the plain SP run`, async () => {
    const plain = await Promise.all(createInProcessWorld(c.P, { timeoutMs: 120_000 }).map((t, r) => spRank(t, r)));
    const mem = await Promise.all(createInProcessWorld(c.P, { timeoutMs: 120_000 }).map((t, r) => spRank(t, r, c.mem)));
    mem.forEach((o, r) => {
      expect(Buffer.from(o.out.buffer).equals(Buffer.from(plain[r]!.out.buffer)), `rank ${r}: velocity bits`).toBe(true);
      expect(differingTensors(o.grads, plain[r]!.grads), `rank ${r}: gradient shares differing in any bit`).toEqual([]);
      // The plan reached the blocks: less is kept on the GPU between forward and backward.
      expect(o.held, `rank ${r}: bytes held after the forward`).toBeLessThan(plain[r]!.held);
    });
    console.log(`SP ${c.P}, ${c.note}: bytes held after the forward per rank ${mem.map((o) => o.held).join(' ')} (plain ${plain.map((o) => o.held).join(' ')})`);
  }, 120_000);
});

const spArgs = (sp: number, K: number, extra: Partial<SpRankArgs> = {}): SpRankArgs => ({ geo, sp, K, steps: STEPS, zero: 0, opts: TRAIN_OPTS, ...extra });

function runInProcess(N: number, a: SpRankArgs): Promise<PromiseSettledResult<RankOut>[]> {
  const world = createInProcessWorld(N, { timeoutMs: 600_000 });
  return Promise.allSettled(world.map((t, r) => runSpTrainRank(ProcessGroup.world(t), devices[r]!, a, host)));
}

function fulfilled(res: PromiseSettledResult<RankOut>[]): RankOut[] {
  return res.map((r, i) => {
    if (r.status === 'rejected') throw new Error(`rank ${i} failed: ${String(r.reason?.stack ?? r.reason)}`);
    return r.value;
  });
}

const single = new Map<number, { losses: number[]; norms: number[]; params: Map<string, Float32Array>; ema: Map<string, Float32Array> }>();

/** trainStep on one device with the whole K-item batch (the reference), cached per K. */
async function oneRank(K: number) {
  let r = single.get(K);
  if (r) return r;
  const device = devices[0]!;
  const params = upload(device);
  const state = new TrainState(params, { ema: true });
  const items = Array.from({ length: K }, (_, j) => makeItem(device, geo, j));
  const losses: number[] = [], norms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const res = await trainStep(state, params, shapeOf(), items, TRAIN_OPTS);
    losses.push(res.loss);
    norms.push(res.gradNorm);
  }
  r = { losses, norms, params: await readMap(params), ema: await readMap(state.ema!) };
  items.forEach(disposeItem);
  state.dispose();
  for (const t of params.values()) t.dispose();
  single.set(K, r);
  return r;
}

describe('DistributedTrainer with sequence parallelism against one rank (2 AdamW steps, clipping, EMA)', () => {
  const cases = [
    { sp: 2, N: 2, K: 1, zero: 0 as const, note: 'SP 2' },
    { sp: 4, N: 4, K: 1, zero: 1 as const, note: 'SP 4, ZeRO 1 (one data-parallel rank)' },
    { sp: 3, N: 3, K: 1, zero: 0 as const, note: 'SP 3 (K/V all-gather: 4 heads do not split over 3)' },
    { sp: 2, N: 4, K: 2, zero: 1 as const, note: 'SP 2 x DP 2, ZeRO 1 over the DP ranks, against one rank with the doubled batch' },
  ];
  for (const c of cases) it(`${c.note}: every rank the same bits; losses, norms, parameters and EMA within 1e-6 of one rank`, async () => {
    const outs = fulfilled(await runInProcess(c.N, spArgs(c.sp, c.K, { zero: c.zero })));
    outs.forEach((o, r) => {
      expect(o.losses, `rank ${r} losses`).toEqual(outs[0]!.losses);
      expect(differingTensors(o.params, outs[0]!.params), `rank ${r} parameters differing from rank 0`).toEqual([]);
      expect(differingTensors(o.ema, outs[0]!.ema), `rank ${r} EMA differing from rank 0`).toEqual([]);
    });
    const want = await oneRank(c.K);
    const got = outs[0]!;
    got.losses.forEach((l, s) => expect(Math.abs(l - want.losses[s]!) / want.losses[s]!, `step ${s + 1} loss`).toBeLessThan(1e-6));
    got.norms.forEach((n, s) => expect(Math.abs(n - want.norms[s]!) / want.norms[s]!, `step ${s + 1} gradient norm`).toBeLessThan(1e-6));
    const dp = relDiff(got.params, want.params), de = relDiff(got.ema, want.ema);
    console.log(`${c.note}: loss ${got.losses.map((l) => l.toFixed(6)).join(', ')}; params rel ${dp.toExponential(2)}, EMA rel ${de.toExponential(2)}`);
    expect(dp, 'parameters against one rank').toBeLessThan(1e-6);
    expect(de, 'EMA against one rank').toBeLessThan(1e-6);
    // The parameters moved (a test that cannot pass by leaving them alone).
    expect(relDiff(got.params, new Map([...host].map(([k, h]) => [k, h.data]))), 'parameters changed').toBeGreaterThan(1e-5);
  }, 300_000);

  it('SP 2 x DP 2 with an uneven batch of 3 (items [2, 1] over the DP ranks): ZeRO 2 and 3, with and without recompute / offload, give ZeRO 0\'s bits, all within 1e-6 of one rank', async () => {
    const z0 = fulfilled(await runInProcess(4, spArgs(2, 3, { zero: 0 })));
    const z2 = fulfilled(await runInProcess(4, spArgs(2, 3, { zero: 2 })));
    const z2m = fulfilled(await runInProcess(4, spArgs(2, 3, { zero: 2, opts: { ...TRAIN_OPTS, recompute: 0, offload: 0.5 } })));
    const z3 = fulfilled(await runInProcess(4, spArgs(2, 3, { zero: 3 })));
    const z3o = fulfilled(await runInProcess(4, spArgs(2, 3, { zero: 3, opts: { ...TRAIN_OPTS, offload: 1 } })));
    const runs = { 'ZeRO 2': z2, 'ZeRO 2 + recompute 0, offload 0.5': z2m, 'ZeRO 3': z3, 'ZeRO 3 + offload 1': z3o };
    for (const [name, outs] of Object.entries(runs)) outs.forEach((o, r) => {
      expect(o.losses, `${name} rank ${r} losses`).toEqual(z0[0]!.losses);
      expect(o.norms, `${name} rank ${r} norms`).toEqual(z0[0]!.norms);
      expect(differingTensors(o.params, z0[0]!.params), `${name} rank ${r}: parameters differing from ZeRO 0`).toEqual([]);
      expect(differingTensors(o.ema, z0[0]!.ema), `${name} rank ${r}: EMA differing from ZeRO 0`).toEqual([]);
    });
    // The memory options reached the ranks' passes (data-parallel rank 0 trains 2 items: its peak is in the backward).
    for (const r of [0, 1]) expect(z2m[r]!.stepPeakBytes, `rank ${r}: ZeRO 2 step peak with recompute`).toBeLessThan(z2[r]!.stepPeakBytes);
    // ZeRO 3 shards the parameters over the data-parallel ranks: each rank holds less than at ZeRO 2.
    z3.forEach((o, r) => expect(o.persistentBytes, `rank ${r}: ZeRO 3 holds less than ZeRO 2`).toBeLessThan(z2[r]!.persistentBytes));
    console.log(`SP 2 x DP 2, KiB persistent/step peak per rank: ${Object.entries({ 'ZeRO 0': z0, ...runs }).map(([n, outs]) => `${n}: ${outs.map((o) => `${(o.persistentBytes / 1024).toFixed(1)}/${(o.stepPeakBytes / 1024).toFixed(1)}`).join(' ')}`).join('; ')}`);
    const want = await oneRank(3);
    z0[0]!.losses.forEach((l, s) => expect(Math.abs(l - want.losses[s]!) / want.losses[s]!, `step ${s + 1} loss`).toBeLessThan(1e-6));
    const dp = relDiff(z0[0]!.params, want.params);
    console.log(`SP 2 x DP 2, batch 3, ZeRO 0 = ZeRO 2 = ZeRO 3: params rel ${dp.toExponential(2)}`);
    expect(dp, 'parameters against one rank').toBeLessThan(1e-6);
    expect(relDiff(z0[0]!.ema, want.ema), 'EMA against one rank').toBeLessThan(1e-6);
  }, 300_000);

  const memCases = [
    { sp: 2, N: 2, zero: 0 as const, mem: { recompute: 0, offload: 1 }, note: 'SP 2, recompute 0 + offload 1' },
    { sp: 3, N: 3, zero: 1 as const, mem: { recompute: 0.5 }, note: 'SP 3 (K/V all-gather, uneven rows), ZeRO 1, recompute 0.5' },
  ];
  for (const c of memCases) it(`${c.note}: every rank the plain run's bits after 2 steps`, async () => {
    const plain = fulfilled(await runInProcess(c.N, spArgs(c.sp, 1, { zero: c.zero })));
    const mem = fulfilled(await runInProcess(c.N, spArgs(c.sp, 1, { zero: c.zero, opts: { ...TRAIN_OPTS, ...c.mem } })));
    mem.forEach((o, r) => {
      expect(o.losses, `rank ${r} losses`).toEqual(plain[r]!.losses);
      expect(o.norms, `rank ${r} norms`).toEqual(plain[r]!.norms);
      expect(differingTensors(o.params, plain[r]!.params), `rank ${r}: parameters differing in any bit`).toEqual([]);
      expect(differingTensors(o.ema, plain[r]!.ema), `rank ${r}: EMA differing in any bit`).toEqual([]);
    });
    console.log(`${c.note}: step peak KiB per rank ${mem.map((o) => (o.stepPeakBytes / 1024).toFixed(1)).join(' ')} (plain ${plain.map((o) => (o.stepPeakBytes / 1024).toFixed(1)).join(' ')})`);
  }, 300_000);

  it('shared-memory worker threads, SP 2: the same bits as the in-process run', async () => {
    const a = spArgs(2, 1);
    const ref = fulfilled(await runInProcess(2, a));
    const outs = await runWorkers<SpRankArgs, RankOut>(2, new URL('./sp-train-rank.ts', import.meta.url), { ...a, dir }, { timeoutMs: 600_000, ringBytes: 1 << 20 });
    outs.forEach((o, r) => {
      expect(o.losses, `shm rank ${r} losses`).toEqual(ref[0]!.losses);
      expect(differingTensors(o.params, ref[0]!.params), `shm rank ${r}: parameters differing in any bit`).toEqual([]);
    });
  }, 300_000);
});

describe('failures and refusals', () => {
  // The receive timeout is 10 minutes: only the abort can end the other ranks within the test's timeout.
  for (const mode of ['throw', 'crash'] as const) it(`SP 2 x DP 2 in-process: rank 1 ${mode === 'throw' ? 'throwing in' : 'vanishing during'} step 2 ends every rank with an error naming it`, async () => {
    const res = await runInProcess(4, spArgs(2, 2, { failRank: 1, failStep: 2, failMode: mode }));
    res.forEach((r, i) => expect(r.status, `rank ${i}`).toBe('rejected'));
    const msg = res.map((r) => String((r as PromiseRejectedResult).reason?.message));
    if (mode === 'throw') expect(msg[1]).toMatch(/sequence-parallel train step \(SP rank 1 of group sp\[0,1\], ZeRO 0\) on data-parallel rank 0 of group dp\[1,3\] failed: .*context/);
    else expect(msg[1]).toMatch(/rank 1 crashed \(simulated\)/);
    for (const r of [0, 2, 3]) expect(msg[r], `rank ${r}`).toMatch(/rank 1/);
  }, 120_000);

  it('shared-memory worker threads, SP 2: a rank throwing in step 2 fails the world, the other rank naming it', async () => {
    const err = await runWorkers<SpRankArgs, RankOut>(2, new URL('./sp-train-rank.ts', import.meta.url), { ...spArgs(2, 1), dir, failRank: 1, failStep: 2 }, { timeoutMs: 600_000 }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorldError);
    const w = err as WorldError;
    // (failedRank is whichever error reached the launcher first: the aborted peer can win that race under load.)
    expect(w.rankErrors[1]).toMatch(/sequence-parallel train step \(SP rank 1 .*failed: .*context/);
    expect(w.rankErrors[0], 'rank 0').toMatch(/rank 1/);
  }, 300_000);

  it('refuses SP sizes the world does not split into, naming the fix', () => {
    expect(() => checkSpLayout(2, 3, 4)).toThrow(/--sp 2 does not divide the 3 ranks .*\{1, 3\}/);
    expect(() => checkSpLayout(0, 2, 4)).toThrow(/--sp must be a positive integer/);
  });
});
