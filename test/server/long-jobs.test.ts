// Long-video jobs on the server with the real engine (tiny checkpoint, 3 layers): a job with long: 'dualparal' on a
// group of two GPUs (two ranks on the one adapter here) reports every block step and every finished block over the
// WebSocket in order, the MP4 grows block by block and is served while it grows (byte ranges of what is there, and a
// chunked response that follows it to the end, and the web app's block-by-block loader: the same bytes as the finished
// video), and bad long options are refused
// with the `generate` command's own texts while the server keeps serving; a cancelled DualParal job stops every rank
// and leaves the group ready for the next job.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avcCodecString, GrowingLoader, httpRangeFetch } from '../../client/growing-video.js';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { openEvents, startTestServer, waitFor, waitForStatus, type TestServer } from './helpers.js';

let dir: string;
let t: TestServer;
let gen: PipelineGenerator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-long-server-'));
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 6 });
  gen = new PipelineGenerator({ model: join(dir, 'model'), devices: [0, 0] });
  await gen.load();
  t = await startTestServer({ generators: [gen], previewIntervalMs: 0, limits: { minSize: 32 } });
}, 300_000);

afterAll(async () => {
  await t?.close();
  await gen?.dispose();
  await rm(dir, { recursive: true, force: true });
});

const job = { prompt: 'a red fox', width: 32, height: 32, frames: 7, steps: 2, guidance: 4, seed: 9, fps: 4, long: 'dualparal', block_frames: 2, context_frames: 1 };

