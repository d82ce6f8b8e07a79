// Client-side job state: the job list from GET /api/jobs merged with WebSocket events (progress, it/s, ETA,
// latest preview), with change notification. A refetch after a reconnect replaces the list but keeps the
// live extras of jobs that are still active.
import { FINAL_STATUSES, type Job, type ServerEvent } from './types.js';

export interface LiveInfo {
  its?: number;
  eta_s?: number;
  /** data: URL of the latest preview PNG. */
  preview?: string;
  previewStep?: number;
  /** A streaming long-video job: blocks in its video so far, of how many, and the video's size then. */
  blocks?: { done: number; total: number; lastFrames: { start: number; end: number }; bytes: number };
}

export class JobState {
  readonly jobs = new Map<string, Job>();
  readonly live = new Map<string, LiveInfo>();
  private listeners = new Set<(changed: Set<string>) => void>();

  onChange(fn: (changed: Set<string>) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(ids: Iterable<string>): void {
    const s = new Set(ids);
    if (s.size === 0) return;
    for (const fn of this.listeners) fn(s);
  }

  /** Newest first. */
  sorted(): Job[] {
    return [...this.jobs.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
  }

  /** Running first, then queued by position. */
  active(): Job[] {
    return [...this.jobs.values()]
      .filter((j) => j.status === 'running' || j.status === 'queued')
      .sort((a, b) => (a.status === b.status ? (a.queue_position ?? 0) - (b.queue_position ?? 0) || a.created_at.localeCompare(b.created_at) : a.status === 'running' ? -1 : 1));
  }

  /** Replaces the list with a fresh server list (after load or reconnect). */
  replaceAll(list: Job[]): void {
    const ids = new Set([...this.jobs.keys(), ...list.map((j) => j.id)]);
    this.jobs.clear();
    for (const j of list) this.jobs.set(j.id, j);
    for (const id of [...this.live.keys()]) {
      const j = this.jobs.get(id);
      if (!j || FINAL_STATUSES.includes(j.status)) this.live.delete(id);
    }
    this.emit(ids);
  }

  /**
   * Adds or replaces one job from an HTTP reply. A reply can arrive after a newer WebSocket event (e.g. the
   * 202 of a cancel after the 'cancelled' event): a final status is never replaced by a non-final one.
   */
  upsert(job: Job): void {
    const old = this.jobs.get(job.id);
    if (old && FINAL_STATUSES.includes(old.status) && !FINAL_STATUSES.includes(job.status)) return;
    this.jobs.set(job.id, job);
    this.emit([job.id]);
  }

  /** Forgets a deleted job. */
  remove(id: string): void {
    const had = this.jobs.delete(id);
    this.live.delete(id);
    if (had) this.emit([id]);
  }

  /** Adds jobs of an older page without touching the others. */
  addPage(list: Job[]): void {
    const ids: string[] = [];
    for (const j of list) {
      if (this.jobs.has(j.id)) continue;
      this.jobs.set(j.id, j);
      ids.push(j.id);
    }
    this.emit(ids);
  }

  /** Applies one server event; returns the job ids whose view changed. Unknown jobs are reported so the app fetches them. */
  apply(ev: ServerEvent): { changed: string[]; unknown: string | null } {
    if (!('jobId' in ev)) {
      if (ev.type === 'subscribed' && ev.snapshot) {
        this.upsert(ev.snapshot);
        return { changed: [ev.snapshot.id], unknown: null };
      }
      return { changed: [], unknown: null };
    }
    if (ev.type === 'deleted') {
      this.remove(ev.jobId);
      return { changed: [ev.jobId], unknown: null };
    }
    const job = this.jobs.get(ev.jobId);
    if (!job) return { changed: [], unknown: ev.jobId };
    const live = this.live.get(ev.jobId) ?? {};
    const changed = new Set<string>([ev.jobId]);
    switch (ev.type) {
      case 'queued':
        job.status = 'queued';
        job.queue_position = ev.position;
        break;
      case 'started':
        job.status = 'running';
        job.group = ev.group;
        job.queue_position = null;
        job.started_at ??= new Date().toISOString();
        // everyone behind moves up one place
        for (const other of this.jobs.values()) {
          if (other.status === 'queued' && other.queue_position !== null && other.queue_position > 0) {
            other.queue_position -= 1;
            changed.add(other.id);
          }
        }
        break;
      case 'step':
        job.status = 'running';
        job.progress = { step: ev.step, total: ev.total };
        live.its = ev.its;
        live.eta_s = ev.eta_s;
        break;
      case 'block':
        live.blocks = { done: ev.block + 1, total: ev.blocks, lastFrames: ev.frames, bytes: ev.bytes };
        break;
      case 'preview':
        live.preview = `data:image/png;base64,${ev.data}`;
        live.previewStep = ev.step;
        break;
      case 'finished':
        job.status = 'succeeded';
        job.outputs = ev.outputs;
        job.progress = { step: job.progress.total || job.request.steps, total: job.progress.total || job.request.steps };
        job.finished_at = new Date().toISOString();
        break;
      case 'failed':
        job.status = 'failed';
        job.error = ev.error;
        job.finished_at = new Date().toISOString();
        break;
      case 'cancelled':
        if (job.status === 'queued' && job.queue_position !== null) {
          for (const other of this.jobs.values()) {
            if (other.status === 'queued' && other.queue_position !== null && other.queue_position > job.queue_position) {
              other.queue_position -= 1;
              changed.add(other.id);
            }
          }
        }
        job.queue_position = null;
        job.status = 'cancelled';
        job.finished_at = new Date().toISOString();
        break;
      case 'interrupted':
        job.status = 'interrupted';
        job.error = ev.error;
        job.finished_at = new Date().toISOString();
        break;
    }
    this.live.set(ev.jobId, live);
    this.emit(changed);
    return { changed: [...changed], unknown: null };
  }
}
