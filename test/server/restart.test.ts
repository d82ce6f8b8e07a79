// Persistence across restarts on the same data dir: graceful stop mid-job and a SIGKILLed server process.
// Finished jobs and files survive; running jobs become 'interrupted'; queued jobs run after restart.
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { getJob, makeDataDir, startTestServer, waitFor, waitForStatus } from './helpers.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const small = { prompt: 'persist me', frames: 3, width: 64, height: 64 };

describe('restart', () => {
  it('graceful stop mid-job: finished kept, running -> interrupted, queued resumes in order; token persists', async () => {
    const dataDir = await makeDataDir();
    dirs.push(dataDir);
    const t1 = await startTestServer({ dataDir, token: undefined, fake: { msPerStep: 5 } });
    expect(t1.server.tokenSource).toBe('generated');
    expect((await stat(join(dataDir, 'token'))).mode & 0o777).toBe(0o600);
    const token = t1.server.token;
    const done: string[] = [];
    for (let i = 0; i < 3; i++) done.push((await t1.api('/api/jobs', { method: 'POST', headers: { authorization: `Bearer ${token}` }, json: { ...small, steps: 2, seed: i } }).then((r) => r.json())).id);
    for (const id of done) await waitForStatus(t1, id, ['succeeded']);
    const post = (body: object) => t1.api('/api/jobs', { method: 'POST', headers: { authorization: `Bearer ${token}` }, json: body }).then((r) => r.json());
    const running = (await post({ ...small, steps: 400 })).id;
    const queued = [(await post({ ...small, steps: 2, seed: 10 })).id, (await post({ ...small, steps: 2, seed: 11 })).id];
    await waitFor(async () => (await getJob(t1, running)).progress.step >= 2, 'long job progressing');
    const video0 = await readFile(join(dataDir, 'jobs', done[0], 'video.mp4'));
    await t1.close();

    const t2 = await startTestServer({ dataDir, token: undefined, fake: { msPerStep: 2 } });
    try {
      expect(t2.server.tokenSource).toBe('file');
      expect(t2.server.token).toBe(token);
      expect(t2.server.recovered).toEqual({ interrupted: 0, queued: 2 }); // stop() already marked it
      const r = await getJob(t2, running);
      expect(r.status).toBe('interrupted');
      expect(r.error).toMatch(/server stopped/);
      expect(r.progress.step).toBeGreaterThanOrEqual(2);
      expect(existsSync(join(dataDir, 'jobs', running))).toBe(false); // no empty folder left behind
      for (const id of done) {
        const j = await getJob(t2, id);
        expect(j.status).toBe('succeeded');
        expect(j.outputs.frames).toHaveLength(3);
      }
      const v = await t2.api(`/api/jobs/${done[0]}/video`);
      expect(Buffer.from(await v.arrayBuffer()).equals(video0)).toBe(true);
      for (const id of queued) await waitForStatus(t2, id, ['succeeded']);
      const starts = queued.map((id) => t2.server.store.get(id)!.startedAt!);
      expect(starts[0]).toBeLessThanOrEqual(starts[1]);
      expect(t2.fakes[0].calls.map((c) => c.seed)).toEqual([10, 11]); // interrupted job was not re-run
    } finally {
      await t2.close();
    }
  });

  it('removes folders left by an older version for jobs that ended without a video, and nothing else', async () => {
    const dataDir = await makeDataDir();
    dirs.push(dataDir);
    const t1 = await startTestServer({ dataDir });
    const ok = (await t1.submit({ ...small, steps: 1 })).body.id;
    await waitForStatus(t1, ok, ['succeeded']);
    const ids = { cancelled: randomUUID(), failed: randomUUID(), interrupted: randomUUID() };
    for (const [status, id] of Object.entries(ids)) {
      t1.server.store.insert(id, { prompt: 'old', negative_prompt: '', frames: 1, width: 64, height: 64, steps: 1, guidance: 1, guidance_mode: 'reference', seed: 1, fps: 8 }, 'ip:x', 1);
      t1.server.store.finish(id, status as 'cancelled', 2);
    }
    await t1.close();
    const orphan = randomUUID();
    for (const id of [...Object.values(ids), orphan]) await mkdir(join(dataDir, 'jobs', id, 'frames'), { recursive: true });
    const t2 = await startTestServer({ dataDir });
    try {
      for (const id of Object.values(ids)) await waitFor(() => !existsSync(join(dataDir, 'jobs', id)), `folder of ${id} removed`);
      expect(existsSync(join(dataDir, 'jobs', ok, 'video.mp4'))).toBe(true);
      expect(existsSync(join(dataDir, 'jobs', orphan))).toBe(true); // not a job of this database: left alone
    } finally {
      await t2.close();
    }
  });

  it('SIGKILLed server process: running job found interrupted at restart, queued job then runs', async () => {
    const dataDir = await makeDataDir();
    dirs.push(dataDir);
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', '--data-dir', dataDir, '--port', '0', '--fake-ms-per-step', '20', '--quiet'], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const info = await new Promise<{ url: string; token: string }>((resolve, reject) => {
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const line = buf.split('\n').find((l) => l.startsWith('{'));
          if (line && buf.includes('\n')) resolve(JSON.parse(line));
        });
        child.once('exit', (code) => reject(new Error(`server child exited early with ${code}`)));
      });
      const post = (body: object) =>
        fetch(info.url + '/api/jobs', { method: 'POST', headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.json());
      const fin = (await post({ ...small, steps: 1 })).id;
      await waitFor(async () => (await (await fetch(`${info.url}/api/jobs/${fin}`)).json()).status === 'succeeded', 'first job done');
      const run = (await post({ ...small, steps: 500 })).id;
      const q = (await post({ ...small, steps: 2, seed: 5 })).id;
      await waitFor(async () => (await (await fetch(`${info.url}/api/jobs/${run}`)).json()).progress.step >= 1, 'running in child');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;

      const t = await startTestServer({ dataDir, token: undefined });
      try {
        expect(t.server.token).toBe(info.token);
        expect(t.server.recovered).toEqual({ interrupted: 1, queued: 1 });
        expect((await getJob(t, run)).status).toBe('interrupted');
        await waitFor(() => !existsSync(join(dataDir, 'jobs', run)), 'folder of the interrupted job removed');
        expect(existsSync(join(dataDir, 'jobs', fin))).toBe(true);
        expect((await getJob(t, fin)).status).toBe('succeeded');
        expect((await t.api(`/api/jobs/${fin}/frames/2`)).status).toBe(200);
        await waitForStatus(t, q, ['succeeded']);
      } finally {
        await t.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
