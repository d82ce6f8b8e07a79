// The job server with the real engine behind it: a job on the tiny checkpoint runs the GPU pipeline, streams step
// events with latent previews, and serves a real H.264 MP4 with the requested size and frame count. A group of two
// GPUs (two ranks on the one adapter here) runs the parallel engine: same frames as one GPU for the same seed, the
// layout in the sidecar, cancellation that leaves the model loaded, and a fresh pipeline after a failed job.

import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import type { InProcessParallelPipeline } from '../../engine/parallel/parallel-pipeline.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { getJob, openEvents, startTestServer, waitFor, waitForStatus, type TestServer } from './helpers.js';

let dir: string;
let t: TestServer;
let gen: PipelineGenerator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-engine-server-'));
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 4 });
  gen = new PipelineGenerator({ model: join(dir, 'model') });
  t = await startTestServer({ generators: [gen], previewIntervalMs: 0 });
}, 300_000);

afterAll(async () => {
  await t?.close();
  await gen?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('server with the engine', () => {
  it('warms up (what `serve` does at start): a 1-step generation at the smallest size, then jobs run', async () => {
    const ms = await gen.warm();
    expect(ms).toBeGreaterThan(0);
  }, 300_000);

  it('runs a job on the GPU pipeline: step events, previews, a real MP4', async () => {
    const ev = await openEvents(t.server.url, '?all=1');
    const { status, body } = await t.submit({ prompt: 'a lighthouse', frames: 2, width: 64, height: 80, steps: 3, guidance: 3, seed: 11, fps: 6 });
    expect(status, JSON.stringify(body)).toBe(201);
    const job = await waitForStatus(t, body.id, ['succeeded', 'failed'], 240_000);
    expect(job.status, job.error).toBe('succeeded');
    const r = await t.api(`/api/jobs/${body.id}/video`);
    expect(r.status).toBe(200);
    const mp4 = join(dir, 'out.mp4');
    await writeFile(mp4, new Uint8Array(await r.arrayBuffer()));
    const p = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', mp4]).toString()).streams[0];
    expect(p).toMatchObject({ codec_name: 'h264', width: 64, height: 80, nb_read_frames: '2' });
    const msgs = ev.messages.filter((m: { jobId?: string }) => m.jobId === body.id).map((m: { type: string }) => m.type);
    expect(msgs.filter((m: string) => m === 'step')).toHaveLength(3);
    expect(msgs).toContain('preview');
    expect(msgs.at(-1)).toBe('finished');
    ev.ws.close();
    // The sidecar names the model by folder name and fingerprint; its path only for token holders.
    const open = await (await t.api(`/api/jobs/${body.id}/sidecar`, { auth: false })).json();
    expect(open.model.name).toBe('model');
    expect(open.model.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(open.model.path).toBeUndefined();
    expect((await (await t.api(`/api/jobs/${body.id}/sidecar`)).json()).model.path).toBe(join(dir, 'model'));
  }, 300_000);

  it('the loaded model sets the size limits: /api/config and a 400 for a side it cannot make', async () => {
    const cfgJson = JSON.parse(await readFile(join(dir, 'model', 'transformer', 'config.json'), 'utf8')) as { pos_embed_max_size: number; patch_size: number };
    const max = cfgJson.pos_embed_max_size * cfgJson.patch_size * 8; // patches * patch * VAE scale 8
    const cfg = await (await t.api('/api/config')).json();
    expect(cfg.limits.width.max).toBe(Math.min(1280, max));
    expect(cfg.limits.height.max).toBe(Math.min(1280, max));
    const r = await t.submit({ prompt: 'too big', frames: 1, width: max + 16, height: 64, steps: 1 });
    expect(r.status).toBe(400);
    expect(r.body.fields).toEqual([{ field: 'width', message: `must be <= ${Math.min(1280, max)}` }]);
  });
});

describe('server with the parallel engine on a 2-GPU group', () => {
  let multi: PipelineGenerator;
  let both: TestServer; // group 0: one GPU (gen), group 1: two ranks (multi)
  let only: TestServer; // group 0: the two-rank group alone
  const req = { prompt: 'a paper boat on a pond', negative_prompt: 'blurry', frames: 3, width: 64, height: 64, steps: 2, guidance: 4, seed: 987654, fps: 6 };
  const done = ['succeeded', 'failed', 'cancelled'];

  beforeAll(async () => {
    multi = new PipelineGenerator({ model: join(dir, 'model'), devices: [0, 0], label: 'group1[0+0]' });
    both = await startTestServer({ generators: [gen, multi], previewIntervalMs: 0 });
    only = await startTestServer({ generators: [multi], previewIntervalMs: 0 });
  });

  afterAll(async () => {
    await both?.close();
    await only?.close();
    await multi?.dispose();
  });

  async function png(t: TestServer, id: string, n: number) {
    const r = await t.api(`/api/jobs/${id}/frames/${n}`);
    expect(r.status).toBe(200);
    return decode(new Uint8Array(await r.arrayBuffer()));
  }

  it('gives the frames of a one-GPU job with the same seed (within 1/255); the sidecar names the layout', async () => {
    const a = await both.submit(req);
    const b = await both.submit(req);
    const [ja, jb] = await Promise.all([a, b].map((x) => waitForStatus(both, x.body.id, done, 240_000)));
    expect(ja.status, ja.error).toBe('succeeded');
    expect(jb.status, jb.error).toBe('succeeded');
    expect([ja.group, jb.group]).toEqual([0, 1]);
    const [sa, sb] = await Promise.all([a, b].map(async (x) => (await both.api(`/api/jobs/${x.body.id}/sidecar`)).json()));
    expect(sa).toMatchObject({ backend: 'webgpu-f32', devices: [0] });
    expect(sa.layout).toBeUndefined();
    expect(sb).toMatchObject({ backend: 'webgpu-f32-sp1-cfg2', devices: [0, 0], layout: { sp: 1, cfg: 2 } });
    expect(sb.settings.seed).toBe(req.seed);
    for (let n = 0; n < req.frames; n++) {
      const [fa, fb] = [await png(both, a.body.id, n), await png(both, b.body.id, n)];
      expect([fb.width, fb.height]).toEqual([64, 64]);
      let worst = 0;
      let lo = 255;
      let hi = 0;
      for (let i = 0; i < fa.data.length; i++) {
        worst = Math.max(worst, Math.abs(fa.data[i]! - fb.data[i]!));
        lo = Math.min(lo, fa.data[i]!);
        hi = Math.max(hi, fa.data[i]!);
      }
      expect(hi - lo, `frame ${n} is not blank`).toBeGreaterThan(8);
      expect(worst, `frame ${n}: largest byte difference`).toBeLessThanOrEqual(1);
    }
    const mp4 = join(dir, 'multi.mp4');
    await writeFile(mp4, new Uint8Array(await (await both.api(`/api/jobs/${b.body.id}/video`)).arrayBuffer()));
    const p = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', mp4]).toString()).streams[0];
    expect(p).toMatchObject({ codec_name: 'h264', width: 64, height: 64, nb_read_frames: '3' });
  }, 300_000);

  it('cancelling a running job stops every rank; the next job (guidance 1 on the CFG-2 layout) succeeds on the same loaded pipeline', async () => {
    const engine = await multi.load();
    const { body } = await only.submit({ ...req, steps: 30 });
    await waitFor(async () => (await getJob(only, body.id)).progress?.step >= 1, 'the first step', 120_000);
    expect((await only.api(`/api/jobs/${body.id}/cancel`, { method: 'POST' })).status).toBe(202);
    const j = await waitForStatus(only, body.id, done, 120_000);
    expect(j.status, j.error).toBe('cancelled');
    expect(j.progress.step).toBeLessThan(30);
    const next = await only.submit({ ...req, steps: 1, guidance: 1 });
    const jn = await waitForStatus(only, next.body.id, done, 120_000);
    expect(jn.status, jn.error).toBe('succeeded');
    expect(await multi.load()).toBe(engine);
  }, 300_000);

  it('a job that fails on one rank fails naming it; the next job gets a fresh pipeline', async () => {
    const engine = (await multi.load()) as InProcessParallelPipeline;
    const rank1 = engine.ranks[1]!.backend as unknown as { decode: () => Promise<never> };
    rank1.decode = async () => {
      throw new Error('simulated VAE failure');
    };
    const bad = await only.submit({ ...req, steps: 1 });
    const jb = await waitForStatus(only, bad.body.id, done, 120_000);
    expect(jb.status).toBe('failed');
    expect(jb.error).toMatch(/rank 1.*simulated VAE failure/);
    const next = await only.submit({ ...req, steps: 1 });
    const jn = await waitForStatus(only, next.body.id, done, 120_000);
    expect(jn.status, jn.error).toBe('succeeded');
    expect(await multi.load()).not.toBe(engine);
  }, 300_000);
});
