// Security hardening: Host-header check against DNS rebinding (HTTP and WebSocket), job output files contained
// to the job's own folder, and the sidecar hiding the model's path from readers without the token.
import { readFile, rm, symlink } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeGenerator } from '../../server/fake-generator.js';
import type { GenerateHooks, GenerateResult } from '../../server/generator.js';
import type { JobRequest } from '../../server/schema.js';
import { startTestServer, TEST_TOKEN, waitForStatus, type TestServer } from './helpers.js';

/** GET with an exact Host (and optional Origin) header; fetch would not let the test choose Host. */
function getWithHost(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; type?: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, type: res.headers['content-type'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens /api/events with the given headers: 'open' once `hello` arrives, else the HTTP status of the refusal. */
function wsOutcome(url: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + '/api/events', { headers });
    ws.on('message', (d) => {
      if (JSON.parse(d.toString()).type === 'hello') {
        ws.close();
        resolve('hello');
      }
    });
    ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
    ws.on('error', () => resolve('error'));
  });
}

const small = { prompt: 'hardening', steps: 1, frames: 2, width: 64, height: 64 };

describe('Host header (DNS rebinding)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ allowedHosts: ['parallax.lan', '.studio.example'] });
  });
  afterAll(() => t.close());

  it('refuses foreign host names on the API, the app and the WebSocket with 403 host_not_allowed', async () => {
    const port = t.server.port;
    for (const host of [`attacker.example:${port}`, 'attacker.example', `localhost.attacker.example:${port}`, `parallax.lan.evil.example:${port}`, `studio.example.evil:${port}`, `attacker.example.:${port}`, 'bad host', `x@attacker.example:${port}`]) {
      const origin = `http://${host}`;
      for (const path of ['/api/jobs', '/api/config', '/api/health', '/']) {
        const r = await getWithHost(t.server.url, path, { host, origin });
        expect(r.status, `${host} ${path}`).toBe(403);
        expect(r.type).toMatch(/application\/json/);
        const b = JSON.parse(r.body);
        expect(b.code).toBe('host_not_allowed');
        expect(b.error).toMatch(/--allowed-hosts/);
      }
      expect(await wsOutcome(t.server.url, { host, origin }), host).toBe('403');
    }
  });

  it('accepts loopback names and addresses, IP literals and the configured names', async () => {
    const port = t.server.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `app.localhost:${port}`, `[::1]:${port}`, `parallax.lan:${port}`, `a.studio.example:${port}`, `10.1.2.3:${port}`, `localhost.:${port}`]) {
      const r = await getWithHost(t.server.url, '/api/jobs', { host });
      expect(r.status, host).toBe(200);
      expect(await wsOutcome(t.server.url, { host, origin: `http://${host}` }), host).toBe('hello');
    }
  });

  it('accepts the name the server was bound to', async () => {
    const t2 = await startTestServer({ host: 'localhost' });
    try {
      expect((await getWithHost(t2.server.url, '/api/health', { host: `localhost:${t2.server.port}` })).status).toBe(200);
      expect((await getWithHost(t2.server.url, '/api/health', { host: `other.example:${t2.server.port}` })).status).toBe(403);
    } finally {
      await t2.close();
    }
  });
});

describe('job files are contained to their own folder', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t.close());

  it('a symlink in a job folder to the token file or to another job is 404', async () => {
    const a = (await t.submit(small)).body.id;
    const b = (await t.submit(small)).body.id;
    await waitForStatus(t, a, ['succeeded']);
    await waitForStatus(t, b, ['succeeded']);
    const jobA = join(t.dataDir, 'jobs', a);
    // Frame 0 of job a -> the token file; frame 1 of job a -> job b's video. Both are inside the data dir.
    await writeTokenFile(t);
    const f0 = join(jobA, 'frames', 'frame_0000.png');
    const f1 = join(jobA, 'frames', 'frame_0001.png');
    await rm(f0);
    await rm(f1);
    await symlink(join(t.dataDir, 'token'), f0);
    await symlink(join(t.dataDir, 'jobs', b, 'video.mp4'), f1);
    const r0 = await t.api(`/api/jobs/${a}/frames/0`, { auth: false });
    expect(r0.status).toBe(404);
    expect(await r0.text()).not.toContain(TEST_TOKEN);
    expect((await t.api(`/api/jobs/${a}/frames/1`, { auth: false })).status).toBe(404);
    // A stored path pointing into another job's folder is refused too.
    const db = (t.server.store as unknown as { db: import('better-sqlite3').Database }).db;
    const rec = t.server.store.get(a)!;
    db.prepare('UPDATE jobs SET outputs = ? WHERE id = ?').run(JSON.stringify({ ...rec.outputs, video: `jobs/${b}/video.mp4` }), a);
    expect((await t.api(`/api/jobs/${a}/video`, { auth: false })).status).toBe(404);
    // Job b is untouched.
    expect((await t.api(`/api/jobs/${b}/video`, { auth: false })).status).toBe(200);
  });
});

async function writeTokenFile(t: TestServer): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(t.dataDir, 'token'), TEST_TOKEN + '\n', { mode: 0o600 });
}

/** Stands in for PipelineGenerator's sidecar: the model's name, hash and the folder it was loaded from. */
class ModelSidecarGenerator extends FakeGenerator {
  override async generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    const r = await super.generate(req, hooks);
    return { ...r, sidecar: { ...r.sidecar, model: { name: 'Vchitect-2.0-2B', hash: 'ab'.repeat(32), path: '/home/alice/models/Vchitect-2.0-2B' } } };
  }
}

describe('sidecar', () => {
  it('shows the model name and hash to everyone, its path only with the token', async () => {
    const t = await startTestServer({ generators: [new ModelSidecarGenerator()] });
    try {
      const id = (await t.submit(small)).body.id;
      await waitForStatus(t, id, ['succeeded']);
      const open = await t.api(`/api/jobs/${id}/sidecar`, { auth: false });
      expect(open.status).toBe(200);
      const text = await open.text();
      expect(text).not.toContain('/home/alice');
      expect(JSON.parse(text).model).toEqual({ name: 'Vchitect-2.0-2B', hash: 'ab'.repeat(32) });
      const authed = await (await t.api(`/api/jobs/${id}/sidecar`)).json();
      expect(authed.model.path).toBe('/home/alice/models/Vchitect-2.0-2B');
      const wrong = await (await t.api(`/api/jobs/${id}/sidecar`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).text();
      expect(wrong).not.toContain('/home/alice');
      // The file on disk (private data dir) keeps everything.
      expect(await readFile(join(t.dataDir, 'jobs', id, 'sidecar.json'), 'utf8')).toContain('/home/alice');
    } finally {
      await t.close();
    }
  });
});
