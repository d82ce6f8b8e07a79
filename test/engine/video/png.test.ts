// PNG frames: random RGB frames decoded back by ffmpeg (an independent decoder) are byte-identical.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRgbPng, writePngFrames } from '../../../engine/video/png.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-png-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('PNG frames', () => {
  it('round-trips random 13x7 frames exactly through ffmpeg', async () => {
    const [w, h] = [13, 7];
    let s = 12345;
    const frames = [0, 1].map(() => Uint8Array.from({ length: w * h * 3 }, () => (s = (s * 1103515245 + 12345) % 2147483648) >> 23));
    const paths = await writePngFrames(join(dir, 'f'), frames, w, h);
    expect(paths.map((p) => p.slice(-15))).toEqual(['frame_00000.png', 'frame_00001.png']);
    for (let i = 0; i < 2; i++) {
      const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', paths[i], '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1']);
      expect(Buffer.compare(raw, Buffer.from(frames[i]))).toBe(0);
    }
    expect(() => encodeRgbPng(new Uint8Array(5), 2, 2)).toThrow(/5 bytes for 2x2x3 = 12/);
  });
});
