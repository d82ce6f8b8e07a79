// The contract between the job server and whatever produces videos (the WebGPU engine, or FakeGenerator).
// The server owns the job directory and cancellation; a Generator only writes under ctx.outDir.
import type { JobRequest, RequestLimits } from './schema.js';

/** 8-bit RGBA image, row-major, width*height*4 bytes. */
export interface RgbaImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export interface GenerateHooks {
  /**
   * Called after each denoising step (step counts 1..total). `preview` is an optional cheap image of the
   * current estimate (see latentPreview in latent-preview.ts); the server throttles and encodes it.
   */
  onStep(step: number, total: number, preview?: RgbaImage): void;
  /**
   * Whether a preview for `step` would be shown (someone is watching this job and the per-job throttle
   * allows it). Check it before reading latents back to build a preview; previews sent anyway are dropped.
   */
  wantsPreview(step: number, total: number): boolean;
  /**
   * Aborted when the job is cancelled or the server shuts down. Check it at every step boundary and
   * reject (any error) once it is aborted; the server records the job as cancelled/interrupted, not failed.
   */
  signal: AbortSignal;
  /** Directory owned by this job (already created). All output paths must lie under it. */
  outDir: string;
  jobId: string;
  /**
   * Long videos that stream (DualParal): called when a block has left the queue and its frames were appended to the
   * growing MP4 at `video` (under outDir; `bytes` long at that moment). Blocks come in order.
   */
  onBlock?(b: BlockProgress): void;
}

/** One finished block of a streaming long-video job. */
export interface BlockProgress {
  /** 0-based block index and block count. */
  block: number;
  blocks: number;
  /** Video frames [start, end) of the block. */
  frames: { start: number; end: number };
  /** Milliseconds since the denoising began. */
  ms: number;
  /** The growing MP4 and its size in bytes after the block's frames were appended. */
  video: string;
  bytes: number;
}

export interface GenerateResult {
  /** Absolute or outDir-relative path of the MP4. */
  videoPath: string;
  /** Absolute or outDir-relative paths of the per-frame PNGs, in frame order. */
  framePaths: string[];
  /** Metadata stored as sidecar.json next to the outputs (request, seed, timings, model info...). */
  sidecar: Record<string, unknown>;
}

export interface Generator {
  generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult>;
  /**
   * What this generator can make (e.g. a loaded model's largest side), asked on every request and for
   * /api/config: the server accepts only requests within every generator's limits (400 naming the limit).
   */
  limits?(): Partial<RequestLimits>;
  /**
   * Why this generator cannot run a valid request (e.g. long-video options that do not fit its GPU group: the
   * `generate` command's error text), or null. Asked before a job is queued: a refusal is a 400.
   */
  check?(req: JobRequest): string | null;
}
