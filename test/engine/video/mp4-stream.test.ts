// Incremental MP4 writer: frames appended in several writes (odd size, padded) come back from ffprobe/ffmpeg as one
// H.264 yuv420p video with the right count and colours, stored as a fragmented MP4 (a moof box per fragment, an
// empty moov up front); missing ffmpeg, bad frames and an empty stream give clear errors.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { Mp4Stream } from '../../../engine/video/mp4-stream.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-mp4s-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const colour = (f: number): [number, number, number] => [(30 + 60 * f) % 256, (220 - 40 * f + 256) % 256, (80 + 25 * f) % 256];
function flat(f: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) out.set(colour(f), p * 3);
  return out;
}

describe('Mp4Stream', () => {
  it('appends blocks of frames into one fragmented H.264 MP4 with every frame in order', async () => {
    const [w, h] = [37, 22];
    const out = join(dir, 'grow.mp4');
    const s = await Mp4Stream.open(out, { width: w, height: h, fps: 8, gop: 3 });
    await s.write([0, 1, 2].map((f) => flat(f, w, h)));
    await s.write([3, 4].map((f) => flat(f, w, h)));
    await s.write([5, 6, 7].map((f) => flat(f, w, h)));
    expect(s.frames).toBe(8);
    await s.close();
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,pix_fmt,nb_read_frames', '-of', 'json', out]).toString()).streams[0];
    expect(probe).toMatchObject({ codec_name: 'h264', width: 38, height: 22, pix_fmt: 'yuv420p', nb_read_frames: '8' });
    const bytes = await readFile(out);
    expect(bytes.includes(Buffer.from('moof'))).toBe(true); // fragments, so the file is playable while it grows
    const back = await readVideoFrames(out, { width: 38, height: 22 });
    back.forEach((fr, f) => {
      const c = colour(f);
      const mid = (11 * 38 + 19) * 3;
      for (let k = 0; k < 3; k++) expect(Math.abs(fr[mid + k]! - c[k]!), `frame ${f} channel ${k}`).toBeLessThanOrEqual(6);
    });
  }, 60_000);

  it('the file grows while the stream is open: the first block is readable before the next is written (fps 4)', async () => {
    // At a low frame rate ffmpeg used to read seconds of input before writing anything (input probing).
    const out = join(dir, 'open.mp4');
    const s = await Mp4Stream.open(out, { width: 16, height: 16, fps: 4, gop: 3 });
    await s.write([0, 1, 2].map((f) => flat(f, 16, 16)));
    const sizeNow = async () => (await stat(out).catch(() => null))?.size ?? 0;
    const end = Date.now() + 20_000;
    while ((await sizeNow()) === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const first = await readFile(out);
    expect(first.length).toBeGreaterThan(0);
    expect(first.subarray(4, 8).toString('latin1')).toBe('ftyp');
    await s.write([3, 4, 5].map((f) => flat(f, 16, 16)));
    await s.close();
    expect((await readFile(out)).length).toBeGreaterThan(first.length);
    expect((await readVideoFrames(out, { width: 16, height: 16 })).length).toBe(6);
  }, 60_000);

  it('rejects a frame of the wrong size, an empty stream and a missing ffmpeg with clear errors', async () => {
    const s = await Mp4Stream.open(join(dir, 'bad.mp4'), { width: 16, height: 16, fps: 8 });
    await expect(s.write([new Uint8Array(10)])).rejects.toThrow(/frame 0 has 10 bytes, expected 16x16x3 = 768/);
    await expect(s.close()).rejects.toThrow(/no frames were written/);
    const m = await Mp4Stream.open(join(dir, 'none.mp4'), { width: 16, height: 16, fps: 8, ffmpegPath: '/nonexistent/ffmpeg' });
    await expect(m.write([flat(0, 16, 16)]).then(() => m.close())).rejects.toThrow(/ffmpeg not found.*setup\.mjs --ffmpeg/);
  }, 60_000);
});
