// UnknownJobFetcher with JobState: a job that fails while the fetch of its first snapshot is on the wire ends
// failed in the tab (the dropped event's state comes from one more fetch), and one fetch per job is in flight.
import { describe, expect, it } from 'vitest';
import { JobState } from '../../client/store.js';
import type { Job } from '../../client/types.js';
import { UnknownJobFetcher } from '../../client/unknown-jobs.js';

const ID = '00000000-0000-4000-8000-000000000001';
function snapshot(status: Job['status'], error: string | null = null): Job {
  return {
    id: ID,
    status,
    request: { prompt: 'please FAIL', negative_prompt: '', frames: 1, width: 64, height: 64, steps: 4, guidance: 7.5, guidance_mode: 'reference', seed: 1, fps: 8 },
    created_at: new Date(1_700_000_000_000).toISOString(),
    started_at: null,
    finished_at: null,
    progress: { step: 0, total: 4 },
    queue_position: status === 'queued' ? 0 : null,
    cancel_requested: false,
    group: null,
    error,
    outputs: null,
  };
}

/** A server whose job state the test moves on, and GET /api/jobs/:id replies the test releases one by one. */
function fakeServer() {
  let current = snapshot('queued');
  const replies: Array<() => void> = [];
  const fetchJob = (id: string) => {
    expect(id).toBe(ID);
    const seen = structuredClone(current); // the server answers with the state at the time it handles the request
    return new Promise<Job>((resolve) => replies.push(() => resolve(seen)));
  };
  return {
    fetchJob,
    set(j: Job) { current = j; },
    async release() { replies.shift()!(); for (let i = 0; i < 5; i++) await Promise.resolve(); },
    get waiting() { return replies.length; },
  };
}

describe('UnknownJobFetcher', () => {
  it('refetches a job whose events arrived while its fetch was in flight: the failure is not lost', async () => {
    const state = new JobState();
    const server = fakeServer();
    const fetcher = new UnknownJobFetcher((id) => server.fetchJob(id).then((j) => state.upsert(j)));
    const deliver = (ev: Parameters<JobState['apply']>[0]) => {
      const { unknown } = state.apply(ev);
      if (unknown) fetcher.request(unknown);
    };
    server.set({ ...snapshot('running') });
    deliver({ type: 'started', jobId: ID, group: 0 }); // unknown: fetch 1 sees "running"
    expect(server.waiting).toBe(1);
    server.set(snapshot('failed', 'FakeGenerator: simulated failure at step 2'));
    deliver({ type: 'step', jobId: ID, step: 1, total: 4, its: 50, eta_s: 0.1 });
    deliver({ type: 'failed', jobId: ID, error: 'FakeGenerator: simulated failure at step 2' }); // dropped: still unknown
    expect(server.waiting).toBe(1); // one fetch per job in flight
    await server.release(); // fetch 1 answers "running"
    expect(state.jobs.get(ID)!.status).toBe('running');
    expect(server.waiting).toBe(1); // ...and the events seen meanwhile asked for one more
    await server.release();
    expect(state.jobs.get(ID)!.status).toBe('failed');
    expect(state.jobs.get(ID)!.error).toMatch(/simulated failure/);
    expect(fetcher.pending(ID)).toBe(false);
    // the POST's late reply (status queued) does not undo it
    state.upsert(snapshot('queued'));
    expect(state.jobs.get(ID)!.status).toBe('failed');
  });

  it('fetches once when no event arrives during the fetch, and again for a later unknown event', async () => {
    const server = fakeServer();
    let fetched = 0;
    const fetcher = new UnknownJobFetcher((id) => server.fetchJob(id).then(() => { fetched++; }));
    fetcher.request(ID);
    await server.release();
    expect(fetched).toBe(1);
    expect(server.waiting).toBe(0);
    fetcher.request(ID);
    expect(server.waiting).toBe(1);
    await server.release();
    expect(fetched).toBe(2);
  });

  it('keeps going after a failed fetch', async () => {
    let calls = 0;
    const fetcher = new UnknownJobFetcher(() => { calls++; return Promise.reject(new Error('network down')); });
    fetcher.request(ID);
    fetcher.request(ID);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(calls).toBe(2);
    expect(fetcher.pending(ID)).toBe(false);
  });
});
