// REST API routes (node:http): jobs CRUD, output files, health/config, CORS, auth, static web app with
// SPA fallback. Every failure becomes a JSON error; nothing a client sends can take the server down.
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { JOB_STATUSES, type JobRecord, type JobStore } from './db.js';
import { HttpError, readJsonBody, sendError, sendJson, serveFile } from './http-util.js';
import { hostNotAllowedMessage, type HostCheck } from './host-check.js';
import { isJobId, realpathUnder, realpathUnderModel, resolveUnder } from './paths.js';
import { QueueLimitError, type JobQueue } from './queue.js';
import type { ModelCard } from '../engine/io/model-card.js';
import { GUIDANCE_MODES, LONG_STRATEGIES, MAX_SEED, modelRequestDefaults, parseJobRequest, publishedLimits, requestDefaults, type JobRequest, type RequestLimits } from './schema.js';
import { tailGrowingFile, sendGrowingRange } from './stream-file.js';
import { bearerMatches } from './token.js';

export interface ApiContext {
  store: JobStore;
  queue: JobQueue;
  dataDir: string;
  token: string;
  /** Request limits now: the configured ones tightened by every generator's (the loaded model's) limits. */
  limits(): RequestLimits;
  logger: Logger;
  /** Host-header check against DNS rebinding (host-check.ts). */
  hostAllowed: HostCheck;
  /** Origins (scheme://host[:port]) allowed to call the API from a browser besides the server's own. */
  corsOrigins: string[];
  /** Built web app (client/dist) or null. */
  staticDir: string | null;
  /** Checkpoint folder exposed read-only at /api/model/ (Range reads for in-browser inference) or null. */
  modelDir?: string | null;
  /** The served model's card (parallax-card.json): published in /api/config; its recommended settings are the defaults. */
  modelCard?: ModelCard | null;
  bodyLimitBytes: number;
  maxQueuedPerClient: number;
  maxQueuedTotal: number;
  previewIntervalMs: number;
  wsMaxMessageBytes: number;
  wsMaxClients: number;
  version: string;
  startedAt: number;
  /** Why no generator can run a (schema-valid) request, e.g. long-video options that do not fit; null when fine. */
  checkRequest?(req: JobRequest): string | null;
}

/** Public representation of a job (GET /api/jobs/:id, list items, POST reply). */
export function jobView(job: JobRecord, queue: JobQueue) {
  const base = `/api/jobs/${job.id}`;
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    id: job.id,
    status: job.status,
    request: job.request,
    created_at: iso(job.createdAt),
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    progress: { step: job.step, total: job.totalSteps },
    queue_position: job.status === 'queued' ? queue.position(job.id) : null,
    cancel_requested: job.status === 'running' ? queue.isCancelRequested(job.id) : false,
    group: job.group,
    error: job.error,
    outputs: job.outputs
      ? {
          video: `${base}/video`,
          frames: job.outputs.frames.map((_, i) => `${base}/frames/${i}`),
          sidecar: `${base}/sidecar`,
        }
      : null,
  };
}

/** Origin of a browser request is acceptable: absent (non-browser), listed, or the server's own. */
export function originAllowed(ctx: ApiContext, req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  if (ctx.corsOrigins.includes(origin)) return true;
  const host = req.headers.host;
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

function corsHeaders(ctx: ApiContext, req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (!origin || !originAllowed(ctx, req)) return {};
  return {
    'Access-Control-Allow-Origin': origin,
    Vary: 'Origin',
    'Access-Control-Expose-Headers': 'Content-Range, Accept-Ranges, Content-Length',
  };
}

function requireAuth(ctx: ApiContext, req: IncomingMessage): void {
  if (!bearerMatches(req.headers.authorization, ctx.token)) {
    throw new HttpError(401, 'unauthorized', 'missing or wrong bearer token: send "Authorization: Bearer <token>" (printed at server start, stored in <data-dir>/token)', {}, {
      'WWW-Authenticate': 'Bearer realm="parallax"',
    });
  }
}

/** Client identity for per-client limits: the remote IP (the token is shared by all clients of a server). */
export function clientIdOf(req: IncomingMessage): string {
  return `ip:${req.socket.remoteAddress ?? 'unknown'}`;
}

const listQuery = z.strictObject({
  limit: z.coerce.number({ error: 'must be a number' }).int({ error: 'must be an integer' }).min(1, { error: 'must be >= 1' }).max(200, { error: 'must be <= 200' }).default(50),
  cursor: z
    .string()
    .regex(/^\d{1,15}$/, { error: 'must be the next_cursor value of a previous page' })
    .optional(),
  status: z.enum(JOB_STATUSES, { error: `must be one of: ${JOB_STATUSES.join(', ')}` }).optional(),
});

function zodFields(error: z.ZodError) {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ field: k, message: 'unknown parameter' })) : [{ field: i.path.map(String).join('.') || '(query)', message: i.message }],
  );
}

