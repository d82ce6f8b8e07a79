import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { findFreePort, launchLocal, type LaunchedWorld } from '../../../engine/distributed/launch.js';
import { connectSocketWorld } from '../../../engine/distributed/rendezvous.js';
import type { SuiteResult } from './collective-cases.js';
import type { ScenarioArgs } from './rank-scenarios.js';

const script = new URL('./socket-rank.ts', import.meta.url).pathname;
const live: LaunchedWorld[] = [];

afterEach(() => {
  for (const w of live.splice(0)) w.killAll('SIGKILL');
});

interface RankReport {
  rank: number;
  /** When the report was written (ms since epoch). */
  t: number;
  ok: boolean;
  kind?: string;
  result?: SuiteResult | string;
  error?: string;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port }, () => s.close(() => resolve(true)));
  });
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function launch(n: number, transport: 'unix' | 'tcp', args: ScenarioArgs & { timeoutMs: number }) {
  const t0 = Date.now();
  const world = await launchLocal({
    nproc: n,
    script,
    transport,
    stdio: 'pipe',
    graceMs: 1000,
    env: { PARALLAX_TEST_ARGS: JSON.stringify(args) },
  });
  live.push(world);
  const out = world.children.map(() => '');
  const err = world.children.map(() => '');
  world.children.forEach((c, r) => {
    c.stdout!.on('data', (d: Buffer) => (out[r] += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err[r] += d.toString()));
  });
  const res = await world.done;
  const lines = out.map((o) => o.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RankReport & { faultAt?: number }));
  const reports: (RankReport | null)[] = lines.map((ls) => ls.find((l) => l.faultAt === undefined) ?? null);
  const faultAt = lines.flat().find((l) => l.faultAt !== undefined)?.faultAt;
  // every surviving rank reported within a few seconds of the fault
  const latency = faultAt === undefined ? 0 : Math.max(...reports.map((r) => (r ? r.t - faultAt : 0)));
  // cleanup checks: no child alive, rendezvous port free again
  expect(world.children.some((c) => alive(c.pid))).toBe(false);
  expect(await portIsFree(world.masterPort)).toBe(true);
  return { res, reports, stderr: err, ms: Date.now() - t0, latency };
}

