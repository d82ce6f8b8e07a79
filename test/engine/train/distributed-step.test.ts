// Data-parallel and ZeRO training (engine/train/distributed-step.ts) against one rank: a 2-layer make-tiny checkpoint
// (D = 8, 2 heads; 2 frames of 4x4 latents, 3 text tokens), 2 optimizer steps with AdamW (weight decay), clipping
// and EMA. N ranks run as async tasks in this process (in-process transport, one Dawn device each), one case over
// shared-memory worker threads. Checked: DP with one item per rank equals trainStep on the whole batch bit for bit
// (the same summation order); uneven batches (5 items over 2 and 3 ranks) within 1e-6; ZeRO 0/1/2/3 give the same
// bits as each other on 2, 3 (uneven blocks: [1, 1, 0] + the non-block unit) and 4 ranks (a rank owning nothing);
// ZeRO's per-rank memory falls with the stage; a rank failing mid-step ends every rank with an error naming it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { runWorkers, WorldError } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { LN_EPS } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import type { ZeroStage } from '../../../engine/train/distributed-step.js';
import { TrainState, trainStep } from '../../../engine/train/train-step.js';
import { batchShare, zeroLayout } from '../../../engine/train/zero-layout.js';
import { disposeItem, loadHost, makeItem, runTrainRank, TRAIN_OPTS, type Geometry, type HostWeights, type RankArgs, type RankOut } from './dist-train-rank.js';

const MAX_RANKS = 4;
const STEPS = 2;
let devices: Device[];
let dir: string;
let host: HostWeights;
let geo: Geometry;

