// The attribute reader: every combination read back from rendered frames, after an MP4 round trip, and the
// cases it must not read (no shape, no motion, reversed time).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readClip, shapeFromMeasures } from '../../../engine/data/attributes.js';
import { BACKGROUND_COLOURS, allCombinations, randomGeometry, renderClip, synthClips } from '../../../engine/data/synth.js';
import { mulberry32 } from '../../../engine/mulberry32.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { writeMp4 } from '../../../engine/video/mp4.js';

const size = { width: 48, height: 40, frames: 6 };

describe('attribute reader', () => {
  it('classifies the ideal measures', () => {
    expect(shapeFromMeasures(1, 0)).toBe('square');
    expect(shapeFromMeasures(Math.PI / 4, 0)).toBe('circle');
    expect(shapeFromMeasures(0.5, 1 / 6)).toBe('triangle');
  });

  it('reads back every attribute combination from rendered frames', () => {
    const rand = mulberry32(77);
    const wrong: string[] = [];
    for (const a of allCombinations()) {
      const clip = renderClip('x', a, randomGeometry(rand, a.direction, size), size);
      const r = readClip(clip.frames, size.width, size.height);
      const got = { colour: r.colour, shape: r.shape, direction: r.direction, background: r.background };
      if (JSON.stringify(got) !== JSON.stringify(a)) wrong.push(`${clip.caption}: read ${JSON.stringify(got)}`);
    }
    expect(wrong).toEqual([]);
  });

  it('reads clips back after an H.264 round trip', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-attr-'));
    try {
      const wrong: string[] = [];
      for (const clip of synthClips({ ...size, count: 12, seed: 5, split: 'train' })) {
        const path = join(dir, `${clip.id}.mp4`);
        await writeMp4(path, clip.frames, { width: size.width, height: size.height, fps: 8 });
        const frames = await readVideoFrames(path, size);
        expect(frames.length).toBe(size.frames);
        const r = readClip(frames, size.width, size.height);
        const got = { colour: r.colour, shape: r.shape, direction: r.direction, background: r.background };
        if (JSON.stringify(got) !== JSON.stringify(clip.attributes)) wrong.push(`${clip.caption}: read ${JSON.stringify(got)}`);
      }
      expect(wrong).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads no shape in a plain frame, no direction in a still clip, and the opposite direction backwards', () => {
    const bg = BACKGROUND_COLOURS.gray;
    const plain = new Uint8Array(size.width * size.height * 3).map((_, i) => bg[i % 3]!);
    const r0 = readClip([plain, plain, plain], size.width, size.height);
    expect([r0.colour, r0.shape, r0.direction, r0.background]).toEqual(['none', 'none', 'none', 'gray']);
    const a = { colour: 'red', shape: 'square', direction: 'up', background: 'white' } as const;
    const g = randomGeometry(mulberry32(3), 'up', size);
    const still = renderClip('s', a, { ...g, speed: 0 }, size);
    expect(readClip(still.frames, size.width, size.height).direction).toBe('none');
    const moving = renderClip('m', a, g, size);
    expect(readClip(moving.frames, size.width, size.height).direction).toBe('up');
    expect(readClip([...moving.frames].reverse(), size.width, size.height).direction).toBe('down');
  });
});
