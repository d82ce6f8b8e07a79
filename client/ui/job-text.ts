// Short human descriptions of a job: settings summary line and status label.
import type { Job, JobRequest } from '../types.js';
import { plural } from './dom.js';

export function settingsLine(r: JobRequest): string {
  return `${r.width}×${r.height} · ${plural(r.frames, 'frame')} @ ${r.fps} fps · ${plural(r.steps, 'step')} · cfg ${r.guidance} (${r.guidance_mode}) · seed ${r.seed}`;
}

export function statusLabel(j: Job): string {
  switch (j.status) {
    case 'queued':
      return j.queue_position === null ? 'Queued' : j.queue_position === 0 ? 'Queued · next' : `Queued · #${j.queue_position + 1} in line`;
    case 'running':
      return j.cancel_requested ? 'Cancelling…' : `Running${j.group !== null ? ` on group ${j.group}` : ''}`;
    case 'succeeded':
      return 'Done';
    case 'failed':
      return 'Failed';
    case 'cancelled':
      return 'Cancelled';
    case 'interrupted':
      return 'Interrupted';
  }
}