describe('socket transport (one process per rank)', () => {
  for (const transport of ['unix', 'tcp'] as const) {
    for (const n of [1, 2, 3, 4]) {
      it(`${transport}: all collectives, ${n} rank(s)`, async () => {
        const { res, reports, stderr } = await launch(n, transport, { scenario: 'suite', seed: 7 * n, faulty: -1, timeoutMs: 20_000, bigLength: 300_001 });
        expect(res.failedRank, stderr.join('\n')).toBe(-1);
        expect(reports.every((r) => r?.ok)).toBe(true);
        if (n > 1) expect(reports.every((r) => r!.kind === transport)).toBe(true);
        const results = reports.map((r) => r!.result as SuiteResult);
        expect(new Set(results.map((r) => r.allReduceHash)).size).toBe(1);
        expect(new Set(results.map((r) => r.bigHash)).size).toBe(1);
      });
    }
  }

  it('tcp: a rank killed mid-collective (SIGKILL) fails every other rank', async () => {
    const { res, reports, latency } = await launch(3, 'tcp', { scenario: 'exit', seed: 1, faulty: 1, timeoutMs: 20_000 });
    expect(latency).toBeLessThan(4000);
    expect(res.signals[1]).toBe('SIGKILL');
    // both lost rank 1, directly or by the other's word: the same root cause
    for (const r of [0, 2]) {
      expect(reports[r]!.ok).toBe(false);
      expect(reports[r]!.error).toMatch(new RegExp(`^allToAll on group sp\\[0,1,2\\] \\(rank ${r}\\): peer rank 1 closed the connection$`));
    }
  });

  it('unix: a dropped socket fails every rank', async () => {
    const { reports, latency } = await launch(3, 'unix', { scenario: 'drop', seed: 1, faulty: 2, timeoutMs: 20_000 });
    expect(latency).toBeLessThan(4000);
    for (const r of reports) expect(r!.ok).toBe(false);
    // Rank 0 sees the drop on receive or on send: one event, one reason. Rank 1 gets the reasons ranks 0 and 2
    // publish and reports the lowest rank's: the lost rank 2 (a relayed lost peer is the root cause itself). Rank 2,
    // which dropped the link, sees rank 0 closing it.
    expect(reports[0]!.error).toMatch(/^(allReduce|allToAll) on group sp\[0,1,2\] \(rank 0\): peer rank 2 closed the connection$/);
    expect(reports[1]!.error).toMatch(/^\w+ on group sp\[0,1,2\] \(rank 1\): peer rank 2 closed the connection$/);
    expect(reports[2]!.error).toMatch(/^\w+ on group sp\[0,1,2\] \(rank 2\): peer rank 0 closed the connection$/);
  });

  it('tcp: garbage bytes fail every rank with a malformed-message error', async () => {
    const { reports, latency } = await launch(3, 'tcp', { scenario: 'garbage', seed: 1, faulty: 0, timeoutMs: 20_000 });
    expect(latency).toBeLessThan(4000);
    for (const r of reports) expect(r!.ok).toBe(false);
    expect(reports[1]!.error).toMatch(/^(allReduce|allToAll) on group sp\[0,1,2\] \(rank 1\): malformed message from rank 0: bad magic 0x5a5a5a5a/);
    for (const r of [0, 2]) {
      expect(reports[r]!.error).toMatch(new RegExp(`^\\w+ on group sp\\[0,1,2\\] \\(rank ${r}\\): rank 1 aborted: malformed message from rank 0: bad magic 0x5a5a5a5a`));
    }
  });

  it('unix: a rank that never arrives times out everywhere; the launcher ends it', async () => {
    const { res, reports, latency } = await launch(3, 'unix', { scenario: 'absent', seed: 1, faulty: 2, timeoutMs: 20_000, faultTimeoutMs: 500 });
    expect(latency).toBeLessThan(4000);
    expect(res.signals[2]).toBe('SIGTERM');
    expect(reports[0]!.error! + reports[1]!.error!).toMatch(/timed out after 500 ms waiting for a message from rank 2/);
  });

  it('rendezvous: a missing rank fails the others with a clear error and frees the port', async () => {
    const port = await findFreePort();
    const t0 = Date.now();
    const res = await Promise.allSettled(
      [0, 1].map((rank) => connectSocketWorld({ rank, size: 3, masterAddr: '127.0.0.1', masterPort: port, mode: 'tcp', rendezvousTimeoutMs: 600 })),
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    const msgs = res.map((r) => (r.status === 'rejected' ? String(r.reason.message) : 'connected'));
    expect(msgs[0]).toMatch(/^socket rendezvous \(rank 0 of 3, MASTER_ADDR=127.0.0.1:\d+\): timed out .* for ranks 2 to register/);
    expect(msgs[1]).toMatch(/^socket rendezvous \(rank 1 of 3/);
    expect(await portIsFree(port)).toBe(true);
  });

  it('in one process: a stray client on MASTER_PORT is ignored, then ranks talk over unix sockets', async () => {
    const port = await findFreePort();
    const stray = net.createConnection({ host: '127.0.0.1', port });
    stray.on('error', () => {});
    const pending = [0, 1].map((rank) => connectSocketWorld({ rank, size: 2, masterAddr: '127.0.0.1', masterPort: port, mode: 'auto', timeoutMs: 3000 }));
    setTimeout(() => stray.write('GET / HTTP/1.0\r\n\r\n'), 50);
    const ts = await Promise.all(pending);
    expect(ts.map((t) => t.kind)).toEqual(['unix', 'unix']);
    const [a, b] = await Promise.all(ts.map((t) => ProcessGroup.world(t).allGather(new Float32Array([t.rank + 0.5]))));
    expect(a!.map((x) => x[0])).toEqual([0.5, 1.5]);
    expect(b!.map((x) => x[0])).toEqual([0.5, 1.5]);
    await Promise.all(ts.map((t) => t.close()));
    stray.destroy();
    expect(await portIsFree(port)).toBe(true);
  });
});