function getJob(ctx: ApiContext, id: string): JobRecord {
  if (!isJobId(id)) throw new HttpError(404, 'not_found', `no job ${JSON.stringify(id.slice(0, 64))}: job ids are UUIDs`);
  const job = ctx.store.get(id);
  if (!job) throw new HttpError(404, 'not_found', `no job ${id}`);
  return job;
}

function methodNotAllowed(allow: string): never {
  throw new HttpError(405, 'method_not_allowed', `method not allowed here; use ${allow}`, {}, { Allow: allow });
}

/**
 * Resolves a stored (data-dir-relative) output path of a job, following symlinks, and accepts it only inside that
 * job's own folder jobs/<id>/: a link to the token, the database or another job's files is "missing".
 */
async function jobFile(ctx: ApiContext, job: JobRecord, rel: string): Promise<string> {
  const abs = resolveUnder(ctx.dataDir, rel);
  const path = abs && (await realpathUnder(join(ctx.dataDir, 'jobs', job.id), abs));
  if (!path) throw new HttpError(404, 'not_found', `output file of job ${job.id} is missing on disk`);
  return path;
}

async function outputFile(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, job: JobRecord, rel: string, extra: Record<string, string> = {}) {
  await serveFile(req, res, await jobFile(ctx, job, rel), { ...extra, ...corsHeaders(ctx, req) });
}

/** Sidecar fields only token holders see: the model's folder as typed (it can show a home directory). */
function redactSidecar(sidecar: Record<string, unknown>): Record<string, unknown> {
  const model = sidecar.model;
  if (model === null || typeof model !== 'object' || !('path' in model)) return sidecar;
  const { path: _path, ...rest } = model as Record<string, unknown>;
  return { ...sidecar, model: rest };
}

