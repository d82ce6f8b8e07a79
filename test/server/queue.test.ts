// JobQueue without HTTP: one job per group, FIFO order, cancellation (queued now, running at a step
// boundary), per-client and global limits, failures and shutdown.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobStore } from '../../server/db.js';
import { FakeGenerator, type FakeGeneratorOptions } from '../../server/fake-generator.js';
import type { GenerateHooks, GenerateResult, Generator } from '../../server/generator.js';
import { JobQueue, QueueLimitError, type QueueEvent } from '../../server/queue.js';
import { DEFAULT_LIMITS, parseJobRequest, type JobRequest } from '../../server/schema.js';
import { waitFor } from './helpers.js';

let dir: string;
let store: JobStore;
let queue: JobQueue | null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobqueue-'));
  store = new JobStore(join(dir, 'db.sqlite'));
  queue = null;
});
afterEach(async () => {
  await queue?.stop();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function request(body: Record<string, unknown> = {}): JobRequest {
  const r = parseJobRequest({ prompt: 'x', steps: 4, frames: 2, width: 64, height: 64, ...body }, DEFAULT_LIMITS, () => 3);
  if (!r.ok) throw new Error('bad test request');
  return r.value;
}

/** Wraps FakeGenerator and records concurrency per generator. */
class CountingGenerator implements Generator {
  active = 0;
  maxActive = 0;
  order: number[] = [];
  private inner: FakeGenerator;
  constructor(opts: FakeGeneratorOptions) {
    this.inner = new FakeGenerator(opts);
  }
  async generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    this.order.push(req.seed);
    try {
      return await this.inner.generate(req, hooks);
    } finally {
      this.active--;
    }
  }
}

function makeQueue(generators: Generator[], limits: { perClient?: number; total?: number } = {}) {
  const events: QueueEvent[] = [];
  queue = new JobQueue({
    store,
    generators,
    dataDir: dir,
    maxQueuedPerClient: limits.perClient ?? 1000,
    maxQueuedTotal: limits.total ?? 1000,
    logger: pino({ level: 'silent' }),
    stopTimeoutMs: 2000,
  });
  queue.on((e) => events.push(e));
  queue.start();
  return { q: queue, events };
}

const isFinal = (id: string) => ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(store.get(id)!.status);

describe('JobQueue', () => {
  it('runs one job per group at a time, in FIFO order, all succeed', async () => {
    const gens = [0, 1, 2].map(() => new CountingGenerator({ msPerStep: 1 }));
    const { q, events } = makeQueue(gens);
    const n = 3 + Math.floor(Math.random() * 10);
    const ids = Array.from({ length: n }, (_, i) => q.submit(request({ seed: i }), 'c').id);
    await waitFor(() => ids.every(isFinal), 'all jobs final');
    for (const g of gens) expect(g.maxActive).toBe(1);
    // Start order over all groups is submission order.
    const starts = events.filter((e) => e.type === 'started').map((e) => e.jobId);
    expect(starts).toEqual(ids);
    for (const id of ids) expect(store.get(id)?.status).toBe('succeeded');
    expect(gens.reduce((s, g) => s + g.order.length, 0)).toBe(n);
    // Per job: started, then steps 1..n, then finished.
    for (const id of ids) {
      const mine = events.filter((e) => e.jobId === id && e.type !== 'preview').map((e) => (e.type === 'step' ? `step${e.step}` : e.type));
      expect(mine).toEqual(['queued', 'started', 'step1', 'step2', 'step3', 'step4', 'finished']);
    }
  });

  it('cancels queued jobs at once and a running job at its next step', async () => {
    const { q, events } = makeQueue([new FakeGenerator({ msPerStep: 5 })]);
    const a = q.submit(request({ steps: 500 }), 'c');
    const b = q.submit(request(), 'c');
    expect(q.position(b.id)).toBe(0);
    const rb = q.cancel(b.id);
    expect(rb.outcome).toBe('cancelled');
    expect(store.get(b.id)?.status).toBe('cancelled');
    await waitFor(() => store.get(a.id)!.step >= 2, 'a to make progress');
    const ra = q.cancel(a.id);
    expect(ra.outcome).toBe('cancelling');
    expect(q.isCancelRequested(a.id)).toBe(true);
    await waitFor(() => store.get(a.id)?.status === 'cancelled', 'a cancelled');
    const stepAtCancel = store.get(a.id)!.step;
    expect(stepAtCancel).toBeLessThan(500);
    expect(q.cancel(a.id).outcome).toBe('already_final');
    expect(q.cancel('nope').outcome).toBe('not_found');
    expect(events.filter((e) => e.type === 'cancelled').map((e) => e.jobId)).toEqual([b.id, a.id]);
    expect(events.some((e) => e.jobId === b.id && e.type === 'started')).toBe(false);
  });

  it('enforces per-client and total queued limits', async () => {
    const { q } = makeQueue([new FakeGenerator({ msPerStep: 50 })], { perClient: 2, total: 4 });
    q.submit(request({ steps: 100 }), 'a'); // starts running at once, so it does not count as queued
    await waitFor(() => store.counts().running === 1, 'first job running');
    q.submit(request(), 'a');
    q.submit(request(), 'a');
    expect(() => q.submit(request(), 'a')).toThrow(QueueLimitError);
    try {
      q.submit(request(), 'a');
    } catch (e) {
      expect((e as QueueLimitError).httpStatus).toBe(429);
    }
    q.submit(request(), 'b');
    q.submit(request(), 'c');
    try {
      q.submit(request(), 'd');
      throw new Error('expected queue full');
    } catch (e) {
      expect((e as QueueLimitError).httpStatus).toBe(503);
    }
  });

  it('records generator failures and keeps going', async () => {
    const { q } = makeQueue([new FakeGenerator({ msPerStep: 0, shouldFail: (r) => r.seed === 1 })]);
    const a = q.submit(request({ seed: 1 }), 'c');
    const b = q.submit(request({ seed: 2 }), 'c');
    await waitFor(() => isFinal(a.id) && isFinal(b.id), 'both final');
    expect(store.get(a.id)).toMatchObject({ status: 'failed', outputs: null });
    expect(store.get(a.id)?.error).toMatch(/simulated failure/);
    expect(store.get(b.id)?.status).toBe('succeeded');
  });

  it('reports it/s and ETA from the step rate, not diluted by setup time before step 1', async () => {
    const slowStart: Generator = {
      async generate(req, hooks) {
        await new Promise((r) => setTimeout(r, 500)); // "load weights"
        for (let s = 1; s <= req.steps; s++) {
          await new Promise((r) => setTimeout(r, 5));
          hooks.onStep(s, req.steps);
        }
        return new FakeGenerator({ msPerStep: 0 }).generate({ ...req, steps: 1 }, { ...hooks, onStep: () => {} });
      },
    };
    const { q, events } = makeQueue([slowStart]);
    const t0 = Date.now();
    const a = q.submit(request({ steps: 12 }), 'c');
    await waitFor(() => isFinal(a.id), 'final');
    const steps = events.filter((e) => e.type === 'step');
    const last = steps.at(-1)!;
    const mid = steps[5];
    if (last.type !== 'step' || mid.type !== 'step') throw new Error('unreachable');
    const naive = 12 / ((Date.now() - t0) / 1000);
    expect(last.its).toBeGreaterThan(2 * naive);
    expect(last.eta_s).toBe(0);
    // ETA at step 6 ~ remaining steps / rate.
    expect(mid.eta_s).toBeCloseTo((12 - 6) / mid.its, 6);
  });

  it('fails a job whose generator returns paths outside its directory', async () => {
    const evil: Generator = {
      async generate(_req, hooks) {
        hooks.onStep(1, 1);
        return { videoPath: '../../../etc/passwd', framePaths: [], sidecar: {} };
      },
    };
    const { q } = makeQueue([evil]);
    const a = q.submit(request(), 'c');
    await waitFor(() => isFinal(a.id), 'final');
    expect(store.get(a.id)?.status).toBe('failed');
    expect(store.get(a.id)?.error).toMatch(/outside the job directory/);
  });

  it('stop() interrupts running jobs, even a generator that ignores abort, and leaves queued jobs queued', async () => {
    let release: () => void = () => {};
    const stubborn: Generator = {
      generate: () => new Promise((res) => (release = () => res({ videoPath: 'x', framePaths: [], sidecar: {} }))),
    };
    const events: QueueEvent[] = [];
    queue = new JobQueue({ store, generators: [stubborn], dataDir: dir, maxQueuedPerClient: 10, maxQueuedTotal: 10, logger: pino({ level: 'silent' }), stopTimeoutMs: 50 });
    queue.on((e) => events.push(e));
    queue.start();
    const a = queue.submit(request(), 'c');
    const b = queue.submit(request(), 'c');
    await queue.stop();
    expect(store.get(a.id)?.status).toBe('interrupted');
    expect(store.get(b.id)?.status).toBe('queued');
    expect(events.filter((e) => e.type === 'interrupted').map((e) => e.jobId)).toEqual([a.id]);
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(store.get(a.id)?.status).toBe('interrupted'); // late result dropped
    expect(() => queue!.submit(request(), 'c')).toThrow(/shutting down/);
  });
});
