// JobStore: schema version, state transitions (idempotent finish), FIFO listing, pagination, recovery.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobStore, SCHEMA_VERSION } from '../../server/db.js';
import { DEFAULT_LIMITS, parseJobRequest } from '../../server/schema.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jobstore-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const req = (() => {
  const r = parseJobRequest({ prompt: 'a' }, DEFAULT_LIMITS, () => 1);
  if (!r.ok) throw new Error('bad');
  return r.value;
})();

describe('JobStore', () => {
  it('creates the schema at the current user_version and reopens without migrating again', () => {
    const file = join(dir, 'db.sqlite');
    const s = new JobStore(file);
    expect(s.schemaVersion()).toBe(SCHEMA_VERSION);
    s.insert('id-1', req, 'c', 1);
    s.close();
    const s2 = new JobStore(file);
    expect(s2.get('id-1')?.request).toEqual(req);
    s2.close();
  });

  it('refuses a database from a newer version with a clear message', () => {
    const file = join(dir, 'db.sqlite');
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    expect(() => new JobStore(file)).toThrow(/newer than this server supports/);
  });

  it('runs transitions once: queued -> running -> final, finish is idempotent', () => {
    const s = new JobStore(join(dir, 'db.sqlite'));
    s.insert('a', req, 'c1', 10);
    expect(s.markRunning('a', 2, 11)).toBe(true);
    expect(s.markRunning('a', 2, 12)).toBe(false);
    s.setProgress('a', 7);
    expect(s.get('a')).toMatchObject({ status: 'running', step: 7, group: 2, startedAt: 11 });
    expect(s.finish('a', 'succeeded', 20, null, { video: 'v', frames: ['f'], sidecar: 's' })).toBe(true);
    expect(s.finish('a', 'failed', 21, 'late')).toBe(false);
    expect(s.get('a')).toMatchObject({ status: 'succeeded', finishedAt: 20, error: null, outputs: { video: 'v', frames: ['f'], sidecar: 's' } });
    s.close();
  });

  it('lists newest first with cursor pagination and status filter; counts per client', () => {
    const s = new JobStore(join(dir, 'db.sqlite'));
    const n = 23;
    for (let i = 0; i < n; i++) s.insert(`j${i}`, req, i % 2 ? 'odd' : 'even', i);
    for (let i = 0; i < n; i += 3) s.finish(`j${i}`, 'cancelled', 100);
    const seen: string[] = [];
    let before: number | undefined;
    for (;;) {
      const page = s.list({ limit: 5, before });
      if (page.length === 0) break;
      seen.push(...page.map((j) => j.id));
      before = page[page.length - 1].seq;
    }
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => `j${n - 1 - i}`));
    expect(s.list({ limit: 100, status: 'cancelled' }).map((j) => j.id)).toEqual(
      Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0).reverse().map((i) => `j${i}`),
    );
    const evenQueued = Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 0 && i % 3 !== 0).length;
    expect(s.countQueuedForClient('even')).toBe(evenQueued);
    expect(s.queuedJobs().map((j) => j.id)).toEqual(Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => `j${i}`));
    s.close();
  });

  it('interruptRunning marks only running jobs', () => {
    const s = new JobStore(join(dir, 'db.sqlite'));
    s.insert('q', req, 'c', 1);
    s.insert('r', req, 'c', 2);
    s.insert('d', req, 'c', 3);
    s.markRunning('r', 0, 4);
    s.markRunning('d', 0, 4);
    s.finish('d', 'succeeded', 5);
    expect(s.interruptRunning(9)).toEqual(['r']);
    expect(s.get('q')?.status).toBe('queued');
    expect(s.get('r')).toMatchObject({ status: 'interrupted', finishedAt: 9 });
    expect(s.get('r')?.error).toMatch(/server stopped/);
    expect(s.get('d')?.status).toBe('succeeded');
    expect(s.counts()).toEqual({ queued: 1, running: 0, succeeded: 1, failed: 0, cancelled: 0, interrupted: 1 });
    s.close();
  });

  it('remove deletes final jobs only', () => {
    const s = new JobStore(join(dir, 'db-remove.sqlite'));
    s.insert('q', req, 'c', 1);
    s.insert('r', req, 'c', 2);
    s.insert('d', req, 'c', 3);
    s.markRunning('r', 0, 4);
    s.finish('d', 'cancelled', 5);
    expect(s.remove('q')).toBe(false);
    expect(s.remove('r')).toBe(false);
    expect(s.remove('missing')).toBe(false);
    expect(s.remove('d')).toBe(true);
    expect(s.get('d')).toBeUndefined();
    expect(s.remove('d')).toBe(false);
    expect(s.list({ limit: 10 }).map((j) => j.id)).toEqual(['r', 'q']);
    s.close();
  });
});