describe('long-video jobs', () => {
  it('DualParal: block steps and blocks in order, the MP4 served while it grows, then the whole video', async () => {
    const ev = await openEvents(t.server.url, '?all=1');
    const ranges: { status: number; head: string; length: number; contentRange: string | null }[] = [];
    let tail: Promise<Buffer> | null = null;
    let id = '';
    // At the first block: a range read of what is there, and a chunked read that follows the file to its end.
    // The web app's loader (client/growing-video.ts) appends the new bytes at every block event, the rest at the end.
    const got: number[] = [];
    let ended = false;
    let loader: GrowingLoader | null = null;
    ev.ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.jobId !== id || !id) return;
      loader ??= new GrowingLoader(httpRangeFetch(`${t.server.url}/api/jobs/${id}/stream`), { append: async (b) => void got.push(...b), end: () => (ended = true) });
      if (m.type === 'block') void loader.onBlock(m.bytes);
      if (m.type === 'finished') void loader.onFinished();
      if (m.type !== 'block' || m.block !== 0) return;
      tail = t.api(`/api/jobs/${id}/stream`).then(async (r) => Buffer.from(await r.arrayBuffer()));
      void t.api(`/api/jobs/${id}/stream`, { headers: { range: 'bytes=0-' } }).then(async (r) => {
        const b = Buffer.from(await r.arrayBuffer());
        await writeFile(join(dir, 'partial.mp4'), b);
        ranges.push({ status: r.status, head: b.subarray(4, 8).toString('latin1'), length: b.length, contentRange: r.headers.get('content-range') });
      });
    });
    const { status, body } = await t.submit(job);
    expect(status, JSON.stringify(body)).toBe(201);
    id = body.id;
    expect(body.progress).toEqual({ step: 0, total: 6 }); // 3 blocks x 2 steps
    const done = await waitForStatus(t, id, ['succeeded', 'failed'], 240_000);
    expect(done.status, done.error).toBe('succeeded');
    await waitFor(() => ev.messages.some((m) => m.type === 'finished' && m.jobId === id), 'finished event');
    const mine = ev.messages.filter((m) => m.jobId === id);
    const steps = mine.filter((m) => m.type === 'step');
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps.every((m) => m.total === 6)).toBe(true);
    const blocks = mine.filter((m) => m.type === 'block');
    expect(blocks.map((m) => m.block)).toEqual([0, 1, 2]);
    expect(blocks.map((m) => m.frames)).toEqual([{ start: 0, end: 3 }, { start: 3, end: 5 }, { start: 5, end: 7 }]);
    expect(blocks.every((m) => m.blocks === 3)).toBe(true);
    // The file's size when each block event was sent: growing (ffmpeg may already have written later blocks).
    const bytes = blocks.map((m) => m.bytes);
    expect(bytes[0]).toBeGreaterThan(0);
    expect(bytes[1]).toBeGreaterThanOrEqual(bytes[0]);
    expect(bytes[2]).toBeGreaterThanOrEqual(bytes[1]);
    const types = mine.map((m) => m.type);
    expect(types.lastIndexOf('block')).toBeLessThan(types.indexOf('finished'));
    const video = Buffer.from(await (await t.api(`/api/jobs/${id}/video`)).arrayBuffer());
    expect(bytes[0]).toBeLessThan(video.length); // the first block was served before the video was whole
    // The range read at the first block: the file's start (an ftyp box), a total still unknown while it grew.
    await waitFor(() => ranges.length > 0, 'range read');
    const rr = ranges[0]!;
    expect(rr.head).toBe('ftyp');
    if (rr.status === 206) {
      expect(rr.contentRange).toMatch(/^bytes 0-\d+\/\*$/);
      expect(rr.length).toBeLessThan(video.length);
      // What was there is an MP4 a player opens: the stream's header (codec, size) came with the first block.
      const part = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', join(dir, 'partial.mp4')]).toString()).streams[0];
      expect(part).toMatchObject({ codec_name: 'h264', width: 32, height: 32 });
    } else expect(rr.status).toBe(200); // the job had already finished: the final video
    // The chunked read begun at the first block ends with the job: exactly the finished video.
    expect(tail).not.toBeNull();
    expect((await tail!).equals(video)).toBe(true);
    await waitFor(() => ended, 'the loader to end');
    expect(loader!.error).toBeNull();
    expect(Buffer.from(got).equals(video)).toBe(true);
    const file = join(dir, 'long.mp4');
    await writeFile(file, video);
    const p = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,nb_read_frames', '-of', 'json', file]).toString()).streams[0];
    expect(p).toMatchObject({ codec_name: 'h264', width: 32, height: 32, nb_read_frames: '7' });
    // The codec string MSE is given: High profile (x264's default for yuv420p) at ffprobe's level.
    const { profile, level } = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=profile,level', '-of', 'json', file]).toString()).streams[0];
    expect(profile).toBe('High');
    expect(avcCodecString(video)).toMatch(new RegExp(`^avc1\\.64[0-9a-f]{2}${Number(level).toString(16).padStart(2, '0')}$`));
    const side = await (await t.api(`/api/jobs/${id}/sidecar`)).json();
    expect(side.parallel.dualparal).toMatchObject({ blockFrames: 2, contextFrames: 1, blocks: 3, layers: [[0, 2], [2, 3]] });
    expect(side.request).toMatchObject({ long: 'dualparal', block_frames: 2, context_frames: 1 });
    ev.ws.close();
  }, 300_000);

  it('cancelling a DualParal job at its first block ends every rank; the group runs the next job', async () => {
    const ev = await openEvents(t.server.url, '?all=1');
    const { body } = await t.submit({ ...job, steps: 6, frames: 9 }); // 4 blocks x 6 steps
    await waitFor(() => ev.messages.some((m) => m.type === 'block' && m.jobId === body.id), 'first block', 240_000);
    expect((await t.api(`/api/jobs/${body.id}/cancel`, { method: 'POST' })).status).toBe(202);
    const j = await waitForStatus(t, body.id, ['cancelled', 'failed', 'succeeded'], 120_000);
    expect(j.status, j.error).toBe('cancelled');
    expect(ev.messages.filter((m) => m.jobId === body.id && m.type === 'block').length).toBeLessThan(4);
    expect((await t.api(`/api/jobs/${body.id}/stream`)).status).toBe(404); // no partial video kept
    const next = await t.submit({ ...job, steps: 1 });
    expect((await waitForStatus(t, next.body.id, ['succeeded', 'failed'], 240_000)).status).toBe('succeeded');
    ev.ws.close();
  }, 480_000);

  it('clip parallelism: one clip per GPU of the group, the dual-scope options in the sidecar', async () => {
    const { status, body } = await t.submit({ prompt: 'a kite', width: 32, height: 32, frames: 4, steps: 1, guidance: 1, seed: 3, long: 'clip-parallel', dual_scope: 'window=1,top-k=2' });
    expect(status, JSON.stringify(body)).toBe(201);
    const j = await waitForStatus(t, body.id, ['succeeded', 'failed'], 240_000);
    expect(j.status, j.error).toBe('succeeded');
    const side = await (await t.api(`/api/jobs/${body.id}/sidecar`)).json();
    expect(side.layout).toEqual({ sp: 1, cfg: 1, clip: { clips: 2, window: 1, topK: 2 } });
    expect(j.outputs.frames).toHaveLength(4);
  }, 240_000);

  it('bad long options are refused with the CLI\'s texts, before queueing; the server keeps serving', async () => {
    const refuse = async (body: Record<string, unknown>, re: RegExp) => {
      const r = await t.submit({ prompt: 'x', width: 32, height: 32, steps: 1, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error).toMatch(re);
      expect(r.body.fields[0].field).toBe('long');
    };
    await refuse({ frames: 8, long: 'dualparal', block_frames: 2, context_frames: 1 }, /--frames 8 .*do not fit blocks of B = 2 with C = 1 .*n\*B \+ C/);
    await refuse({ frames: 7, block_frames: 2 }, /--block-frames and --context-frames set the blocks of --long dualparal: add --long dualparal/);
    await refuse({ frames: 7, long: 'dualparal', block_frames: 2, context_frames: 1, dual_scope: 'window=1' }, /--dual-scope does not combine with --long dualparal/);
    await refuse({ frames: 7, dual_scope: 'window=1' }, /--dual-scope sets the attention of --long clip-parallel: add --long clip-parallel/);
    await refuse({ frames: 7, long: 'clip-parallel', dual_scope: 'size=3' }, /--dual-scope: /);
    await refuse({ frames: 3, long: 'clip-parallel', dual_scope: 'window=2' }, /clip 1 has 1 latent frames, but each clip needs at least 2 .*at least 4 latent frames for 2 ranks/);
    // Schema-level: the strategy's name.
    const bad = await t.submit({ prompt: 'x', long: 'fifo' });
    expect(bad.status).toBe(400);
    expect(bad.body.fields).toEqual([{ field: 'long', message: 'must be one of: clip-parallel, dualparal' }]);
    expect((await t.api('/api/jobs?limit=200')).status).toBe(200);
    expect((await (await t.api('/api/jobs')).json()).jobs.every((j: { request: { prompt: string } }) => j.request.prompt !== 'x')).toBe(true);
    expect((await t.api('/api/health')).status).toBe(200);
  });

  it('a group with more GPUs than transformer blocks refuses DualParal with the CLI\'s text (no load needed)', () => {
    const four = new PipelineGenerator({ model: join(dir, 'model'), devices: [0, 0, 0, 0] });
    const req = { ...job, negative_prompt: '', guidance_mode: 'reference' as const, long: 'dualparal' as const };
    expect(four.check(req)).toMatch(/3 transformer blocks .*4 GPUs is too many, use at most 3/);
    expect(four.check({ ...req, long: undefined, block_frames: undefined, context_frames: undefined })).toBeNull();
    expect(four.check({ ...req, frames: 8 })).toMatch(/--frames 8 .*do not fit blocks of B = 2 with C = 1/);
  });

});
