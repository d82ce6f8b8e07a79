// Errors node:http raises before a request exists ('clientError'): header/request timeouts are 408, an
// oversized header block is 431, garbage is 400, each with the API's JSON error body; and the timeouts fire
// when configured (Node only checks them every connectionsCheckingInterval, 30 s by default).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, TEST_TOKEN, type TestServer } from './helpers.js';

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

  it('garbage gets 400 with a JSON body; the server keeps answering', async () => {
    const r = parse(await rawExchange(t.server.port, 'NOT HTTP AT ALL\r\n\r\n', false));
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('bad_request');
    expect((await t.api('/api/health')).status).toBe(200);
  });
});
