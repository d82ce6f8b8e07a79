// MP4 writer: frames of known colours (odd and even sizes) come back from ffprobe/ffmpeg with the right size, count,
// codec, pixel format and colours; missing ffmpeg and bad frames give clear errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FfmpegError, writeMp4, yuv420Size } from '../../../engine/video/mp4.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-mp4-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Frame f: a flat colour that changes per frame. */
function colour(f: number): [number, number, number] {
  return [(40 + 70 * f) % 256, (200 - 50 * f + 256) % 256, (90 + 33 * f) % 256];
}
function frames(n: number, w: number, h: number): Uint8Array[] {
  return Array.from({ length: n }, (_, f) => {
    const out = new Uint8Array(w * h * 3);
    const c = colour(f);
    for (let p = 0; p < w * h; p++) out.set(c, p * 3);
    return out;
  });
}

function probe(file: string) {
  const j = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,width,height,pix_fmt,nb_read_frames,r_frame_rate', '-of', 'json', file]).toString());
  return j.streams[0] as { codec_name: string; width: number; height: number; pix_fmt: string; nb_read_frames: string; r_frame_rate: string };
}

describe('writeMp4', () => {
  for (const [w, h, n, fps] of [[48, 32, 5, 8], [37, 23, 3, 12]] as const) {
    it(`${w}x${h}, ${n} frames at ${fps} fps decodes back to the same colours`, async () => {
      const out = join(dir, `v-${w}x${h}.mp4`);
      await writeMp4(out, frames(n, w, h), { width: w, height: h, fps });
      const p = probe(out);
      const e = yuv420Size(w, h);
      expect(p).toMatchObject({ codec_name: 'h264', width: e.width, height: e.height, pix_fmt: 'yuv420p', nb_read_frames: String(n), r_frame_rate: `${fps}/1` });
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', out, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 26 });
      expect(raw.length).toBe(n * e.width * e.height * 3);
      for (let f = 0; f < n; f++) {
        const c = colour(f);
        // centre pixel and the padded corner (edge replication keeps the colour)
        for (const [x, y] of [[w >> 1, h >> 1], [e.width - 1, e.height - 1]]) {
          const o = (f * e.width * e.height + y * e.width + x) * 3;
          for (let k = 0; k < 3; k++) expect(Math.abs(raw[o + k] - c[k])).toBeLessThanOrEqual(6);
        }
      }
    });
  }

  it('names missing ffmpeg with the install command', async () => {
    await expect(writeMp4(join(dir, 'x.mp4'), frames(1, 16, 16), { width: 16, height: 16, fps: 8, ffmpegPath: '/nonexistent/ffmpeg' }))
      .rejects.toThrow(/ffmpeg not found.*setup\.mjs --ffmpeg.*apt-get install ffmpeg/);
  });

  it('rejects bad frames and reports ffmpeg failures', async () => {
    await expect(writeMp4(join(dir, 'y.mp4'), [new Uint8Array(10)], { width: 16, height: 16, fps: 8 })).rejects.toThrow(/frame 0 has 10 bytes, expected 16x16x3 = 768/);
    await expect(writeMp4(join(dir, 'y.mp4'), [], { width: 16, height: 16, fps: 8 })).rejects.toThrow(/no frames/);
    await expect(writeMp4(join(dir, 'y.mp4'), frames(1, 16, 16), { width: 16, height: 16, fps: 8, preset: 'no-such-preset' })).rejects.toThrow(FfmpegError);
  });
});
