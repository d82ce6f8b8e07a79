// Data-parallel and ZeRO training (engine/train/distributed-step.ts) against one rank: a 2-layer make-tiny checkpoint
// (D = 8, 2 heads; 2 frames of 4x4 latents, 3 text tokens), 2 optimizer steps with AdamW (weight decay), clipping
// and EMA. N ranks run as async tasks in this process (in-process transport, one Dawn device each). Checked: DP with
// one item per rank equals trainStep on the whole batch bit for bit (the same summation order); uneven batches (5
// items over 2 and 3 ranks) within 1e-6; ZeRO 0/1/2/3 give the same bits as each other on 2, 3 (uneven blocks:
// [1, 1, 0] + the non-block unit) and 4 ranks (a rank owning no block); ZeRO's per-rank memory falls with the
// stage; recompute / offload at ZeRO 2 and offload at ZeRO 3 on 2 and 3 ranks keep plain ZeRO 2's bits (ZeRO 3 refuses
// recompute). Other transports and failures: distributed-failure.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { Device } from '../../../engine/gpu/device.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import type { ZeroStage } from '../../../engine/train/distributed-step.js';
import { TrainState, trainStep } from '../../../engine/train/train-step.js';
import { batchShare, zeroLayout } from '../../../engine/train/zero-layout.js';
import { differingTensors, disposeItem, makeItem, runTrainRank, tinySetup, TRAIN_OPTS, type Geometry, type HostWeights, type RankArgs, type RankOut } from './dist-train-rank.js';

const MAX_RANKS = 4;
const STEPS = 2;
let devices: Device[];
let dir: string;
let host: HostWeights;
let geo: Geometry;

