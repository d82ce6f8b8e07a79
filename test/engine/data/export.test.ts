// Static filter and clip export: a looped still is 100% static and a pan is not (the 'mean' reading calls the pan
// static, as the spec warns); exported clips have exactly end - start frames (ffprobe) and their first and last
// frames are the source's frames start and end - 1, on a long-GOP source (seek + re-encode is frame-accurate).
import { mkdtemp, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeVideo } from '../../../engine/data/analyze.js';
import { clipArgs, exportClip, seekTime } from '../../../engine/data/export.js';
import { staticRatio } from '../../../engine/data/static.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { concatVideo, countFrames, panVideo, stillImage } from '../../helpers/lavfi.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const mad = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;

describe('static filter', () => {
  it('a looped still is 100% static, a 2 px/frame pan 0%; the mean reading calls the pan static', async () => {
    const png = join(dir, 'still.png');
    stillImage(png, 'mandelbrot', 160, 48);
    const still = join(dir, 'still.mp4');
    const pan = join(dir, 'pan.mp4');
    panVideo(still, png, 20, 0, { width: 64, height: 48, fps: 8 });
    panVideo(pan, png, 20, 2, { width: 64, height: 48, fps: 8 });
    const s = await analyzeVideo(still, { width: 64, height: 48, backend: 'cpu' });
    const p = await analyzeVideo(pan, { width: 64, height: 48, backend: 'cpu' });
    expect(staticRatio(s, 0, 20)).toBe(1);
    expect(staticRatio(p, 0, 20)).toBe(0);
    expect(staticRatio(p, 0, 20, { mode: 'mean' })).toBeGreaterThan(0.3);
    expect(staticRatio(p, 3, 4)).toBe(1); // one frame: no pair
    expect(() => staticRatio(p, 5, 30)).toThrow(/bad range/);
  });
});

describe('clip export', () => {
  it('seek times round down to the microsecond', () => {
    expect(seekTime(20, 8)).toBe('2.500000');
    expect(seekTime(1, 30000 / 1001)).toBe('0.033366');
    expect(clipArgs({ input: 'in.mp4', out: 'o.mp4', startFrame: 0, numFrames: 3, fps: 8 })).not.toContain('-ss');
    expect(clipArgs({ input: 'in.mp4', out: 'o.mp4', startFrame: 8, numFrames: 3, fps: 8 }).slice(5, 9)).toEqual(['-ss', '1.000000', '-i', 'in.mp4']);
  });

  it('cuts exactly end - start frames whose first and last frames are the source frames start and end - 1', async () => {
    const src = join(dir, 'src.mp4');
    // Long GOP (keyframe every 50 frames, B-frames): the seek must decode from the keyframe and drop frames.
    const cuts = concatVideo(src, [{ src: 'testsrc2', frames: 20 }, { src: 'mandelbrot', frames: 17 }, { src: 'smptehdbars', frames: 15 }, { src: 'testsrc2', frames: 16, vf: 'negate' }],
      { width: 64, height: 48, fps: 8, codecArgs: ['-c:v', 'libx264', '-crf', '12', '-g', '50', '-pix_fmt', 'yuv420p'] });
    expect(cuts).toEqual([20, 37, 52]);
    const srcFrames = await readVideoFrames(src, { width: 64, height: 48 });
    for (const [start, end] of [[20, 37], [37, 52], [0, 20], [52, 68]] as const) {
      const out = join(dir, `clip-${start}.mp4`);
      await exportClip({ input: src, out, startFrame: start, numFrames: end - start, fps: 8 });
      expect(countFrames(out)).toBe(end - start);
      const got = await readVideoFrames(out, { width: 64, height: 48 });
      const [first, last] = [got[0]!, got[got.length - 1]!];
      expect(mad(first, srcFrames[start]!)).toBeLessThan(4);
      expect(mad(last, srcFrames[end - 1]!)).toBeLessThan(4);
      if (start > 0) expect(mad(first, srcFrames[start - 1]!)).toBeGreaterThan(10);
      if (end < 68) expect(mad(last, srcFrames[end]!)).toBeGreaterThan(10);
    }
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,pix_fmt,r_frame_rate', '-of', 'json', join(dir, 'clip-20.mp4')]).toString()).streams[0];
    expect(probe).toEqual({ codec_name: 'h264', pix_fmt: 'yuv420p', r_frame_rate: '8/1' });
  });

  it('--export-size: scales every frame to exactly the given size, frame-accurately; refuses odd sizes', async () => {
    const src = join(dir, 'src.mp4'); // from the test above
    const small = await readVideoFrames(src, { width: 32, height: 16 });
    const out = join(dir, 'clip-scaled.mp4');
    await exportClip({ input: src, out, startFrame: 37, numFrames: 15, fps: 8, size: { width: 32, height: 16 } });
    expect(countFrames(out)).toBe(15);
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'json', out]).toString()).streams[0];
    expect(probe).toEqual({ width: 32, height: 16 });
    const got = await readVideoFrames(out, { width: 32, height: 16 });
    expect(mad(got[0]!, small[37]!)).toBeLessThan(8);
    expect(mad(got[0]!, small[36]!)).toBeGreaterThan(10);
    expect(mad(got[14]!, small[51]!)).toBeLessThan(8);
    expect(mad(got[14]!, small[52]!)).toBeGreaterThan(10);
    await expect(exportClip({ input: src, out: join(dir, 'odd.mp4'), startFrame: 0, numFrames: 2, fps: 8, size: { width: 33, height: 16 } })).rejects.toThrow(/export size must be even and positive .*got 33x16/);
  });

  it('names the problem when the cut fails and leaves no partial file', async () => {
    await expect(exportClip({ input: join(dir, 'nope.mp4'), out: join(dir, 'x.mp4'), startFrame: 0, numFrames: 2, fps: 8 })).rejects.toThrow(/could not cut .*nope\.mp4/);
    await expect(exportClip({ input: 'a', out: join(dir, 'x.mp4'), startFrame: -1, numFrames: 2, fps: 8 })).rejects.toThrow(/bad range/);
    expect(() => execFileSync('ls', [join(dir, 'x.mp4.part')], { stdio: 'ignore' })).toThrow();
  });
});
