// WebSocket /api/events: per-job and all-job subscriptions, event order, previews (PNG base64),
// it/s and ETA, message validation and size limit, origin check.
import { decode } from 'fast-png';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGenerator } from '../../server/fake-generator.js';
import type { Generator } from '../../server/generator.js';
import { openEvents, startTestServer, waitFor, waitForStatus, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ fake: { msPerStep: 3, previewEvery: 1 }, previewIntervalMs: 0, corsOrigins: ['http://app.example'] });
});
afterAll(async () => {
  await t.close();
});

const small = { prompt: 'ws test', frames: 2, width: 96, height: 64 };

describe('/api/events', () => {
  it('streams queued/started/step/preview/finished in order for a subscribed job', async () => {
    const { ws, messages } = await openEvents(t.server.url, '?all=1');
    const steps = 5 + Math.floor(Math.random() * 10);
    const id = (await t.submit({ ...small, steps })).body.id;
    await waitFor(() => messages.some((m) => m.type === 'finished' && m.jobId === id), 'finished event');
    ws.close();
    const mine = messages.filter((m) => m.jobId === id);
    const kinds = mine.filter((m) => m.type !== 'preview').map((m) => (m.type === 'step' ? `step${m.step}` : m.type));
    expect(kinds).toEqual(['queued', 'started', ...Array.from({ length: steps }, (_, i) => `step${i + 1}`), 'finished']);
    for (const m of mine.filter((x) => x.type === 'step')) {
      expect(m.total).toBe(steps);
      expect(m.its).toBeGreaterThan(0);
      expect(m.eta_s).toBeGreaterThanOrEqual(0);
    }
    expect(mine.filter((m) => m.type === 'step').at(-1).eta_s).toBe(0);
    const previews = mine.filter((m) => m.type === 'preview');
    expect(previews.length).toBe(steps); // interval 0: every preview is forwarded
    const p = previews[0];
    expect(p.format).toBe('png');
    const png = decode(Buffer.from(p.data, 'base64'));
    expect([png.width, png.height, png.channels]).toEqual([p.width, p.height, 4]);
    expect([p.width, p.height]).toEqual([6, 4]);
    // A preview for step k arrives after step k's step event.
    const idx = (pred: (m: { type: string; step?: number }) => boolean) => mine.findIndex(pred);
    expect(idx((m) => m.type === 'preview' && m.step === 1)).toBeGreaterThan(idx((m) => m.type === 'step' && m.step === 1));
    const fin = mine.at(-1);
    expect(fin.outputs.video).toBe(`/api/jobs/${id}/video`);
  });

  it('a per-job subscription only sees that job; snapshot on subscribe; unsubscribe stops events', async () => {
    const a = (await t.submit({ ...small, steps: 40 })).body.id;
    const b = (await t.submit({ ...small, steps: 5 })).body.id;
    const { ws, messages } = await openEvents(t.server.url);
    ws.send(JSON.stringify({ type: 'subscribe', job: b }));
    await waitFor(() => messages.some((m) => m.type === 'finished' && m.jobId === b), 'b finished', 8000);
    const sub = messages.find((m) => m.type === 'subscribed');
    expect(sub.job).toBe(b);
    expect(['queued', 'running']).toContain(sub.snapshot.status);
    expect(messages.filter((m) => m.jobId && m.jobId !== b)).toEqual([]);
    ws.send(JSON.stringify({ type: 'unsubscribe', job: b }));
    await waitFor(() => messages.some((m) => m.type === 'unsubscribed'), 'unsubscribed');
    ws.close();
    expect(a).not.toBe(b);
  });

  it('subscribing via ?job= works; unknown or malformed job ids produce error messages, not disconnects', async () => {
    const id = (await t.submit({ ...small, steps: 3 })).body.id;
    const { ws, messages } = await openEvents(t.server.url, `?job=${id}&job=nope`);
    await waitFor(() => messages.some((m) => m.type === 'finished' && m.jobId === id), 'finished via query');
    expect(messages.some((m) => m.type === 'error' && /UUID/.test(m.error))).toBe(true);
    for (const bad of ['not json', '{"type":"subscribe"}', '{"type":"explode","job":"*"}', JSON.stringify({ type: 'subscribe', job: '00000000-0000-4000-8000-000000000000' })]) {
      const before = messages.filter((m) => m.type === 'error').length;
      ws.send(bad);
      await waitFor(() => messages.filter((m) => m.type === 'error').length > before, `error reply for ${bad}`);
    }
    ws.send(JSON.stringify({ type: 'ping' }));
    await waitFor(() => messages.some((m) => m.type === 'pong'), 'pong');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('closes connections that exceed the message size limit (1009); server keeps working', async () => {
    const { ws } = await openEvents(t.server.url);
    const code = await new Promise<number>((resolve) => {
      ws.on('close', (c) => resolve(c));
      ws.send(JSON.stringify({ type: 'subscribe', job: 'x'.repeat(10_000) }));
    });
    expect(code).toBe(1009);
    expect((await t.api('/api/health')).status).toBe(200);
  });

  it('rejects foreign origins and other paths at upgrade', async () => {
    const tryOpen = (path: string, headers: Record<string, string>) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(t.server.url.replace('http', 'ws') + path, { headers });
        ws.on('open', () => {
          ws.close();
          resolve('open');
        });
        ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
        ws.on('error', () => resolve('error'));
      });
    expect(await tryOpen('/api/events', { origin: 'http://evil.example' })).toBe('403');
    expect(await tryOpen('/api/other', {})).toBe('404');
    expect(await tryOpen('/api/events', { origin: 'http://app.example' })).toBe('open');
  });

  it('refuses connections beyond wsMaxClients with 503', async () => {
    const t2 = await startTestServer({ wsMaxClients: 2 });
    try {
      const a = await openEvents(t2.server.url);
      const b = await openEvents(t2.server.url);
      const status = await new Promise<string>((resolve) => {
        const ws = new WebSocket(t2.server.url.replace('http', 'ws') + '/api/events');
        ws.on('open', () => resolve('open'));
        ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
        ws.on('error', () => resolve('error'));
      });
      expect(status).toBe('503');
      a.ws.close();
      await waitFor(async () => {
        try {
          const c = await openEvents(t2.server.url);
          c.ws.close();
          return true;
        } catch {
          return false;
        }
      }, 'a slot to free up');
      b.ws.close();
    } finally {
      await t2.close();
    }
  });

  it('cancelled and failed jobs produce their events', async () => {
    const t2 = await startTestServer({ fake: { msPerStep: 5, shouldFail: (r) => r.prompt === 'fail' } });
    try {
      const { ws, messages } = await openEvents(t2.server.url, '?all=1');
      const a = (await t2.submit({ ...small, steps: 400 })).body.id;
      const f = (await t2.submit({ ...small, prompt: 'fail', steps: 4 })).body.id;
      await waitFor(() => messages.some((m) => m.type === 'step' && m.jobId === a), 'a stepping');
      await t2.api(`/api/jobs/${a}/cancel`, { method: 'POST' });
      await waitFor(() => messages.some((m) => m.type === 'failed' && m.jobId === f), 'f failed');
      expect(messages.find((m) => m.type === 'cancelled')?.jobId).toBe(a);
      expect(messages.find((m) => m.type === 'failed').error).toMatch(/simulated failure/);
      // No step events for a after its cancellation.
      const iCancel = messages.findIndex((m) => m.type === 'cancelled');
      expect(messages.slice(iCancel).some((m) => m.type === 'step' && m.jobId === a)).toBe(false);
      ws.close();
    } finally {
      await t2.close();
    }
  });

  it('asks the generator for previews only while someone watches the job', async () => {
    const asked: boolean[] = [];
    const gen = new FakeGenerator({ msPerStep: 2 });
    const spy: Generator = {
      generate: (req, hooks) => gen.generate(req, { ...hooks, wantsPreview: (s, n) => (asked.push(hooks.wantsPreview(s, n)), asked.at(-1)!) }),
    };
    const t2 = await startTestServer({ generators: [spy], previewIntervalMs: 0 });
    try {
      const a = (await t2.submit({ ...small, steps: 6 })).body.id;
      await waitForStatus(t2, a, ['succeeded']);
      expect(asked).toEqual([false, false, false, false, false, false]);
      asked.length = 0;
      const { ws } = await openEvents(t2.server.url, '?all=1');
      const b = (await t2.submit({ ...small, steps: 6 })).body.id;
      await waitForStatus(t2, b, ['succeeded']);
      expect(asked).toEqual([true, true, true, true, true, true]);
      ws.close();
    } finally {
      await t2.close();
    }
  });

  it('throttles previews per job by the configured interval', async () => {
    const t2 = await startTestServer({ fake: { msPerStep: 2, previewEvery: 1 }, previewIntervalMs: 10_000 });
    try {
      const { ws, messages } = await openEvents(t2.server.url, '?all=1');
      const id = (await t2.submit({ ...small, steps: 30 })).body.id;
      await waitFor(() => messages.some((m) => m.type === 'finished' && m.jobId === id), 'finished');
      const steps = messages.filter((m) => m.type === 'preview').map((m) => m.step);
      expect(steps).toEqual([1, 30]); // first one, then the final step always goes out
      ws.close();
    } finally {
      await t2.close();
    }
  });
});