beforeAll(async () => {
  devices = await Device.createMany(MAX_RANKS, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-dist-train-'));
  ({ host, geo } = await tinySetup(dir, 41));
}, 120_000);

afterAll(() => {
  devices?.forEach((d) => d.destroy());
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const single = new Map<number, { losses: number[]; norms: number[]; params: Map<string, Float32Array>; ema: Map<string, Float32Array> }>();

/** trainStep on one device with the whole K-item batch (the reference), cached per K. */
async function oneRank(K: number) {
  let r = single.get(K);
  if (r) return r;
  const device = devices[0]!;
  const params = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
  const state = new TrainState(params, { ema: true });
  const items = Array.from({ length: K }, (_, j) => makeItem(device, geo, j));
  const shape = { numLayers: geo.numLayers, heads: geo.heads, patchSize: geo.patchSize, eps: LN_EPS };
  const losses: number[] = [], norms: number[] = [];
  for (let s = 0; s < STEPS; s++) {
    const res = await trainStep(state, params, shape, items, TRAIN_OPTS);
    losses.push(res.loss);
    norms.push(res.gradNorm);
  }
  const read = async (m: ReadonlyMap<string, Tensor>) => new Map(await Promise.all([...m].map(async ([k, t]) => [k, await t.read()] as const)));
  r = { losses, norms, params: await read(params), ema: await read(state.ema!) };
  items.forEach(disposeItem);
  state.dispose();
  for (const t of params.values()) t.dispose();
  single.set(K, r);
  return r;
}

function args(K: number, zero: ZeroStage, extra: Partial<RankArgs> = {}): RankArgs {
  return { geo, K, steps: STEPS, zero, opts: TRAIN_OPTS, ...extra };
}

/** N ranks in this process; each rank's result or error. */
async function runInProcess(N: number, a: RankArgs, timeoutMs = 600_000): Promise<PromiseSettledResult<RankOut>[]> {
  const world = createInProcessWorld(N, { timeoutMs });
  return Promise.allSettled(world.map((t, r) => runTrainRank(ProcessGroup.world(t), devices[r]!, a, host)));
}

function fulfilled(res: PromiseSettledResult<RankOut>[]): RankOut[] {
  return res.map((r, i) => {
    if (r.status === 'rejected') throw new Error(`rank ${i} failed: ${String(r.reason?.stack ?? r.reason)}`);
    return r.value;
  });
}

function sameBits(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string): void {
  const d = differingTensors(a, b);
  expect(d.length, `${what}: tensors differing in any bit (first: ${d.slice(0, 3).join(', ')})`).toBe(0);
}

/** ||a - b|| / ||b|| over all tensors, and over the update (a - p0 against b - p0) too. */
function relDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0, den = 0;
  for (const [k, v] of b) {
    const x = a.get(k)!;
    for (let i = 0; i < v.length; i++) { num += (x[i]! - v[i]!) ** 2; den += v[i]! ** 2; }
  }
  return Math.sqrt(num / den);
}

function updateRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0, den = 0;
  for (const [k, v] of b) {
    const x = a.get(k)!, p0 = host.get(k)!.data;
    for (let i = 0; i < v.length; i++) { num += (x[i]! - v[i]!) ** 2; den += (v[i]! - p0[i]!) ** 2; }
  }
  return Math.sqrt(num / den);
}

describe('ZeRO layout and batch split', () => {
  it('splits blocks contiguously (first ranks take the remainder) and gives the non-block unit to the lightest rank', () => {
    const names: [string, number[]][] = [];
    for (let b = 0; b < 3; b++) names.push([`transformer_blocks.${b}.w`, [10]], [`transformer_blocks.${b}.b`, [2]]);
    names.push(['proj_out.weight', [5]], ['pos_embed.proj.weight', [3]]);
    const l2 = zeroLayout(names, 3, 2);
    expect(l2.units.map((u) => u.owner)).toEqual([0, 0, 1, 1]);
    expect(l2.units[3]!.params).toEqual(['proj_out.weight', 'pos_embed.proj.weight']);
    expect(l2.units[3]!.numel).toBe(8);
    const l4 = zeroLayout(names, 3, 4);
    expect(l4.units.map((u) => u.owner)).toEqual([0, 1, 2, 3]);
    const l1 = zeroLayout(names, 3, 1);
    expect(l1.units.every((u) => u.owner === 0)).toBe(true);
    expect(() => zeroLayout(names, 2, 2)).toThrow(/block 2 but the model has 2 layers/);
    expect(() => zeroLayout(names, 4, 2)).toThrow(/block 3 has no parameters/);
  });

  it('splits a batch into contiguous runs, the first ranks taking one more', () => {
    expect([0, 1].map((r) => batchShare(5, 2, r))).toEqual([{ offset: 0, count: 3 }, { offset: 3, count: 2 }]);
    expect([0, 1, 2].map((r) => batchShare(5, 3, r))).toEqual([{ offset: 0, count: 2 }, { offset: 2, count: 2 }, { offset: 4, count: 1 }]);
    expect([0, 1, 2].map((r) => batchShare(2, 3, r).count)).toEqual([1, 1, 0]);
    expect(() => batchShare(0, 2, 0)).toThrow(/global batch must be an integer >= 1/);
  });
});

describe('data parallelism and ZeRO stages 0-3 reproduce one rank with the whole batch', () => {
  const cases = [
    { N: 2, K: 5, note: 'one block per rank, items [3, 2]' },
    { N: 3, K: 5, note: 'blocks [1, 1, 0] + the non-block unit on rank 2, items [2, 2, 1]' },
    { N: 4, K: 4, note: 'rank 3 owns the non-block unit, one item per rank' },
  ];
  for (const c of cases) it(`${c.N} ranks, global batch ${c.K} (${c.note}): ZeRO 0-3 give the same bits; ${c.K === c.N ? 'bit-identical to one rank' : 'within 1e-6 of one rank'}`, async () => {
    const runs = new Map<ZeroStage, RankOut[]>();
    for (const z of [0, 1, 2, 3] as ZeroStage[]) runs.set(z, fulfilled(await runInProcess(c.N, args(c.K, z))));
    const ref = runs.get(0)!;
    for (const [z, outs] of runs) {
      outs.forEach((o, r) => {
        expect(o.losses, `ZeRO ${z} rank ${r} losses`).toEqual(ref[0]!.losses);
        expect(o.norms, `ZeRO ${z} rank ${r} norms`).toEqual(ref[0]!.norms);
        sameBits(o.params, ref[0]!.params, `ZeRO ${z} rank ${r} parameters`);
        sameBits(o.ema, ref[0]!.ema, `ZeRO ${z} rank ${r} EMA`);
      });
    }
    // Against trainStep on one rank with the whole batch: the same summation when each rank has one item.
    const want = await oneRank(c.K);
    const got = ref[0]!;
    if (c.K === c.N) {
      expect(got.losses, 'losses against one rank').toEqual(want.losses);
      expect(got.norms, 'norms against one rank').toEqual(want.norms);
      sameBits(got.params, want.params, `${c.N} ranks against one rank: parameters`);
      sameBits(got.ema, want.ema, `${c.N} ranks against one rank: EMA`);
    } else {
      got.losses.forEach((l, s) => expect(Math.abs(l - want.losses[s]!) / want.losses[s]!, `step ${s + 1} loss against one rank`).toBeLessThan(1e-6));
      got.norms.forEach((n, s) => expect(Math.abs(n - want.norms[s]!) / want.norms[s]!, `step ${s + 1} norm against one rank`).toBeLessThan(1e-6));
      expect(relDiff(got.params, want.params), 'parameters against one rank').toBeLessThan(1e-6);
      expect(relDiff(got.ema, want.ema), 'EMA against one rank').toBeLessThan(1e-6);
      expect(updateRelDiff(got.params, want.params), 'parameter updates against one rank').toBeLessThan(1e-4);
    }
    // Memory per rank: the optimizer state shrinks from stage 1 and the parameters at stage 3.
    const mem = [...runs].map(([z, outs]) => `ZeRO ${z}: ${outs.map((o) => `${(o.persistentBytes / 1024).toFixed(1)}/${(o.stepPeakBytes / 1024).toFixed(1)}`).join(' ')}`);
    console.log(`${c.N} ranks, KiB persistent/step peak per rank: ${mem.join('; ')}`);
    for (let r = 0; r < c.N; r++) {
      const p = (z: ZeroStage) => runs.get(z)![r]!.persistentBytes;
      expect(p(1), `rank ${r}: ZeRO 1 holds less than ZeRO 0`).toBeLessThan(p(0));
      expect(p(3), `rank ${r}: ZeRO 3 holds less than ZeRO 2`).toBeLessThan(p(2));
    }
  }, 600_000);
});


describe('recompute and offload on several ranks at ZeRO 2 and 3', () => {
  const cases = [
    { N: 2, K: 3, note: 'items [2, 1]' },
    { N: 3, K: 5, note: 'blocks [1, 1, 0], items [2, 2, 1]' },
  ];
  for (const c of cases) it(`${c.N} ranks, global batch ${c.K} (${c.note}): ZeRO 2 with recompute 0.5 + offload 1 and ZeRO 3 with offload 1 give plain ZeRO 2's bits`, async () => {
    const plain = fulfilled(await runInProcess(c.N, args(c.K, 2)));
    const z2m = fulfilled(await runInProcess(c.N, args(c.K, 2, { opts: { ...TRAIN_OPTS, recompute: 0.5, offload: 1 } })));
    const z2r = fulfilled(await runInProcess(c.N, args(c.K, 2, { opts: { ...TRAIN_OPTS, recompute: 0 } })));
    const z3o = fulfilled(await runInProcess(c.N, args(c.K, 3, { opts: { ...TRAIN_OPTS, offload: 1 } })));
    const runs = { 'ZeRO 2 + recompute 0.5, offload 1': z2m, 'ZeRO 2 + recompute 0': z2r, 'ZeRO 3 + offload 1': z3o };
    for (const [name, outs] of Object.entries(runs)) outs.forEach((o, r) => {
      expect(o.losses, `${name} rank ${r} losses`).toEqual(plain[0]!.losses);
      expect(o.norms, `${name} rank ${r} norms`).toEqual(plain[0]!.norms);
      sameBits(o.params, plain[0]!.params, `${name} rank ${r} parameters`);
      sameBits(o.ema, plain[0]!.ema, `${name} rank ${r} EMA`);
    });
    console.log(`${c.N} ranks, step peak KiB per rank: ZeRO 2 ${plain.map((o) => (o.stepPeakBytes / 1024).toFixed(1)).join(' ')}; ${Object.entries(runs).map(([n, outs]) => `${n}: ${outs.map((o) => (o.stepPeakBytes / 1024).toFixed(1)).join(' ')}`).join('; ')}`);
    // The options reached the blocks: rank 0 (two items) peaks lower when every block is recomputed.
    expect(z2r[0]!.stepPeakBytes, 'rank 0 step peak, ZeRO 2 + recompute 0').toBeLessThan(plain[0]!.stepPeakBytes);
  }, 600_000);

  it('ZeRO 3 refuses recompute (it checkpoints every block already), naming the fix', async () => {
    const res = await runInProcess(2, args(2, 3, { opts: { ...TRAIN_OPTS, recompute: 0 } }));
    res.forEach((r, i) => {
      expect(r.status, `rank ${i}`).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason?.message)).toMatch(/ZeRO 3 already checkpoints every block .*drop recompute \(offload alone applies there\)/);
    });
  }, 120_000);
});

