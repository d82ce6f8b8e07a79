// Shared test helpers: start a server on 127.0.0.1:0 with FakeGenerator in a temp data dir, HTTP and
// WebSocket conveniences, and polling.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FakeGenerator, type FakeGeneratorOptions } from '../../server/fake-generator.js';
import { startServer, type RunningServer, type ServerOptions } from '../../server/index.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  fakes: FakeGenerator[];
  api(path: string, init?: RequestInit & { auth?: boolean; json?: unknown }): Promise<Response>;
  submit(body: Record<string, unknown>): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'parallax-server-test-'));
}

export async function startTestServer(
  opts: Partial<ServerOptions> & { fake?: FakeGeneratorOptions; groups?: number; keepDir?: boolean } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? (await makeDataDir());
  const fakes = Array.from({ length: opts.groups ?? 1 }, () => new FakeGenerator({ msPerStep: 2, ...opts.fake }));
  const server = await startServer({
    generators: fakes,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    token: TEST_TOKEN,
    // The server never closes an idle connection here; the client does (undici after 4 s). The tests' fetch (undici)
    // shares one event loop with the server and counts a socket's idle time in ticks of that loop (+499 ms per
    // tick, whatever the wall clock did), while the server's keep-alive timer follows the wall clock. When the loop
    // stalls for seconds (the engine runs in-process; the niced tests are starved on a loaded machine) undici still
    // takes a socket for fresh that the server's timer closes in the same turn: `fetch failed: read ECONNRESET` for
    // whichever request drew it. Pass keepAliveTimeoutMs: undefined to test the server's default.
    keepAliveTimeoutMs: 0,
    ...opts,
    dataDir,
  });
  const api: TestServer['api'] = (path, init = {}) => {
    const headers = new Headers(init.headers);
    if (init.auth !== false && !headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_TOKEN}`);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    return fetch(server.url + path, { ...init, headers, body });
  };
  return {
    server,
    dataDir,
    fakes,
    api,
    async submit(body) {
      const r = await api('/api/jobs', { method: 'POST', json: body });
      return { status: r.status, body: await r.json() };
    },
    async close() {
      await server.close();
      if (!opts.keepDir && !opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 15000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function getJob(t: TestServer, id: string): Promise<any> {
  const r = await t.api(`/api/jobs/${id}`);
  return r.json();
}

export function waitForStatus(t: TestServer, id: string, statuses: string[], timeoutMs = 15000): Promise<any> {
  return waitFor(async () => {
    const j = await getJob(t, id);
    return statuses.includes(j.status) ? j : null;
  }, `job ${id} to reach ${statuses.join('|')}`, timeoutMs);
}

/** Opens a WebSocket and records every JSON message. */
export async function openEvents(url: string, query = '', headers: Record<string, string> = {}) {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/api/events' + query, { headers });
  const messages: any[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  await waitFor(() => messages.some((m) => m.type === 'hello'), 'hello message');
  return { ws, messages };
}

export const RANDOM_PROMPTS = ['a red fox in snow', 'timelapse of clouds', 'ocean waves at dusk', 'a city street at night, rain'];