async function sendSidecar(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, job: JobRecord): Promise<void> {
  const file = await jobFile(ctx, job, requireOutputs(job).sidecar);
  let sidecar: Record<string, unknown>;
  try {
    sidecar = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new HttpError(404, 'not_found', `sidecar of job ${job.id} is missing or unreadable on disk`);
  }
  const body = bearerMatches(req.headers.authorization, ctx.token) ? sidecar : redactSidecar(sidecar);
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(200, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    Vary: 'Authorization',
    ...corsHeaders(ctx, req),
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function requireOutputs(job: JobRecord) {
  if (!job.outputs) {
    throw new HttpError(404, 'not_ready', `job ${job.id} has no outputs (status ${job.status}); outputs exist once status is succeeded`);
  }
  return job.outputs;
}

async function routeApi(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const parts = url.pathname.split('/').filter(Boolean).slice(1); // drop 'api'
  const cors = corsHeaders(ctx, req);
  const isRead = method === 'GET' || method === 'HEAD';
  if (!isRead && !originAllowed(ctx, req)) {
    throw new HttpError(403, 'origin_not_allowed', `origin ${req.headers.origin} is not allowed; add it to the server's CORS origins`);
  }

  if (parts.length === 1 && parts[0] === 'health') {
    if (!isRead) methodNotAllowed('GET');
    sendJson(res, 200, { ok: true, version: ctx.version, uptime_s: (Date.now() - ctx.startedAt) / 1000, groups: ctx.queue.groups, jobs: ctx.store.counts() }, cors);
    return;
  }
  if (parts.length === 1 && parts[0] === 'config') {
    if (!isRead) methodNotAllowed('GET');
    const limits = ctx.limits();
    sendJson(res, 200, {
      version: ctx.version,
      groups: ctx.queue.groups,
      limits: {
        ...publishedLimits(limits),
        body_max_bytes: ctx.bodyLimitBytes,
        ws_message_max_bytes: ctx.wsMaxMessageBytes,
        max_queued_per_client: ctx.maxQueuedPerClient,
        max_queued_total: ctx.maxQueuedTotal,
      },
      defaults: requestDefaults(limits, modelRequestDefaults(ctx.modelCard)),
      guidance_modes: GUIDANCE_MODES,
      long_strategies: LONG_STRATEGIES,
      preview: { format: 'png', encoding: 'base64', min_interval_ms: ctx.previewIntervalMs },
      model: ctx.modelDir ? { url: '/api/model/', name: basename(ctx.modelDir), card: ctx.modelCard ?? null } : null,
    }, cors);
    return;
  }
  if (parts[0] === 'model') return serveModelFile(ctx, req, res, parts.slice(1), isRead, cors);
  if (parts[0] !== 'jobs') throw new HttpError(404, 'not_found', `no API endpoint ${url.pathname}`);

  if (parts.length === 1) {
    if (isRead) {
      const q = listQuery.safeParse(Object.fromEntries(url.searchParams));
      if (!q.success) throw new HttpError(400, 'invalid_query', 'invalid query parameters', { fields: zodFields(q.error) });
      const { limit, cursor, status } = q.data;
      const jobs = ctx.store.list({ limit: limit + 1, before: cursor === undefined ? undefined : Number(cursor), status });
      const page = jobs.slice(0, limit);
      const next = jobs.length > limit ? String(page[page.length - 1].seq) : null;
      sendJson(res, 200, { jobs: page.map((j) => jobView(j, ctx.queue)), next_cursor: next }, cors);
      return;
    }
    if (method !== 'POST') methodNotAllowed('GET, POST');
    requireAuth(ctx, req);
    const body = await readJsonBody(req, ctx.bodyLimitBytes);
    const parsed = parseJobRequest(body, ctx.limits(), () => randomInt(0, MAX_SEED), modelRequestDefaults(ctx.modelCard));
    if (!parsed.ok) {
      const summary = parsed.errors.map((e) => `${e.field} ${e.message}`).join('; ');
      throw new HttpError(400, 'invalid_request', `invalid job request: ${summary}`, { fields: parsed.errors });
    }
    const refused = ctx.checkRequest?.(parsed.value) ?? null;
    if (refused) throw new HttpError(400, 'invalid_request', `invalid job request: ${refused}`, { fields: [{ field: 'long', message: refused }] });
    let job: JobRecord;
    try {
      job = ctx.queue.submit(parsed.value, clientIdOf(req));
    } catch (err) {
      if (err instanceof QueueLimitError) throw new HttpError(err.httpStatus, err.httpStatus === 429 ? 'too_many_jobs' : 'queue_full', err.message, {}, { 'Retry-After': '5' });
      throw err;
    }
    sendJson(res, 201, jobView(ctx.store.get(job.id) ?? job, ctx.queue), { ...cors, Location: `/api/jobs/${job.id}` });
    return;
  }

  const id = parts[1];
  if (parts.length === 2) {
    if (isRead) {
      sendJson(res, 200, jobView(getJob(ctx, id), ctx.queue), cors);
      return;
    }
    if (method !== 'DELETE') methodNotAllowed('GET, DELETE');
    requireAuth(ctx, req);
    getJob(ctx, id);
    const r = await ctx.queue.remove(id);
    if (r.outcome === 'not_found') throw new HttpError(404, 'not_found', `no job ${id}`);
    if (r.outcome === 'active') {
      throw new HttpError(409, 'job_active', `job ${id} is ${r.job.status}; cancel it first (POST /api/jobs/${id}/cancel), then delete it`, { job: jobView(r.job, ctx.queue) });
    }
    sendJson(res, 200, { deleted: id }, cors);
    return;
  }
  if (parts.length === 3 && parts[2] === 'cancel') {
    if (method !== 'POST') methodNotAllowed('POST');
    requireAuth(ctx, req);
    return cancel(ctx, res, id, cors);
  }
  if (parts.length === 3 && parts[2] === 'video') {
    if (!isRead) methodNotAllowed('GET, HEAD');
    const job = getJob(ctx, id);
    return outputFile(ctx, req, res, job, requireOutputs(job).video, { 'Content-Type': 'video/mp4', 'Cache-Control': 'private, max-age=3600' });
  }
  if (parts.length === 3 && parts[2] === 'stream') {
    if (!isRead) methodNotAllowed('GET, HEAD');
    return streamVideo(ctx, req, res, getJob(ctx, id));
  }
  if (parts.length === 3 && parts[2] === 'sidecar') {
    if (!isRead) methodNotAllowed('GET, HEAD');
    return sendSidecar(ctx, req, res, getJob(ctx, id));
  }
  if (parts.length === 4 && parts[2] === 'frames') {
    if (!isRead) methodNotAllowed('GET, HEAD');
    const job = getJob(ctx, id);
    const frames = requireOutputs(job).frames;
    if (!/^\d{1,6}$/.test(parts[3]) || Number(parts[3]) >= frames.length) {
      throw new HttpError(404, 'not_found', `frame ${JSON.stringify(parts[3].slice(0, 32))} does not exist; job ${job.id} has frames 0..${frames.length - 1}`);
    }
    return outputFile(ctx, req, res, job, frames[Number(parts[3])], { 'Content-Type': 'image/png', 'Cache-Control': 'private, max-age=3600' });
  }
  throw new HttpError(404, 'not_found', `no API endpoint ${url.pathname}`);
}

/**
 * GET/HEAD /api/model/<path>: a file of the checkpoint folder (modelDir), read-only, Range supported, so the
 * browser reads safetensors shards with HTTP range reads (engine/io HttpFileStore). No listing; hidden
 * (dot) segments and anything resolving outside the folder (symlinks included) are 404.
 */
async function serveModelFile(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, parts: string[], isRead: boolean, cors: Record<string, string>): Promise<void> {
  if (!isRead) methodNotAllowed('GET, HEAD');
  if (!ctx.modelDir) throw new HttpError(404, 'not_found', 'no model folder is exposed: start the server with a model directory (parallax serve --model DIR)');
  let rel: string[];
  try {
    rel = parts.map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, 'bad_path', 'malformed percent-encoding in path');
  }
  if (rel.length === 0 || rel.some((p) => p.startsWith('.') || p.includes('/') || p.includes('\\') || p.includes('\0'))) {
    throw new HttpError(404, 'not_found', `no model file ${JSON.stringify(rel.join('/').slice(0, 200))}`);
  }
  const file = await realpathUnderModel(ctx.modelDir, rel.join('/'));
  if (!file || !(await isFile(file))) throw new HttpError(404, 'not_found', `no model file ${JSON.stringify(rel.join('/').slice(0, 200))} in the exposed model folder`);
  await serveFile(req, res, file, { ...cors, 'Cache-Control': 'private, max-age=3600' });
}

/**
 * GET /api/jobs/:id/stream: the video while it grows (a DualParal job appends each finished block to a fragmented
 * MP4). Running: without Range, a chunked response that follows the file until the job ends (a <video> plays it as it
 * comes); with Range "bytes=a-" or "bytes=a-b", the bytes there now (206, total "*"), for Media Source Extensions.
 * Finished: the final video, as /video. Before the first block: 404 not_ready.
 */
async function streamVideo(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, job: JobRecord): Promise<void> {
  const headers = { 'Content-Type': 'video/mp4', 'Cache-Control': 'no-store', ...corsHeaders(ctx, req) };
  const growing = job.status === 'running' ? ctx.queue.streamingVideo(job.id) : null;
  if (!growing) {
    if (job.outputs) return outputFile(ctx, req, res, job, job.outputs.video, { 'Content-Type': 'video/mp4', 'Cache-Control': 'no-store' });
    if (job.status === 'running' || job.status === 'queued') {
      throw new HttpError(404, 'not_ready', `job ${job.id} has no streamed video yet (status ${job.status}): a DualParal job (long: 'dualparal') appends each block as it leaves the queue (WebSocket event 'block'); other jobs have a video once they succeed`);
    }
    requireOutputs(job);
  }
  const running = () => ctx.store.get(job.id)?.status === 'running';
  if (req.headers.range !== undefined) return sendGrowingRange(req, res, growing!, req.headers.range, headers);
  return tailGrowingFile(req, res, growing!, running, headers);
}

function cancel(ctx: ApiContext, res: ServerResponse, id: string, cors: Record<string, string>): void {
  getJob(ctx, id);
  const r = ctx.queue.cancel(id);
  if (r.outcome === 'not_found') throw new HttpError(404, 'not_found', `no job ${id}`);
  if (r.outcome === 'already_final') {
    throw new HttpError(409, 'already_finished', `job ${id} is already ${r.job.status}; only queued or running jobs can be cancelled`, { job: jobView(r.job, ctx.queue) });
  }
  // Queued: cancelled now (200). Running: stops at the next step boundary (202), then event 'cancelled'.
  sendJson(res, r.outcome === 'cancelled' ? 200 : 202, jobView(ctx.store.get(id)!, ctx.queue), cors);
}

async function serveStatic(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') methodNotAllowed('GET, HEAD');
  if (!ctx.staticDir) throw new HttpError(404, 'not_found', `nothing at ${url.pathname} (no web app directory configured)`);
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    throw new HttpError(400, 'bad_path', 'malformed percent-encoding in path');
  }
  rel = rel.replace(/^\/+/, '');
  const file = rel === '' ? null : await realpathUnder(ctx.staticDir, rel);
  if (file && (await isFile(file))) {
    await serveFile(req, res, file, { 'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache' });
    return;
  }
  // SPA fallback: routes of the web app (no file extension) get index.html; missing assets get 404.
  if (rel !== '' && /\.[A-Za-z0-9]+$/.test(rel)) throw new HttpError(404, 'not_found', `no file ${url.pathname}`);
  const index = await realpathUnder(ctx.staticDir, 'index.html');
  if (!index) throw new HttpError(404, 'not_found', 'web app index.html missing; build the client (client/dist)');
  await serveFile(req, res, index, { 'Cache-Control': 'no-cache' });
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}

