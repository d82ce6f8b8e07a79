// Bounded load on 127.0.0.1: 50 concurrent clients submit, poll, list and cancel for a few seconds against
// 4 fake GPU groups. Checks: no 5xx, no lost or duplicated jobs or runs, consistent final states, exactly one
// terminal event per job on the WebSocket feed, bounded heap growth.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEvents, startTestServer, waitFor, type TestServer } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CLIENTS = 50;
const DURATION_MS = 3000;

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ groups: 4, fake: { msPerStep: 1, previewEvery: 2 }, maxQueuedPerClient: 10_000, maxQueuedTotal: 10_000, previewIntervalMs: 20 });
});
afterAll(async () => {
  await t.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('load', () => {
  it(`${CLIENTS} clients for ${DURATION_MS} ms: no 5xx, nothing lost or duplicated, states consistent`, async () => {
    const { ws, messages } = await openEvents(t.server.url, '?all=1');
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const statuses = new Map<number, number>();
    const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);
    const created: string[] = [];
    const cancelOutcome = new Map<string, number>();
    let seed = 0;
    const deadline = Date.now() + DURATION_MS;

    async function client(c: number) {
      while (Date.now() < deadline) {
        const body = { prompt: `load client ${c}`, steps: 1 + Math.floor(Math.random() * 8), frames: 1 + Math.floor(Math.random() * 3), width: 64, height: 64, seed: seed++ };
        const r = await t.api('/api/jobs', { method: 'POST', json: body });
        count(r.status);
        const j = await r.json();
        if (r.status !== 201) continue;
        created.push(j.id);
        if (Math.random() < 0.3) {
          await sleep(Math.random() * 10);
          const cr = await t.api(`/api/jobs/${j.id}/cancel`, { method: 'POST' });
          count(cr.status);
          await cr.body?.cancel();
          cancelOutcome.set(j.id, cr.status);
        }
        for (;;) {
          const g = await t.api(`/api/jobs/${j.id}`, { auth: false });
          count(g.status);
          const cur = await g.json();
          if (!['queued', 'running'].includes(cur.status)) break;
          if (Math.random() < 0.1) {
            const l = await t.api('/api/jobs?limit=20', { auth: false });
            count(l.status);
            await l.body?.cancel();
          }
          await sleep(5 + Math.random() * 15);
        }
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));

    const fiveXX = [...statuses].filter(([s]) => s >= 500);
    expect(fiveXX).toEqual([]);
    expect(new Set(created).size).toBe(created.length);
    expect(created.length).toBeGreaterThanOrEqual(CLIENTS); // every client submits at least once

    // Every job in the DB was created by a client, and each is final.
    const counts = t.server.store.counts();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    expect(total).toBe(created.length);
    expect(counts.queued + counts.running + counts.failed + counts.interrupted).toBe(0);

    // No job ran twice; every started job was run by exactly one generator call.
    const calls = t.fakes.flatMap((f) => f.calls.map((c) => c.seed));
    expect(new Set(calls).size).toBe(calls.length);
    const started = created.filter((id) => t.server.store.get(id)!.startedAt !== null).length;
    expect(calls.length).toBe(started);

    for (const id of created) {
      const job = t.server.store.get(id)!;
      const oc = cancelOutcome.get(id);
      if (oc === 200) expect(job.status).toBe('cancelled');
      if (oc === 200) expect(job.startedAt).toBeNull();
      if (oc === undefined || oc === 409) expect(job.status).toBe('succeeded');
      if (job.status === 'succeeded') {
        expect(job.step).toBe(job.totalSteps);
        expect(existsSync(join(t.dataDir, job.outputs!.video))).toBe(true);
        expect(job.outputs!.frames).toHaveLength(job.request.frames);
      }
    }

    // Exactly one terminal event per job over the WebSocket.
    await waitFor(() => messages.filter((m) => ['finished', 'cancelled'].includes(m.type)).length >= created.length, "terminal events", 15000);
    const terminal = messages.filter((m) => ['finished', 'failed', 'cancelled', 'interrupted'].includes(m.type)).map((m) => m.jobId);
    expect(terminal.length).toBe(created.length);
    expect(new Set(terminal)).toEqual(new Set(created));
    ws.close();

    messages.length = 0;
    gc();
    const growthMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    console.log(`load: ${created.length} jobs, ${[...statuses].map(([s, n]) => `${s}x${n}`).join(' ')}, heap growth ${growthMiB.toFixed(1)} MiB`);
    expect(growthMiB).toBeLessThan(64);
  });
});
