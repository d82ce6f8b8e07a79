// Errors node:http raises before a request exists ('clientError'): header/request timeouts are 408, an
// oversized header block is 431, garbage is 400, each with the API's JSON error body; and the timeouts fire
// when configured (Node only checks them every connectionsCheckingInterval, 30 s by default). Idle keep-alive
// connections are not subject to them: they last keepAliveTimeoutMs (65 s by default, above proxies' 60 s).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_TOKEN, waitFor, type TestServer } from './helpers.js';

/** Writes `data` on a raw socket (optionally keeping it open) and returns what the server answers before closing. */
function rawExchange(port: number, data: string, keepOpen: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => (keepOpen ? s.write(data) : s.end(data)));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (got += c));
    s.on('close', () => resolve(got));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(got) : reject(e)));
  });
}

function parse(response: string): { status: number; headers: string; body: any } {
  const [head, ...rest] = response.split('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1]);
  return { status, headers: head ?? '', body: JSON.parse(rest.join('\r\n\r\n')) };
}

describe('connection-level errors', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
  });
  afterAll(() => t.close());

  it('headers that never finish get 408 with a JSON body naming the configured timeout', async () => {
    const r = parse(await rawExchange(t.server.port, 'GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1', true));
    expect(r.status).toBe(408);
    expect(r.headers).toMatch(/content-type: application\/json/i);
    expect(r.body.code).toBe('request_timeout');
    expect(r.body.error).toContain('300 ms');
    // With Node's default 30 s check interval the answer would come after this test's 10 s limit.
  }, 10_000);

  it('a body that never finishes gets 408 after the request timeout; one already answered gets nothing more', async () => {
    const post = (auth: string) => `POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt"`;
    const r = parse(await rawExchange(t.server.port, post(`Authorization: Bearer ${TEST_TOKEN}\r\n`), true));
    expect(r.status).toBe(408);
    expect(r.body.code).toBe('request_timeout');
    // Without the token the 401 goes out at once; the timeout on the unread body closes the connection silently.
    const unauth = await rawExchange(t.server.port, post(''), true);
    expect(parse(unauth).status).toBe(401);
    expect(unauth).not.toContain('408');
  }, 10_000);

  it('a 20 KB header gets 431 with a JSON body', async () => {
    const r = parse(await rawExchange(t.server.port, `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, false));
    expect(r.status).toBe(431);
    expect(r.body.code).toBe('headers_too_large');
    expect(r.body.error).toContain('16384 bytes');
  });

  it('an idle keep-alive connection outlives the header and request timeouts; Keep-Alive advertises 65 s by default', async () => {
    const d = await startTestServer({ headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: undefined });
    try {
      const s = connect(d.server.port, '127.0.0.1');
      let got = '';
      let closed = false;
      s.setEncoding('utf8');
      s.on('data', (c: string) => (got += c));
      s.on('close', () => (closed = true));
      const get = `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_TOKEN}\r\n\r\n`;
      s.write(get);
      await waitFor(() => got.includes('"ok"'), 'the first response');
      expect(got).toMatch(/^HTTP\/1\.1 200/);
      expect(got).toMatch(/\r\nKeep-Alive: timeout=65\r\n/i);
      // Idle for three request timeouts (checked every 75 ms here), then reused: served, not 408, not closed.
      await new Promise((r) => setTimeout(r, 1800));
      expect(closed).toBe(false);
      got = '';
      s.write(get);
      await waitFor(() => got.includes('"ok"') || closed, 'the second response');
      expect(got).toMatch(/^HTTP\/1\.1 200/);
      s.destroy();
    } finally {
      await d.close();
    }
  }, 10_000);

  it('keepAliveTimeoutMs closes an idle connection after that time', async () => {
    const d = await startTestServer({ keepAliveTimeoutMs: 1000 });
    try {
      const s = connect(d.server.port, '127.0.0.1');
      let got = '';
      let closedAt = 0;
      s.setEncoding('utf8');
      s.on('data', (c: string) => (got += c));
      s.on('close', () => (closedAt = Date.now()));
      s.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await waitFor(() => got.includes('"ok"'), 'the response');
      const answeredAt = Date.now();
      expect(got).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
      await waitFor(() => closedAt, 'the server to close the idle connection', 8000);
      expect(closedAt - answeredAt).toBeGreaterThanOrEqual(900);
    } finally {
      await d.close();
    }
  }, 10_000);

  it('garbage gets 400 with a JSON body; the server keeps answering', async () => {
    const r = parse(await rawExchange(t.server.port, 'NOT HTTP AT ALL\r\n\r\n', false));
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('bad_request');
    expect((await t.api('/api/health')).status).toBe(200);
  });
});
