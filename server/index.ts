// Job server entry: startServer(opts) wires JobStore + JobQueue + REST (http.ts) + WebSocket events (ws.ts)
// on one node:http server. Used by `parallax serve` and by the tests (with FakeGenerator).
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { ModelCard } from '../engine/io/model-card.js';
import { JobStore } from './db.js';
import type { Generator } from './generator.js';
import { createHostCheck } from './host-check.js';
import { answeredEarly, createApiHandler, type ApiContext } from './http.js';
import { connectionErrorResponse } from './http-util.js';
import { createLogger, type LogLevel } from './logger.js';
import { longJobError } from './long-job.js';
import { JobQueue } from './queue.js';
import { DEFAULT_LIMITS, tightenLimits, type RequestLimits } from './schema.js';
import { resolveToken, type TokenSource } from './token.js';
import { attachEvents } from './ws.js';

export type { Generator, GenerateHooks, GenerateResult, RgbaImage } from './generator.js';
export type { JobRequest, RequestLimits } from './schema.js';
export { FakeGenerator } from './fake-generator.js';
export { latentPreview, encodeRgbaPng, SD3_LATENT_RGB_FACTORS, SD3_LATENT_RGB_BIAS } from './latent-preview.js';

export interface ServerOptions {
  /** Directory for parallax.db, the token file and jobs/<id>/ outputs (created if missing). */
  dataDir: string;
  /** One Generator per GPU group. */
  generators: Generator[];
  /** Listen address (default 127.0.0.1) and port (default 8080; 0 = ephemeral). */
  host?: string;
  port?: number;
  /** Bearer token; default $PARALLAX_TOKEN, else <dataDir>/token (generated 0600 on first start). */
  token?: string;
  /**
   * Host names the server answers besides loopback names, IP literals and `host` (DNS-rebinding protection):
   * exact names, or ".example.com" for it and its subdomains; "all" turns the check off.
   */
  allowedHosts?: string[];
  /** Extra browser origins allowed by CORS (the server's own origin is always allowed). */
  corsOrigins?: string[];
  /** Built web app to serve at / with SPA fallback (e.g. client/dist); none if omitted. */
  staticDir?: string;
  /** Checkpoint folder exposed read-only at /api/model/ with Range support (for in-browser inference); none if omitted. */
  modelDir?: string;
  /** That model's card (parallax-card.json): published in /api/config (model.card), its recommended settings become the request defaults. */
  modelCard?: ModelCard | null;
  limits?: Partial<RequestLimits>;
  maxQueuedPerClient?: number;
  maxQueuedTotal?: number;
  bodyLimitBytes?: number;
  wsMaxMessageBytes?: number;
  /** Max concurrent WebSocket connections (default 256); more get 503 at upgrade. */
  wsMaxClients?: number;
  previewIntervalMs?: number;
  logLevel?: LogLevel;
  logger?: Logger;
  /** A client must send its request headers within this many ms, else 408 (default 20000). */
  headersTimeoutMs?: number;
  /** A client must send its whole request within this many ms, else 408 (default 60000; >= headersTimeoutMs). */
  requestTimeoutMs?: number;
  /**
   * An idle keep-alive connection is closed after this many ms (default 65000: longer than the 60 s idle timeouts of
   * common reverse proxies and load balancers, so they never send a request on a connection the server is closing and
   * get a reset; Node's own 5000 is below them). 0 = never: the client closes its idle connections.
   */
  keepAliveTimeoutMs?: number;
  /** Largest request header block in bytes, else 431 (default 16384). */
  maxHeaderBytes?: number;
  /** Milliseconds close() waits for running jobs to stop before marking them interrupted (default 10000). */
  stopTimeoutMs?: number;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:43123 */
  url: string;
  port: number;
  token: string;
  tokenSource: TokenSource;
  tokenFile: string | null;
  /** Result of restart recovery at start. */
  recovered: { interrupted: number; queued: number };
  /** Stops accepting connections, interrupts running jobs, closes sockets and the database. */
  close(): Promise<void>;
  /** For tests and embedding. */
  readonly queue: JobQueue;
  readonly store: JobStore;
  readonly httpServer: Server;
}

