// Probe and streaming decode: ffprobe records for MP4 / MKV (no nb_frames: packets counted) / rotated files,
// unreadable files reported and skipped; streamed chunks add up to exactly the frames of the one-shot reader.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRational, probeVideo, probeVideos } from '../../../engine/data/probe.js';
import { readVideoFrames, streamVideoFrames } from '../../../engine/video/decode.js';
import { concatVideo } from '../../helpers/lavfi.js';

let dir = '';
let mp4 = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-probe-'));
  mp4 = join(dir, 'clip one.mp4');
  concatVideo(mp4, [{ src: 'testsrc2', frames: 13 }, { src: 'smptebars', frames: 10 }], { width: 64, height: 48, fps: 12 });
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', mp4, '-c', 'copy', join(dir, 'clip.mkv')]);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', mp4, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', join(dir, 'rot.mp4')]);
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=32x24:rate=30000/1001', '-frames:v', '5', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(dir, 'ntsc.mp4')]);
  await writeFile(join(dir, 'notes.mp4'), 'not a video\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('probe', () => {
  it('parses rationals', () => {
    expect(parseRational('30000/1001')).toEqual({ num: 30000, den: 1001 });
    expect(parseRational('25')).toEqual({ num: 25, den: 1 });
    expect(parseRational('0/0')).toBeNull();
    expect(parseRational(undefined)).toBeNull();
  });

  it('reads an MP4: codec, size, fps as a rational, nb_frames, duration', async () => {
    const r = await probeVideo(mp4);
    expect(r).toMatchObject({ codec: 'h264', width: 64, height: 48, pixFmt: 'yuv420p', fpsRational: { num: 12, den: 1 }, fps: 12, numFrames: 23, frameCountFrom: 'nb_frames', rotation: 0, id: 'clip_one' });
    expect(r.duration).toBeCloseTo(23 / 12, 2);
    const ntsc = await probeVideo(join(dir, 'ntsc.mp4'));
    expect(ntsc.fpsRational).toEqual({ num: 30000, den: 1001 });
    expect(ntsc.numFrames).toBe(5);
  });

  it('counts packets when the container has no nb_frames (MKV)', async () => {
    const r = await probeVideo(join(dir, 'clip.mkv'));
    expect(r.frameCountFrom).toBe('count_packets');
    expect(r.numFrames).toBe(23);
  });

  it('swaps width and height for a 90-degree rotation; decoding gives the rotated size', async () => {
    const r = await probeVideo(join(dir, 'rot.mp4'));
    expect(Math.abs(r.rotation)).toBe(90);
    expect([r.width, r.height, r.storedWidth, r.storedHeight]).toEqual([48, 64, 64, 48]);
    // ffmpeg autorotates: the upright frame is 48 wide; the unrotated frame 0 read at 48x64 differs from a plain rescale.
    const rot = await readVideoFrames(join(dir, 'rot.mp4'), { width: 48, height: 64, maxFrames: 1 });
    const flat = await readVideoFrames(mp4, { width: 48, height: 64, maxFrames: 1 });
    expect(rot.length).toBe(1);
    expect(Buffer.compare(Buffer.from(rot[0]!), Buffer.from(flat[0]!))).not.toBe(0);
  });

  it('reports unreadable and missing files and goes on with the rest; ids are unique in a batch', async () => {
    const { records, failures } = await probeVideos([join(dir, 'notes.mp4'), mp4, join(dir, 'missing.mp4'), join(dir, 'clip.mkv'), join(dir, 'clip.mkv')]);
    expect(records.map((r) => r.id)).toEqual(['clip_one', 'clip', 'clip-2']);
    expect(failures.map((f) => f.path)).toEqual([join(dir, 'notes.mp4'), join(dir, 'missing.mp4')]);
    expect(failures[0]!.error).toMatch(/cannot probe .*notes\.mp4/);
    expect(failures[1]!.error).toMatch(/No such file/);
  });
});

describe('streaming decode', () => {
  it('yields fixed-size chunks that add up to the one-shot decode, frame for frame', async () => {
    const o = { width: 20, height: 14 };
    const all = await readVideoFrames(mp4, o);
    expect(all.length).toBe(23);
    const chunks = [];
    for await (const c of streamVideoFrames(mp4, { ...o, chunkFrames: 7 })) chunks.push(c);
    expect(chunks.map((c) => [c.start, c.count])).toEqual([[0, 7], [7, 7], [14, 7], [21, 2]]);
    const fb = 20 * 14 * 3;
    for (const c of chunks) {
      expect(c.data.length).toBe(c.count * fb);
      for (let i = 0; i < c.count; i++) expect(Buffer.compare(Buffer.from(c.data.subarray(i * fb, (i + 1) * fb)), Buffer.from(all[c.start + i]!))).toBe(0);
    }
  });

  it('stops ffmpeg when the consumer stops early, and names the file on errors', async () => {
    for await (const c of streamVideoFrames(mp4, { width: 8, height: 8, chunkFrames: 2 })) {
      expect(c.start).toBe(0);
      break;
    }
    const it = streamVideoFrames(join(dir, 'notes.mp4'), { width: 8, height: 8 });
    await expect(it.next()).rejects.toThrow(/could not read .*notes\.mp4/);
    await expect(streamVideoFrames(mp4, { width: 8, height: 8, chunkFrames: 0 }).next()).rejects.toThrow(/chunkFrames/);
  });
});
