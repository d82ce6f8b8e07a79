// FIFO job queue in front of N generator groups (one running job per group), with cancellation, per-client
// limits and restart recovery. State lives in JobStore; this class only keeps the in-flight bookkeeping.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Logger } from 'pino';
import type { JobOutputs, JobRecord, JobStore } from './db.js';
import type { BlockProgress, Generator, GenerateResult, RgbaImage } from './generator.js';
import { isJobId, resolveUnder } from './paths.js';
import type { JobRequest } from './schema.js';

export type QueueEvent =
  | { type: 'queued'; jobId: string; position: number }
  | { type: 'started'; jobId: string; group: number }
  | { type: 'step'; jobId: string; step: number; total: number; its: number; eta_s: number }
  | { type: 'preview'; jobId: string; step: number; total: number; image: RgbaImage }
  | { type: 'block'; jobId: string; block: number; blocks: number; frames: { start: number; end: number }; ms: number; bytes: number }
  | { type: 'finished'; jobId: string }
  | { type: 'failed'; jobId: string; error: string }
  | { type: 'cancelled'; jobId: string }
  | { type: 'interrupted'; jobId: string; error: string }
  | { type: 'deleted'; jobId: string };

export class QueueLimitError extends Error {
  constructor(
    message: string,
    readonly httpStatus: 429 | 503,
  ) {
    super(message);
  }
}

export interface JobQueueOptions {
  store: JobStore;
  /** One generator per GPU group; jobs run one at a time per group. */
  generators: Generator[];
  /** Job outputs go to <dataDir>/jobs/<id>/. */
  dataDir: string;
  /** Max queued (not yet running) jobs per client id. */
  maxQueuedPerClient: number;
  /** Max queued jobs overall. */
  maxQueuedTotal: number;
  logger: Logger;
  /** How long stop() waits for running generators to honour the abort (default 10 s). */
  stopTimeoutMs?: number;
}

export type RemoveResult = { outcome: 'deleted' } | { outcome: 'active'; job: JobRecord } | { outcome: 'not_found' };

export type CancelResult =
  | { outcome: 'cancelled'; job: JobRecord }
  | { outcome: 'cancelling'; job: JobRecord }
  | { outcome: 'already_final'; job: JobRecord }
  | { outcome: 'not_found' };

interface Running {
  id: string;
  controller: AbortController;
  reason: 'cancel' | 'shutdown' | null;
  startedAt: number;
  firstStepAt: number | null;
  done: Promise<void>;
  /** The growing MP4 of a streaming long-video job (absolute), once its first block is in it. */
  streamPath: string | null;
}

export class JobQueue {
  private readonly pending: string[] = [];
  private readonly running: (Running | null)[];
  private readonly listeners = new Set<(e: QueueEvent) => void>();
  private started = false;
  private stopping = false;
  private previewPolicy: (jobId: string, step: number, total: number) => boolean = () => false;

  constructor(private readonly opts: JobQueueOptions) {
    if (opts.generators.length < 1) throw new Error('JobQueue: need at least one generator (one per GPU group)');
    this.running = opts.generators.map(() => null);
  }

  get groups(): number {
    return this.opts.generators.length;
  }

  /** Decides GenerateHooks.wantsPreview (set by the WebSocket hub: someone watching + throttle). */
  setPreviewPolicy(policy: (jobId: string, step: number, total: number) => boolean): void {
    this.previewPolicy = policy;
  }

