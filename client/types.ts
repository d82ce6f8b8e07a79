// Shapes the web app exchanges with the job server (docs/server.md): config, jobs, job requests and the
// WebSocket event messages. Only type imports come from server/ (erased at build), so the browser bundle never
// pulls Node code.

import type { GuidanceMode, JobRequest } from '../server/schema.js';
import type { ModelCard } from '../engine/io/model-card.js';

export type { GuidanceMode, JobRequest, ModelCard };
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

/** A POST /api/jobs body: like JobRequest, but the seed may be left for the server to draw. */
export type JobRequestBody = Omit<JobRequest, 'seed'> & { seed?: number };

export interface Range {
  min: number;
  max: number;
}

export interface ServerConfig {
  version: string;
  groups: number;
  limits: {
    prompt_max_chars: number;
    width: Range & { multiple_of: number };
    height: Range & { multiple_of: number };
    frames: Range;
    steps: Range;
    guidance: Range;
    fps: Range;
    seed: Range;
    max_queued_per_client?: number;
  };
  defaults: Omit<JobRequest, 'prompt' | 'seed'>;
  guidance_modes: GuidanceMode[];
  /** Long-video strategies the server takes (request field `long`); absent on older servers. */
  long_strategies?: string[];
  /**
   * Checkpoint folder exposed read-only for in-browser inference (null when the server has none), with its card
   * (name, vocabulary, recommended settings, example prompts; null when the folder has no parallax-card.json).
   */
  model?: { url: string; name: string; card?: ModelCard | null } | null;
}

export interface JobOutputs {
  video: string;
  frames: string[];
  sidecar: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  request: JobRequest;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  progress: { step: number; total: number };
  queue_position: number | null;
  cancel_requested: boolean;
  group: number | null;
  error: string | null;
  outputs: JobOutputs | null;
}

export type ServerEvent =
  | { type: 'hello'; version: string }
  | { type: 'subscribed'; job: string; snapshot?: Job }
  | { type: 'unsubscribed'; job: string }
  | { type: 'pong' }
  | { type: 'error'; error: string }
  | { type: 'queued'; jobId: string; position: number }
  | { type: 'started'; jobId: string; group: number }
  | { type: 'step'; jobId: string; step: number; total: number; its: number; eta_s: number }
  | { type: 'preview'; jobId: string; step: number; total: number; width: number; height: number; format: 'png'; data: string }
  /** A long-video job (long: 'dualparal') appended block `block` (0-based) of `blocks` to its growing MP4 (now `bytes`). */
  | { type: 'block'; jobId: string; block: number; blocks: number; frames: { start: number; end: number }; ms: number; bytes: number }
  | { type: 'finished'; jobId: string; outputs: JobOutputs }
  | { type: 'failed'; jobId: string; error: string }
  | { type: 'cancelled'; jobId: string }
  | { type: 'interrupted'; jobId: string; error: string }
  | { type: 'deleted'; jobId: string };