/**
 * Sockets whose request was answered before its body arrived (401, 413...): a timeout on the rest of that body is
 * not answered again ('clientError' in index.ts closes them), so the client sees one response.
 */
export const answeredEarly = new WeakSet<object>();

/** The request handler for http.createServer. */
export function createApiHandler(ctx: ApiContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const socket = req.socket;
    res.on('finish', () => {
      if (!req.complete && socket) answeredEarly.add(socket);
    });
    const started = Date.now();
    void handle(ctx, req, res)
      .catch((err: unknown) => {
        if (err instanceof HttpError) {
          sendError(res, new HttpError(err.status, err.code, err.message, err.extra, { ...err.headers, ...corsHeaders(ctx, req) }));
          if (err.status === 413) res.on('finish', () => req.destroy());
          return;
        }
        ctx.logger.error({ err, url: req.url, method: req.method }, 'unhandled error in request');
        sendError(res, new HttpError(500, 'internal', 'internal server error'));
      })
      .finally(() => {
        ctx.logger.debug({ method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - started }, 'request');
      });
  };
}

async function handle(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!ctx.hostAllowed(req.headers.host)) throw new HttpError(403, 'host_not_allowed', hostNotAllowedMessage(req.headers.host));
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    throw new HttpError(400, 'bad_path', 'malformed request URL');
  }
  if (req.method === 'OPTIONS') {
    const origin = req.headers.origin;
    if (!origin || !originAllowed(ctx, req)) throw new HttpError(403, 'origin_not_allowed', `CORS preflight from origin ${origin ?? '(none)'} is not allowed; add it to the server's CORS origins (--cors)`);
    res.writeHead(204, {
      ...corsHeaders(ctx, req),
      'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE, OPTIONS',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, Range',
      'Access-Control-Max-Age': '600',
    });
    res.end();
    return;
  }
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return routeApi(ctx, req, res, url);
  return serveStatic(ctx, req, res, url);
}