export const SERVER_VERSION = '0.1.0';

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const dataDir = resolve(opts.dataDir);
  await mkdir(join(dataDir, 'jobs'), { recursive: true, mode: 0o700 });
  const logger = opts.logger ?? createLogger(opts.logLevel ?? 'info');
  const tok = await resolveToken(dataDir, opts.token);
  const store = new JobStore(join(dataDir, 'parallax.db'));
  const maxQueuedPerClient = opts.maxQueuedPerClient ?? 20;
  const maxQueuedTotal = opts.maxQueuedTotal ?? 1000;
  const queue = new JobQueue({ store, generators: opts.generators, dataDir, maxQueuedPerClient, maxQueuedTotal, logger, stopTimeoutMs: opts.stopTimeoutMs });
  const ctx: ApiContext = {
    store,
    queue,
    dataDir,
    token: tok.token,
    limits: () => tightenLimits({ ...DEFAULT_LIMITS, ...opts.limits }, opts.generators.map((g) => g.limits?.())),
    logger,
    corsOrigins: opts.corsOrigins ?? [],
    hostAllowed: createHostCheck(opts.host ?? '127.0.0.1', opts.allowedHosts),
    staticDir: opts.staticDir ? resolve(opts.staticDir) : null,
    modelDir: opts.modelDir ? resolve(opts.modelDir) : null,
    modelCard: opts.modelCard ?? null,
    bodyLimitBytes: opts.bodyLimitBytes ?? 64 * 1024,
    maxQueuedPerClient,
    maxQueuedTotal,
    previewIntervalMs: opts.previewIntervalMs ?? 250,
    wsMaxMessageBytes: opts.wsMaxMessageBytes ?? 4096,
    wsMaxClients: opts.wsMaxClients ?? 256,
    version: SERVER_VERSION,
    startedAt: Date.now(),
    checkRequest: (req) => longJobError(req) ?? opts.generators.map((g) => g.check?.(req) ?? null).find((m) => m !== null) ?? null,
  };
  const headersTimeout = opts.headersTimeoutMs ?? 20_000;
  const requestTimeout = Math.max(opts.requestTimeoutMs ?? 60_000, headersTimeout);
  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      maxHeaderSize: opts.maxHeaderBytes ?? 16 * 1024,
      // Node checks the two timeouts every connectionsCheckingInterval (30 s by default, so a 20 s header timeout
      // fired after up to 50 s): check often enough that they fire when configured.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
    },
    createApiHandler(ctx),
  );
  // Since Node 18 headersTimeout runs from a request's first byte, not from the connection's last response, so it
  // need not exceed keepAliveTimeout (old advice for proxies): a connection idle longer than it is still served
  // (test/server/connection-errors.test.ts), and slow headers still get 408 after headersTimeoutMs.
  server.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 65_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ err }, 'client error');
    const inResponse = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (err.code === 'ECONNRESET' || !socket.writable || inResponse || answeredEarly.has(socket)) {
      socket.destroy();
      return;
    }
    socket.end(connectionErrorResponse(err.code, { headersTimeoutMs: headersTimeout, requestTimeoutMs: requestTimeout, maxHeaderBytes: opts.maxHeaderBytes ?? 16 * 1024 }));
  });
  const hub = attachEvents(server, ctx);
  const recovered = queue.start();
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
        server.off('error', rej);
        res();
      });
    });
  } catch (err) {
    await queue.stop();
    store.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, dataDir, groups: opts.generators.length, tokenSource: tok.source, tokenFile: tok.file, recovered }, 'parallax server listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    token: tok.token,
    tokenSource: tok.source,
    tokenFile: tok.file,
    recovered,
    queue,
    store,
    httpServer: server,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((res) => server.close(() => res()));
        await queue.stop();
        await hub.close();
        server.closeAllConnections();
        await closed;
        store.close();
        logger.info('parallax server stopped');
      })()),
  };
}
