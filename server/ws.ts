// WebSocket progress feed at /api/events (ws): clients subscribe to one job or all ('*') and receive
// queue events as JSON; previews are throttled per job, PNG-encoded once and sent as base64.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { jobView, originAllowed, type ApiContext } from './http.js';
import { hostNotAllowedMessage } from './host-check.js';
import { encodeRgbaPng } from './latent-preview.js';
import { isJobId } from './paths.js';
import type { QueueEvent } from './queue.js';

const MAX_SUBSCRIPTIONS = 100;
const PREVIEW_SKIP_BUFFERED = 1 << 20; // skip previews to a client with >1 MiB unsent
const SLOW_CLIENT_BUFFERED = 16 << 20; // drop a client with >16 MiB unsent

const clientMessage = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), job: z.string().max(64) }),
  z.strictObject({ type: z.literal('unsubscribe'), job: z.string().max(64) }),
  z.strictObject({ type: z.literal('ping') }),
]);

interface Client {
  ws: WebSocket;
  all: boolean;
  jobs: Set<string>;
  alive: boolean;
}

export interface EventsHub {
  close(): Promise<void>;
  clientCount(): number;
}

export function attachEvents(server: Server, ctx: ApiContext): EventsHub {
  const wss = new WebSocketServer({ noServer: true, maxPayload: ctx.wsMaxMessageBytes });
  const clients = new Set<Client>();
  const lastPreview = new Map<string, number>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let path = '';
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      /* falls through to 404 */
    }
    const reject = (status: string, code: string, error: string) => {
      const body = JSON.stringify({ error, code });
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    if (!ctx.hostAllowed(req.headers.host)) return reject('403 Forbidden', 'host_not_allowed', hostNotAllowedMessage(req.headers.host));
    if (path !== '/api/events') return reject('404 Not Found', 'not_found', 'the WebSocket feed is at /api/events');
    if (!originAllowed(ctx, req)) return reject('403 Forbidden', 'origin_not_allowed', `origin ${req.headers.origin} is not allowed; add it to the server's CORS origins`);
    if (clients.size >= ctx.wsMaxClients) return reject('503 Service Unavailable', 'too_many_clients', `at most ${ctx.wsMaxClients} WebSocket connections; retry later`);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  const send = (c: Client, msg: unknown) => {
    if (c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > SLOW_CLIENT_BUFFERED) {
      ctx.logger.warn('dropping slow WebSocket client');
      c.ws.terminate();
      return;
    }
    c.ws.send(JSON.stringify(msg));
  };

  const subscribe = (c: Client, job: string): string | null => {
    if (job === '*') {
      c.all = true;
      send(c, { type: 'subscribed', job: '*' });
      return null;
    }
    if (!isJobId(job)) return `job must be a job id (UUID) or "*"`;
    const rec = ctx.store.get(job);
    if (!rec) return `no job ${job}`;
    if (!c.jobs.has(job) && c.jobs.size >= MAX_SUBSCRIPTIONS) return `at most ${MAX_SUBSCRIPTIONS} job subscriptions per connection; use "*"`;
    c.jobs.add(job);
    send(c, { type: 'subscribed', job, snapshot: jobView(rec, ctx.queue) });
    return null;
  };

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const c: Client = { ws, all: false, jobs: new Set(), alive: true };
    clients.add(c);
    ws.on('pong', () => (c.alive = true));
    ws.on('close', () => clients.delete(c));
    ws.on('error', () => clients.delete(c));
    send(c, { type: 'hello', version: ctx.version });
    const q = new URL(req.url ?? '/', 'http://localhost').searchParams;
    if (q.get('all') === '1') subscribe(c, '*');
    for (const job of q.getAll('job').slice(0, MAX_SUBSCRIPTIONS)) {
      const err = subscribe(c, job);
      if (err) send(c, { type: 'error', error: err });
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) return send(c, { type: 'error', error: 'binary messages are not supported; send JSON text' });
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return send(c, { type: 'error', error: 'message is not valid JSON' });
      }
      const m = clientMessage.safeParse(parsed);
      if (!m.success) {
        return send(c, { type: 'error', error: 'invalid message: expected {"type":"subscribe"|"unsubscribe","job":"<id>|*"} or {"type":"ping"}' });
      }
      const msg = m.data;
      if (msg.type === 'ping') return send(c, { type: 'pong' });
      if (msg.type === 'subscribe') {
        const err = subscribe(c, msg.job);
        if (err) send(c, { type: 'error', error: err });
        return;
      }
      if (msg.job === '*') c.all = false;
      else c.jobs.delete(msg.job);
      send(c, { type: 'unsubscribed', job: msg.job });
    });
  });

  const heartbeat = setInterval(() => {
    for (const c of clients) {
      if (!c.alive) {
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }, 30_000);
  heartbeat.unref();

  const interested = (jobId: string) => [...clients].filter((c) => c.all || c.jobs.has(jobId));
  const previewDue = (jobId: string, step: number, total: number) =>
    step === total || Date.now() - (lastPreview.get(jobId) ?? 0) >= ctx.previewIntervalMs;
  ctx.queue.setPreviewPolicy((jobId, step, total) => previewDue(jobId, step, total) && [...clients].some((c) => c.all || c.jobs.has(jobId)));

  const unsubscribeQueue = ctx.queue.on((e: QueueEvent) => {
    const targets = interested(e.jobId);
    if (e.type === 'preview') {
      if (targets.length === 0) return;
      if (!previewDue(e.jobId, e.step, e.total)) return;
      lastPreview.set(e.jobId, Date.now());
      let data: string;
      try {
        data = Buffer.from(encodeRgbaPng(e.image)).toString('base64');
      } catch (err) {
        ctx.logger.warn({ err }, 'preview encoding failed');
        return;
      }
      const msg = { type: 'preview', jobId: e.jobId, step: e.step, total: e.total, width: e.image.width, height: e.image.height, format: 'png', data };
      for (const c of targets) if (c.ws.bufferedAmount < PREVIEW_SKIP_BUFFERED) send(c, msg);
      return;
    }
    let msg: Record<string, unknown> = { ...e };
    if (e.type === 'finished') {
      const rec = ctx.store.get(e.jobId);
      msg = { ...e, outputs: rec ? jobView(rec, ctx.queue).outputs : null };
    }
    if (e.type === 'finished' || e.type === 'failed' || e.type === 'cancelled' || e.type === 'interrupted') lastPreview.delete(e.jobId);
    for (const c of targets) send(c, msg);
  });

  return {
    clientCount: () => clients.size,
    close: async () => {
      unsubscribeQueue();
      ctx.queue.setPreviewPolicy(() => false);
      clearInterval(heartbeat);
      server.off('upgrade', onUpgrade);
      for (const c of clients) c.ws.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          for (const c of clients) c.ws.terminate();
          resolve();
        }, 500);
        wss.close(() => {
          clearTimeout(t);
          resolve();
        });
      });
    },
  };
}
