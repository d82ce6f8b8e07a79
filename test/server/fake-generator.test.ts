// FakeGenerator: deterministic per seed, honours abort at step boundaries, writes valid PNG/MP4 files.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeGenerator, placeholderMp4 } from '../../server/fake-generator.js';
import { DEFAULT_LIMITS, parseJobRequest } from '../../server/schema.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function request(body: Record<string, unknown>) {
  const r = parseJobRequest({ prompt: 'x', ...body }, DEFAULT_LIMITS, () => 42);
  if (!r.ok) throw new Error('bad test request');
  return r.value;
}

/** Walks ISO BMFF boxes: returns [type, size] pairs at the top level or inside `payload`. */
function boxes(buf: Uint8Array): [string, number][] {
  const out: [string, number][] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = 0;
  while (o < buf.length) {
    const size = v.getUint32(o);
    expect(size).toBeGreaterThanOrEqual(8);
    out.push([String.fromCharCode(...buf.slice(o + 4, o + 8)), size]);
    o += size;
  }
  expect(o).toBe(buf.length);
  return out;
}

describe('FakeGenerator', () => {
  it('writes decodable frames, a well-formed mp4, steps in order with previews', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fakegen-'));
    dirs.push(dir);
    const gen = new FakeGenerator({ msPerStep: 0, previewEvery: 2 });
    const steps: number[] = [];
    const previews: number[] = [];
    const req = request({ steps: 5, frames: 3, width: 80, height: 64, seed: 9 });
    const res = await gen.generate(req, {
      jobId: 'j',
      outDir: dir,
      signal: new AbortController().signal,
      wantsPreview: (s) => s !== 4,
      onStep: (s, total, p) => {
        expect(total).toBe(5);
        steps.push(s);
        if (p) {
          previews.push(s);
          expect(p.rgba.length).toBe(p.width * p.height * 4);
        }
      },
    });
    expect(steps).toEqual([1, 2, 3, 4, 5]);
    expect(previews).toEqual([2]); // step 4 was not wanted
    expect(res.framePaths).toHaveLength(3);
    for (const f of res.framePaths) {
      const png = decode(await readFile(join(dir, f)));
      expect([png.width, png.height]).toEqual([5, 4]);
    }
    const mp4 = new Uint8Array(await readFile(join(dir, res.videoPath)));
    expect(boxes(mp4).map((b) => b[0])).toEqual(['ftyp', 'moov']);
  });

  it('is deterministic per seed', async () => {
    const run = async (seed: number) => {
      const dir = await mkdtemp(join(tmpdir(), 'fakegen-'));
      dirs.push(dir);
      const r = await new FakeGenerator({ msPerStep: 0 }).generate(request({ steps: 2, frames: 2, seed }), {
        jobId: 'j',
        outDir: dir,
        signal: new AbortController().signal,
        onStep: () => {},
        wantsPreview: () => true,
      });
      return readFile(join(dir, r.framePaths[1]));
    };
    expect((await run(5)).equals(await run(5))).toBe(true);
    expect((await run(5)).equals(await run(6))).toBe(false);
  });

  it('stops at the step boundary after abort, and fails when told to', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fakegen-'));
    dirs.push(dir);
    const ac = new AbortController();
    const seen: number[] = [];
    const p = new FakeGenerator({ msPerStep: 1 }).generate(request({ steps: 100 }), {
      jobId: 'j',
      outDir: dir,
      signal: ac.signal,
      wantsPreview: () => true,
      onStep: (s) => {
        seen.push(s);
        if (s === 3) ac.abort();
      },
    });
    await expect(p).rejects.toThrow(/aborted/);
    expect(seen).toEqual([1, 2, 3]);
    await expect(
      new FakeGenerator({ msPerStep: 0, failAtStep: 2 }).generate(request({ steps: 4 }), { jobId: 'j', outDir: dir, signal: new AbortController().signal, onStep: () => {}, wantsPreview: () => true }),
    ).rejects.toThrow(/simulated failure at step 2/);
  });

  it('mp4 placeholder records the duration in mvhd', () => {
    const buf = placeholderMp4(5000);
    const v = new DataView(buf.buffer);
    // ftyp (24 bytes) + moov header (8) + mvhd header (8) + version/flags, ctime, mtime (12) -> timescale
    expect(v.getUint32(24 + 8 + 8 + 12)).toBe(1000);
    expect(v.getUint32(24 + 8 + 8 + 16)).toBe(5000);
  });
});
