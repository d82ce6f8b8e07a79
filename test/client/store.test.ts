// JobState: events move jobs through their states, queue positions shift when the head starts or a queued
// job is cancelled, late HTTP replies never undo a final state, and a refetch keeps live info of active jobs.
import { describe, expect, it } from 'vitest';
import { JobState } from '../../client/store.js';
import type { Job } from '../../client/types.js';

let n = 0;
function job(status: Job['status'], queue_position: number | null = null): Job {
  n++;
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    status,
    request: { prompt: `p${n}`, negative_prompt: '', frames: 8, width: 256, height: 144, steps: 10, guidance: 7.5, guidance_mode: 'reference', seed: n, fps: 8 },
    created_at: new Date(1_700_000_000_000 + n * 1000).toISOString(),
    started_at: null,
    finished_at: null,
    progress: { step: 0, total: 10 },
    queue_position,
    cancel_requested: false,
    group: null,
    error: null,
    outputs: null,
  };
}

describe('JobState', () => {
  it('tracks queue positions as jobs start and get cancelled', () => {
    const s = new JobState();
    const q = Array.from({ length: 5 }, (_, i) => job('queued', i));
    s.replaceAll(q);
    s.apply({ type: 'started', jobId: q[0]!.id, group: 0 });
    expect(q.map((j) => s.jobs.get(j.id)!.queue_position)).toEqual([null, 0, 1, 2, 3]);
    s.apply({ type: 'cancelled', jobId: q[2]!.id });
    expect(q.map((j) => s.jobs.get(j.id)!.queue_position)).toEqual([null, 0, null, 1, 2]);
    expect(s.active().map((j) => j.id)).toEqual([q[0]!.id, q[1]!.id, q[3]!.id, q[4]!.id]);
  });

  it('records progress, it/s, ETA and previews, then the outcome', () => {
    const s = new JobState();
    const j = job('queued', 0);
    s.replaceAll([j]);
    const seen: string[][] = [];
    s.onChange((ids) => seen.push([...ids]));
    s.apply({ type: 'started', jobId: j.id, group: 1 });
    s.apply({ type: 'step', jobId: j.id, step: 4, total: 10, its: 2.5, eta_s: 2.4 });
    s.apply({ type: 'preview', jobId: j.id, step: 4, total: 10, width: 2, height: 1, format: 'png', data: 'AAAA' });
    expect(s.jobs.get(j.id)!.progress).toEqual({ step: 4, total: 10 });
    expect(s.live.get(j.id)).toEqual({ its: 2.5, eta_s: 2.4, preview: 'data:image/png;base64,AAAA', previewStep: 4 });
    s.apply({ type: 'finished', jobId: j.id, outputs: { video: 'v', frames: ['f0'], sidecar: 's' } });
    expect(s.jobs.get(j.id)!.status).toBe('succeeded');
    expect(seen.every((ids) => ids.includes(j.id))).toBe(true);
    expect(s.apply({ type: 'step', jobId: 'unknown', step: 1, total: 2, its: 1, eta_s: 1 }).unknown).toBe('unknown');
  });

  it('never lets a late HTTP reply undo a final state', () => {
    const s = new JobState();
    const j = job('running');
    s.replaceAll([j]);
    s.apply({ type: 'cancelled', jobId: j.id });
    s.upsert({ ...j, status: 'running', cancel_requested: true });
    expect(s.jobs.get(j.id)!.status).toBe('cancelled');
  });

  it('keeps live info of active jobs across a refetch, drops it for finished ones', () => {
    const s = new JobState();
    const a = job('running');
    const b = job('running');
    s.replaceAll([a, b]);
    s.apply({ type: 'step', jobId: a.id, step: 2, total: 10, its: 1, eta_s: 8 });
    s.apply({ type: 'step', jobId: b.id, step: 2, total: 10, its: 1, eta_s: 8 });
    s.replaceAll([{ ...a }, { ...b, status: 'succeeded' }]);
    expect(s.live.has(a.id)).toBe(true);
    expect(s.live.has(b.id)).toBe(false);
    expect(s.sorted().map((x) => x.id)).toEqual([b.id, a.id]);
  });

  it('forgets deleted jobs (event or call) without fetching them, and adds older pages', () => {
    const s = new JobState();
    const a = job('succeeded');
    const b = job('running');
    s.replaceAll([a, b]);
    s.apply({ type: 'step', jobId: b.id, step: 1, total: 10, its: 1, eta_s: 9 });
    let seen: string[] = [];
    s.onChange((ids) => (seen = [...ids]));
    expect(s.apply({ type: 'deleted', jobId: a.id })).toEqual({ changed: [a.id], unknown: null });
    expect(s.jobs.has(a.id)).toBe(false);
    expect(seen).toEqual([a.id]);
    // A deletion of a job this tab never loaded is not an unknown job to fetch.
    expect(s.apply({ type: 'deleted', jobId: '00000000-0000-4000-8000-999999999999' }).unknown).toBeNull();
    s.remove(b.id);
    expect(s.live.has(b.id)).toBe(false);
    const older = [job('cancelled'), job('failed')];
    s.replaceAll([a]);
    s.addPage([{ ...a, status: 'failed' }, ...older]);
    expect(s.jobs.get(a.id)!.status).toBe('succeeded'); // the newer copy stays
    expect(s.sorted().map((x) => x.id)).toEqual([older[1]!.id, older[0]!.id, a.id]);
  });

  it('a block event records the blocks in the growing video of a running job', () => {
    const s = new JobState();
    const j = job('running');
    s.replaceAll([j]);
    s.apply({ type: 'block', jobId: j.id, block: 0, blocks: 3, frames: { start: 0, end: 3 }, ms: 120, bytes: 1500 });
    expect(s.live.get(j.id)?.blocks).toEqual({ done: 1, total: 3, lastFrames: { start: 0, end: 3 }, bytes: 1500 });
    s.apply({ type: 'block', jobId: j.id, block: 1, blocks: 3, frames: { start: 3, end: 5 }, ms: 240, bytes: 2100 });
    expect(s.live.get(j.id)?.blocks).toEqual({ done: 2, total: 3, lastFrames: { start: 3, end: 5 }, bytes: 2100 });
  });
});