  /** Subscribes to queue events; returns the unsubscribe function. */
  on(listener: (e: QueueEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: QueueEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.opts.logger.error({ err }, 'queue event listener threw');
      }
    }
  }

  /**
   * Restart recovery, then dispatch. Jobs found 'running' (the previous process died or stopped mid-job)
   * become 'interrupted' (not re-run: a job that crashed the server would crash it again, and its partial
   * outputs are unusable). Jobs found 'queued' keep their FIFO order and run normally.
   */
  start(): { interrupted: number; queued: number } {
    if (this.started) throw new Error('JobQueue.start() called twice');
    this.started = true;
    const interrupted = this.opts.store.interruptRunning(Date.now());
    // Their partial outputs are unusable: remove the folders (in the background; nothing serves them), and those
    // of jobs that ended without a video under an older version that kept them.
    for (const id of interrupted) void this.removeFiles(id);
    void this.sweepUnfinishedFolders();
    for (const j of this.opts.store.queuedJobs()) this.pending.push(j.id);
    const queued = this.pending.length;
    this.dispatch();
    return { interrupted: interrupted.length, queued };
  }

  private jobDir(id: string): string | null {
    return resolveUnder(join(this.opts.dataDir, 'jobs'), id);
  }

  /** Removes jobs/<id>/ (the id was validated as a UUID by the caller or comes from the database). */
  private async removeFiles(id: string): Promise<void> {
    const dir = this.jobDir(id);
    if (!dir || dir === join(this.opts.dataDir, 'jobs')) return;
    await rm(dir, { recursive: true, force: true }).catch((err: unknown) => this.opts.logger.warn({ err, jobId: id }, 'could not remove job files'));
  }

  /** Removes jobs/<id>/ folders of failed, cancelled and interrupted jobs (never of unknown ids or other jobs). */
  private async sweepUnfinishedFolders(): Promise<void> {
    const names = await readdir(join(this.opts.dataDir, 'jobs')).catch(() => [] as string[]);
    for (const name of names) {
      const status = isJobId(name) ? this.opts.store.get(name)?.status : undefined;
      if (status === 'failed' || status === 'cancelled' || status === 'interrupted') await this.removeFiles(name);
    }
  }

  /** Deletes a finished job: its record and its folder. Queued or running jobs must be cancelled first. */
  async remove(id: string): Promise<RemoveResult> {
    const job = this.opts.store.get(id);
    if (!job) return { outcome: 'not_found' };
    if (!this.opts.store.remove(id)) return { outcome: 'active', job };
    await this.removeFiles(id);
    this.emit({ type: 'deleted', jobId: id });
    return { outcome: 'deleted' };
  }

  /** Validated request in, queued job out. Throws QueueLimitError (429 per client, 503 overall). */
  submit(request: JobRequest, clientId: string): JobRecord {
    if (this.stopping) throw new QueueLimitError('server is shutting down', 503);
    if (this.pending.length >= this.opts.maxQueuedTotal) {
      throw new QueueLimitError(`queue is full (${this.opts.maxQueuedTotal} jobs waiting); retry later`, 503);
    }
    const mine = this.opts.store.countQueuedForClient(clientId);
    if (mine >= this.opts.maxQueuedPerClient) {
      throw new QueueLimitError(
        `too many queued jobs for this client (${mine} of ${this.opts.maxQueuedPerClient}); wait for some to start or cancel them`,
        429,
      );
    }
    const job = this.opts.store.insert(randomUUID(), request, clientId, Date.now());
    this.pending.push(job.id);
    this.emit({ type: 'queued', jobId: job.id, position: this.pending.length - 1 });
    this.dispatch();
    return this.opts.store.get(job.id)!;
  }

  /** 0-based position among queued jobs, or null if not queued. */
  position(id: string): number | null {
    const i = this.pending.indexOf(id);
    return i < 0 ? null : i;
  }

  isCancelRequested(id: string): boolean {
    return this.running.some((r) => r?.id === id && r.reason === 'cancel');
  }

  /** Queued jobs are cancelled at once; running ones at their next step boundary (event 'cancelled'). */
  cancel(id: string): CancelResult {
    const job = this.opts.store.get(id);
    if (!job) return { outcome: 'not_found' };
    const i = this.pending.indexOf(id);
    if (i >= 0) {
      this.pending.splice(i, 1);
      this.opts.store.finish(id, 'cancelled', Date.now());
      this.emit({ type: 'cancelled', jobId: id });
      return { outcome: 'cancelled', job: this.opts.store.get(id)! };
    }
    const run = this.running.find((r) => r?.id === id);
    if (run) {
      if (!run.reason) run.reason = 'cancel';
      run.controller.abort();
      return { outcome: 'cancelling', job };
    }
    return { outcome: 'already_final', job };
  }

  /** Stops dispatching, aborts running jobs (they become 'interrupted'); queued jobs stay queued on disk. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const waits: Promise<void>[] = [];
    for (const r of this.running) {
      if (!r) continue;
      if (!r.reason) r.reason = 'shutdown';
      r.controller.abort();
      waits.push(r.done);
    }
    const timeout = this.opts.stopTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((res) => (timer = setTimeout(res, timeout)))]);
    clearTimeout(timer);
    // Generators that ignored the abort: record them as interrupted now; their late result is dropped.
    for (const r of this.running) {
      if (r && this.opts.store.finish(r.id, 'interrupted', Date.now(), 'server stopped while the job was running')) {
        this.emit({ type: 'interrupted', jobId: r.id, error: 'server stopped while the job was running' });
      }
    }
  }

  private dispatch(): void {
    if (!this.started || this.stopping) return;
    for (let g = 0; g < this.running.length; g++) {
      while (this.running[g] === null && this.pending.length > 0) {
        const id = this.pending.shift()!;
        if (!this.opts.store.markRunning(id, g, Date.now())) continue;
        this.launch(g, id);
      }
    }
  }

  private launch(group: number, id: string): void {
    const run: Running = { id, controller: new AbortController(), reason: null, startedAt: Date.now(), firstStepAt: null, done: Promise.resolve(), streamPath: null };
    this.running[group] = run;
    this.emit({ type: 'started', jobId: id, group });
    run.done = this.execute(group, run).finally(() => {
      this.running[group] = null;
      this.dispatch();
    });
  }

  private async execute(group: number, run: Running): Promise<void> {
    const { store, logger } = this.opts;
    const job = store.get(run.id)!;
    const outDir = join(this.opts.dataDir, 'jobs', run.id);
    const log = logger.child({ jobId: run.id, group });
    log.info('job started');
    let result: GenerateResult;
    try {
      await mkdir(outDir, { recursive: true });
      result = await this.opts.generators[group].generate(job.request, {
        jobId: run.id,
        outDir,
        signal: run.controller.signal,
        onStep: (step, total, preview) => this.onStep(run, step, total, preview),
        wantsPreview: (step, total) => !run.controller.signal.aborted && this.previewPolicy(run.id, step, total),
        onBlock: (b) => this.onBlock(run, outDir, b),
      });
      const outputs = await this.collectOutputs(outDir, result, job);
      if (store.finish(run.id, 'succeeded', Date.now(), null, outputs)) {
        log.info({ ms: Date.now() - run.startedAt }, 'job succeeded');
        this.emit({ type: 'finished', jobId: run.id });
      } else await this.removeFiles(run.id); // recorded as interrupted by stop() while it finished
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      // A job that did not succeed keeps no files (partial frames are unusable; the error is in the record).
      await this.removeFiles(run.id);
      if (run.reason === 'cancel') {
        if (store.finish(run.id, 'cancelled', Date.now())) this.emit({ type: 'cancelled', jobId: run.id });
        log.info('job cancelled');
      } else if (run.reason === 'shutdown') {
        const error = 'server stopped while the job was running';
        if (store.finish(run.id, 'interrupted', Date.now(), error)) this.emit({ type: 'interrupted', jobId: run.id, error });
        log.info('job interrupted by shutdown');
      } else {
        if (store.finish(run.id, 'failed', Date.now(), message)) this.emit({ type: 'failed', jobId: run.id, error: message });
        log.warn({ err }, 'job failed');
      }
    }
  }

  /** The growing MP4 of a running streaming job (absolute path inside its folder), or null. */
  streamingVideo(id: string): string | null {
    return this.running.find((r) => r?.id === id)?.streamPath ?? null;
  }

  private onBlock(run: Running, outDir: string, b: BlockProgress): void {
    if (run.controller.signal.aborted) return;
    const abs = resolveUnder(outDir, b.video);
    if (!abs) {
      this.opts.logger.warn({ jobId: run.id, video: b.video }, 'generator streamed a video outside the job directory; not served');
      return;
    }
    run.streamPath = abs;
    this.emit({ type: 'block', jobId: run.id, block: b.block, blocks: b.blocks, frames: b.frames, ms: b.ms, bytes: b.bytes });
  }

  private onStep(run: Running, step: number, total: number, preview?: RgbaImage): void {
    if (run.controller.signal.aborted) return;
    this.opts.store.setProgress(run.id, step);
    // Rate over steps after the first, so one-off setup (weights, text encoders) does not skew the ETA.
    const now = Date.now();
    let its: number;
    if (run.firstStepAt === null || step <= 1) {
      run.firstStepAt ??= now;
      its = step / Math.max(1e-3, (now - run.startedAt) / 1000);
    } else {
      its = (step - 1) / Math.max(1e-3, (now - run.firstStepAt) / 1000);
    }
    const eta_s = its > 0 ? (total - step) / its : 0;
    this.emit({ type: 'step', jobId: run.id, step, total, its, eta_s });
    if (preview) this.emit({ type: 'preview', jobId: run.id, step, total, image: preview });
  }

  /** Checks the generator's paths stay in the job dir and exist, writes sidecar.json, returns dataDir-relative paths. */
  private async collectOutputs(outDir: string, result: GenerateResult, job: JobRecord): Promise<JobOutputs> {
    const toRel = async (p: string, what: string): Promise<string> => {
      const abs = resolveUnder(outDir, p);
      if (!abs) throw new Error(`generator returned ${what} path ${JSON.stringify(p)} outside the job directory ${outDir}`);
      const st = await stat(abs).catch(() => null);
      if (!st?.isFile()) throw new Error(`generator returned ${what} path ${JSON.stringify(p)} but no such file exists`);
      return relative(this.opts.dataDir, abs);
    };
    const video = await toRel(result.videoPath, 'video');
    const frames: string[] = [];
    for (const f of result.framePaths) frames.push(await toRel(f, 'frame'));
    const sidecarAbs = join(outDir, 'sidecar.json');
    const sidecar = { job_id: job.id, request: job.request, ...result.sidecar };
    await writeFile(sidecarAbs, JSON.stringify(sidecar, null, 2) + '\n');
    return { video, frames, sidecar: relative(this.opts.dataDir, sidecarAbs) };
  }
}
