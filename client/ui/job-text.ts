// Short human descriptions of a job: settings summary line (long-video options included), status label, and the
// progress line (per block for DualParal).
import type { LiveInfo } from '../store.js';
import type { Job, JobRequest } from '../types.js';
import { plural } from './dom.js';

export function settingsLine(r: JobRequest): string {
  return `${r.width}×${r.height} · ${plural(r.frames, 'frame')} @ ${r.fps} fps · ${plural(r.steps, 'step')} · cfg ${r.guidance} (${r.guidance_mode}) · seed ${r.seed}${longLine(r)}`;
}

/** " · DualParal B 8 + C 4" / " · clip parallelism (window=4)" for a long-video job, else "". */
export function longLine(r: Pick<JobRequest, 'long' | 'block_frames' | 'context_frames' | 'dual_scope'>): string {
  if (r.long === 'dualparal') return ` · DualParal B ${r.block_frames ?? 8} + C ${r.context_frames ?? 4}`;
  if (r.long === 'clip-parallel') return ` · clip parallelism${r.dual_scope ? ` (${r.dual_scope})` : ''}`;
  return '';
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

/**
 * "Step 3/12" or, for a DualParal job (steps counted per block step), "Step 7/12 · block 2/3 in the video (frames 3-4)".
 */
export function progressText(job: Pick<Job, 'progress' | 'request'>, live: Pick<LiveInfo, 'blocks'>): string {
  const total = job.progress.total || job.request.steps;
  const step = `Step ${job.progress.step}/${total}`;
  if (job.request.long !== 'dualparal') return step;
  const b = live.blocks;
  return b ? `${step} · block ${b.done}/${b.total} in the video (frames ${b.lastFrames.start}-${b.lastFrames.end - 1})` : `${step} · no block finished yet`;
}
