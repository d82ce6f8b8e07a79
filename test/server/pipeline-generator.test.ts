// The job server with the real engine behind it: a job on the tiny checkpoint runs the GPU pipeline, streams step
// events with latent previews, and serves a real H.264 MP4 with the requested size and frame count.

import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { openEvents, startTestServer, waitForStatus, type TestServer } from './helpers.js';

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
  }, 300_000);
});
