import { describe, expect, it } from 'vitest';
import { type RunWorkersOptions, startWorkers, WorldError } from '../../../engine/distributed/shm-launcher.js';
import type { SuiteResult } from './collective-cases.js';
import type { ScenarioArgs } from './rank-scenarios.js';

const rankModule = new URL('./shm-rank.ts', import.meta.url);

/** runWorkers + the check that no worker thread outlives the world. */
async function runWorkers<A, R>(n: number, url: URL, args: A, o: RunWorkersOptions): Promise<R[]> {
  const w = startWorkers<A, R>(n, url, args, o);
  try {
    return await w.done;
  } finally {
    expect(w.workers.every((x) => x.threadId === -1)).toBe(true);
  }
}
const opts = { ringBytes: 1 << 14, timeoutMs: 20_000, graceMs: 4000 };

async function expectWorldFailure(p: Promise<unknown>): Promise<WorldError> {
  const t0 = Date.now();
  const err = await p.then(
    () => {
      throw new Error('expected the world to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorldError);
  expect(Date.now() - t0).toBeLessThan(15_000); // includes worker start-up on a loaded machine
  return err as WorldError;
}

describe('shared-memory transport (worker threads)', () => {
  for (const n of [1, 2, 3, 4]) {
    it(`all collectives, ${n} rank(s), 16 KiB rings`, async () => {
      const res = await runWorkers<ScenarioArgs, SuiteResult>(n, rankModule, { scenario: 'suite', seed: 3 * n, faulty: -1 }, opts);
      expect(res.map((r) => r.rank)).toEqual([...Array(n).keys()]);
      expect(new Set(res.map((r) => r.allReduceHash)).size).toBe(1);
      expect(new Set(res.map((r) => r.bigHash)).size).toBe(1);
    });
  }

  it('a worker exiting mid-collective fails every rank with its rank and the collective', async () => {
    const err = await expectWorldFailure(runWorkers(3, rankModule, { scenario: 'exit', seed: 1, faulty: 1 }, opts));
    expect(err.failedRank).toBe(1);
    expect(err.message).toMatch(/rank 1: worker of rank 1 exited with code 7/);
    for (const r of [0, 2]) expect(err.rankErrors[r]).toMatch(/^allToAll on group sp\[0,1,2\] \(rank \d\): peer rank 1 died \(worker of rank 1 exited with code 7 before finishing\)$/);
  });

  it('terminating a hung worker fails every rank', async () => {
    const w = startWorkers(4, rankModule, { scenario: 'hang', seed: 1, faulty: 2 }, opts);
    await w.ready;
    setTimeout(() => void w.kill(2), 300);
    const err = await expectWorldFailure(w.done);
    expect(err.failedRank).toBe(2);
    for (const r of [0, 1, 3]) expect(err.rankErrors[r]).toMatch(/^(allToAll|allReduce) on group sp\[0,1,2,3\] \(rank \d\): peer rank 2 died/);
    expect(w.workers.every((x) => x.threadId === -1)).toBe(true);
  });

  it('garbage bytes in a ring fail every rank', async () => {
    const err = await expectWorldFailure(runWorkers(3, rankModule, { scenario: 'garbage', seed: 1, faulty: 0 }, opts));
    expect(err.rankErrors[1]).toMatch(/^(allReduce|allToAll) on group sp\[0,1,2\] \(rank 1\): malformed message from rank 0: bad magic 0x5a5a5a5a/);
    // Ranks 0 and 2 report rank 1's reason, the world's first failure, however they noticed it (abort flag, a peer's
    // Failed status, a blocked send): one cause everywhere.
    for (const r of [0, 2]) {
      expect(err.rankErrors[r]).toMatch(new RegExp(`^\\w+ on group sp\\[0,1,2\\] \\(rank ${r}\\): rank 1 aborted: malformed message from rank 0: bad magic 0x5a5a5a5a`));
    }
  });

  it('a rank that never arrives: peers time out, the absent one is terminated', async () => {
    const err = await expectWorldFailure(runWorkers(3, rankModule, { scenario: 'absent', seed: 1, faulty: 2, faultTimeoutMs: 400 }, { ...opts, graceMs: 500 }));
    expect(err.message).toMatch(/timed out after 400 ms waiting for a message from rank 2/);
    expect(err.rankErrors[2]).toMatch(/terminated by the launcher/);
  });
});