describe('checkpoint state and agreement', () => {
  it('ZeRO 3 on 2 ranks: gatherHost after step 1 and loadHost into new trainers continue exactly (step 2 bit-identical to an uninterrupted run)', async () => {
    const { DistributedTrainer } = await import('../../../engine/train/distributed-step.js');
    const shape = { numLayers: geo.numLayers, heads: geo.heads, patchSize: geo.patchSize, eps: LN_EPS };
    const opts = { ...TRAIN_OPTS, globalBatch: 2 };
    const run = async (resume: boolean) => {
      const world = createInProcessWorld(2, { timeoutMs: 600_000 });
      return Promise.all(world.map(async (t, r) => {
        const g = ProcessGroup.world(t), device = devices[r]!;
        const fresh = () => new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
        const item = makeItem(device, geo, r);
        let tr = DistributedTrainer.create(g, fresh(), shape, { zero: 3, ema: true });
        const l1 = (await tr.step([item], opts)).loss;
        if (resume) {
          const saved = { params: await tr.gatherHost('params'), ema: await tr.gatherHost('ema'), m: await tr.gatherHost('m'), v: await tr.gatherHost('v'), step: tr.state.step };
          tr.dispose();
          // Fresh random-free start: the checkpoint's weights, then the saved state loaded over them.
          tr = DistributedTrainer.create(g, fresh(), shape, { zero: 3, ema: true });
          for (const kind of ['params', 'ema', 'm', 'v'] as const) tr.loadHost(kind, saved[kind], saved.step);
        }
        const l2 = (await tr.step([item], opts)).loss;
        const out = { losses: [l1, l2], params: await tr.gatherHost('params'), ema: await tr.gatherHost('ema') };
        tr.dispose();
        disposeItem(item);
        return out;
      }));
    };
    const straight = await run(false);
    const resumed = await run(true);
    for (let r = 0; r < 2; r++) {
      expect(resumed[r]!.losses, `rank ${r} losses`).toEqual(straight[r]!.losses);
      sameBits(resumed[r]!.params, straight[r]!.params, `rank ${r} parameters after resuming`);
      sameBits(resumed[r]!.ema, straight[r]!.ema, `rank ${r} EMA after resuming`);
    }
  }, 120_000);

  it('ranks passing different settings fail on every rank with an error naming the setting', async () => {
    const world = createInProcessWorld(2, { timeoutMs: 600_000 });
    const shape = { numLayers: geo.numLayers, heads: geo.heads, patchSize: geo.patchSize, eps: LN_EPS };
    const { DistributedTrainer } = await import('../../../engine/train/distributed-step.js');
    const out = await Promise.allSettled(world.map(async (t, r) => {
      const device = devices[r]!;
      const tr = DistributedTrainer.create(ProcessGroup.world(t), new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')])), shape, { zero: 1, ema: true });
      const item = makeItem(device, geo, r);
      try {
        return await tr.step([item], { ...TRAIN_OPTS, seed: r === 0 ? 5 : 6, globalBatch: 2 });
      } finally {
        tr.dispose();
        disposeItem(item);
      }
    }));
    out.forEach((o, r) => {
      expect(o.status, `rank ${r}`).toBe('rejected');
      expect(String((o as PromiseRejectedResult).reason?.message), `rank ${r}`).toMatch(/ranks disagree on the train step: rank \d has seed = \d but rank \d has \d/);
    });
    const bad = createInProcessWorld(1, { timeoutMs: 600_000 });
    const tr = DistributedTrainer.create(ProcessGroup.world(bad[0]!), new Map([...host].map(([k, h]) => [k, Tensor.from(devices[0]!, h.data, h.shape, 'f32')])), shape, { zero: 0, ema: true });
    const item = makeItem(devices[0]!, geo, 0);
    await expect(tr.step([item], { ...TRAIN_OPTS, globalBatch: 3 })).rejects.toThrow(/a global batch of 3 over 1 ranks gives rank 0 items \[0, 3\) \(3\), but it was passed 1/);
    tr.dispose();
    disposeItem(item);
    expect(() => DistributedTrainer.create(ProcessGroup.world(createInProcessWorld(1)[0]!), new Map(), shape, { zero: 0 })).toThrow(/no parameters/);
  }, 120_000);
});