beforeAll(async () => {
  devices = await Device.createMany(MAX_RANKS, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-dist-train-'));
  await makeTinyCheckpoint(dir, { seed: 41, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  host = await loadHost(dir);
  const { openCheckpoint } = await import('../../../engine/io/checkpoint.js');
  const ck = await openCheckpoint(dir);
  const cfg = ck.transformer.config as unknown as Record<string, number>;
  await ck.close();
  geo = { numLayers: 2, heads: 2, patchSize: cfg.patch_size ?? 2, C: cfg.in_channels!, J: cfg.joint_attention_dim!, P: cfg.pooled_projection_dim!, F: 2, Hl: 4, Wl: 4, Tn: 3 };
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
  expect([...a.keys()], what).toEqual([...b.keys()]);
  let differing = 0;
  const first: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k)!;
    const eq = Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength));
    if (!eq) { differing++; if (first.length < 3) first.push(k); }
  }
  expect(differing, `${what}: tensors differing in any bit (first: ${first.join(', ')})`).toBe(0);
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

describe('data parallelism reproduces one rank with the whole batch', () => {
  it('DP 4, one item per rank: losses, norms, parameters and EMA bit-identical to trainStep on the 4-item batch', async () => {
    const want = await oneRank(4);
    const outs = fulfilled(await runInProcess(4, args(4, 0)));
    outs.forEach((o, r) => {
      expect(o.losses, `rank ${r} losses`).toEqual(want.losses);
      expect(o.norms, `rank ${r} norms`).toEqual(want.norms);
      sameBits(o.params, want.params, `DP 4 rank ${r} parameters`);
      sameBits(o.ema, want.ema, `DP 4 rank ${r} EMA`);
    });
  }, 300_000);

  for (const N of [2, 3]) it(`DP ${N} with an uneven 5-item batch: within 1e-6 of one rank (the rank sums add in another order)`, async () => {
    const want = await oneRank(5);
    const outs = fulfilled(await runInProcess(N, args(5, 0)));
    for (const [r, o] of outs.entries()) {
      o.losses.forEach((l, s) => expect(Math.abs(l - want.losses[s]!) / want.losses[s]!, `rank ${r} step ${s + 1} loss`).toBeLessThan(1e-6));
      o.norms.forEach((n, s) => expect(Math.abs(n - want.norms[s]!) / want.norms[s]!, `rank ${r} step ${s + 1} norm`).toBeLessThan(1e-6));
      expect(relDiff(o.params, want.params), `rank ${r} parameters`).toBeLessThan(1e-6);
      expect(relDiff(o.ema, want.ema), `rank ${r} EMA`).toBeLessThan(1e-6);
      expect(updateRelDiff(o.params, want.params), `rank ${r} parameter updates`).toBeLessThan(1e-4);
      sameBits(o.params, outs[0]!.params, `rank ${r} against rank 0`);
    }
  }, 300_000);
});

describe('ZeRO stages 0-3 give the same bits', () => {
  const cases = [
    { N: 2, K: 2, note: 'one block and one item per rank' },
    { N: 3, K: 5, note: 'blocks [1, 1, 0] + the non-block unit on rank 2, items [2, 2, 1]' },
    { N: 4, K: 4, note: 'rank 3 owns the non-block unit, one item per rank' },
  ];
  for (const c of cases) it(`${c.N} ranks, global batch ${c.K} (${c.note})`, async () => {
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
    if (c.K === c.N) {
      const want = await oneRank(c.K);
      sameBits(ref[0]!.params, want.params, `${c.N} ranks against one rank`);
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

describe('other transports and failures', () => {
  it('shared-memory worker threads, ZeRO 3 on 2 ranks (batch 3): the same bits as the in-process ZeRO 0 run', async () => {
    const a = args(3, 0);
    const ref = fulfilled(await runInProcess(2, a));
    const outs = await runWorkers<RankArgs, RankOut>(2, new URL('./dist-train-rank.ts', import.meta.url), { ...a, zero: 3, dir }, { timeoutMs: 600_000, ringBytes: 1 << 20 });
    outs.forEach((o, r) => {
      expect(o.losses, `shm rank ${r} losses`).toEqual(ref[0]!.losses);
      sameBits(o.params, ref[0]!.params, `shm ZeRO 3 rank ${r} parameters`);
      sameBits(o.ema, ref[0]!.ema, `shm ZeRO 3 rank ${r} EMA`);
    });
  }, 300_000);

  it('shared-memory worker threads: a rank failing in step 2 (ZeRO 2, 3 ranks) fails the world, every rank naming it', async () => {
    const run = runWorkers<RankArgs, RankOut>(3, new URL('./dist-train-rank.ts', import.meta.url), { ...args(3, 2), dir, failRank: 1, failStep: 2 }, { timeoutMs: 600_000 });
    const err = await run.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorldError);
    const w = err as WorldError;
    expect(w.failedRank).toBe(1);
    expect(w.rankErrors[1]).toMatch(/data-parallel train step \(ZeRO 2\) on rank 1 of group world\[0,1,2\] failed: .*context/);
    for (const r of [0, 2]) expect(w.rankErrors[r], `rank ${r}`).toMatch(/rank 1/);
  }, 300_000);

  // The receive timeout is 10 minutes: only the abort can end the other ranks within the test's timeout.
  for (const [zero, mode] of [[0, 'throw'], [3, 'throw'], [1, 'crash'], [3, 'crash']] as const) it(`in-process, ZeRO ${zero}: rank 1 ${mode === 'throw' ? 'throwing in' : 'vanishing during'} step 2 ends every rank with an error naming it`, async () => {
    const res = await runInProcess(3, { ...args(5, zero), failRank: 1, failStep: 2, failMode: mode });
    res.forEach((r, i) => expect(r.status, `rank ${i}`).toBe('rejected'));
    const msg = res.map((r) => String((r as PromiseRejectedResult).reason?.message));
    if (mode === 'throw') expect(msg[1]).toMatch(new RegExp(`data-parallel train step \\(ZeRO ${zero}\\) on rank 1 of group world\\[0,1,2\\] failed: .*context`));
    else expect(msg[1]).toMatch(/rank 1 crashed \(simulated\)/);
    for (const r of [0, 2]) expect(msg[r], `rank ${r}`).toMatch(/rank 1/);
  }, 120_000);
});
