// Data-parallel / ZeRO training (engine/train/distributed-step.ts) on other transports and under failures, on the
// tests' tiny 2-layer checkpoint: ZeRO 3 over shared-memory worker threads gives the in-process ZeRO 0 run's bits; a
// rank whose step throws (bad input) or whose transport vanishes (like a killed process) mid-step ends every rank with
// an error naming it, in-process (ZeRO 0, 1, 3) and over shm (ZeRO 2). The receive timeout is 10 minutes, so only
// the abort can end the other ranks within a test's timeout: no test waits for a timeout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { runWorkers, WorldError } from '../../../engine/distributed/shm-launcher.js';
import { Device } from '../../../engine/gpu/device.js';
import type { ZeroStage } from '../../../engine/train/distributed-step.js';
import { differingTensors, runTrainRank, tinySetup, TRAIN_OPTS, type Geometry, type HostWeights, type RankArgs, type RankOut } from './dist-train-rank.js';

let devices: Device[];
let dir: string;
let host: HostWeights;
let geo: Geometry;

beforeAll(async () => {
  devices = await Device.createMany(3, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-dist-fail-'));
  ({ host, geo } = await tinySetup(dir, 42));
}, 120_000);

afterAll(() => {
  devices?.forEach((d) => d.destroy());
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const args = (K: number, zero: ZeroStage, extra: Partial<RankArgs> = {}): RankArgs => ({ geo, K, steps: 2, zero, opts: TRAIN_OPTS, ...extra });

function runInProcess(N: number, a: RankArgs): Promise<PromiseSettledResult<RankOut>[]> {
  const world = createInProcessWorld(N, { timeoutMs: 600_000 });
  return Promise.allSettled(world.map((t, r) => runTrainRank(ProcessGroup.world(t), devices[r]!, a, host)));
}

describe('distributed training on shm and under failures', () => {
  it('shared-memory worker threads, ZeRO 3 on 2 ranks (batch 3): the same bits as the in-process ZeRO 0 run', async () => {
    const a = args(3, 0);
    const ref = (await runInProcess(2, a)).map((r, i) => {
      if (r.status === 'rejected') throw new Error(`in-process rank ${i} failed: ${String(r.reason)}`);
      return r.value;
    });
    const outs = await runWorkers<RankArgs, RankOut>(2, new URL('./dist-train-rank.ts', import.meta.url), { ...a, zero: 3, dir }, { timeoutMs: 600_000, ringBytes: 1 << 20 });
    outs.forEach((o, r) => {
      expect(o.losses, `shm rank ${r} losses`).toEqual(ref[0]!.losses);
      expect(differingTensors(o.params, ref[0]!.params), `shm ZeRO 3 rank ${r}: parameters differing in any bit`).toEqual([]);
      expect(differingTensors(o.ema, ref[0]!.ema), `shm ZeRO 3 rank ${r}: EMA tensors differing in any bit`).toEqual([]);
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
