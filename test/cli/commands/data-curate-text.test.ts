// `parallax data curate --text-detector FILE` with tiny CRAFT checkpoints (engine/io/make-tiny-craft.ts) whose head is
// fixed so the outcome is known: "all text" covers each frame with one box (ocr = (47 * 2 / 1.5) / 64 of a 64x48
// frame, every clip dropped as text), "no text" finds nothing (ocr 0, clips kept); the report no longer lists the
// stage as skipped; a bad file is named.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCraft } from '../../../engine/io/make-tiny-craft.js';
import { parallax } from '../../helpers/cli.js';
import { concatVideo } from '../../helpers/lavfi.js';

const rows = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('parallax data curate --text-detector', () => {
  let dir = '';
  let video = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parallax-curate-text-'));
    video = join(dir, 'two.mp4');
    concatVideo(video, [{ src: 'testsrc2', frames: 20 }, { src: 'mandelbrot', frames: 20 }], { width: 64, height: 48, fps: 8 });
    await makeTinyCraft(join(dir, 'all.safetensors'), { head: [5, 5] });
    await makeTinyCraft(join(dir, 'none.safetensors'), { head: [-5, -5] });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('drops clips covered by text and keeps clean ones, with the ocr column filled', async () => {
    const out = join(dir, 'all');
    const r = await parallax(['data', 'curate', video, '--out', out, '--backend', 'cpu', '--no-events', '--max-static-ratio', '1.01', '--preset', 'ultrafast', '--text-detector', join(dir, 'all.safetensors')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 scenes: 0 kept .*, 2 text/);
    expect(r.stderr).not.toMatch(/text \(OCR\) score: skipped/);
    const dropped = rows(join(out, 'dropped.jsonl'));
    expect(dropped.map((x) => x.drop_reason)).toEqual(['text', 'text']);
    for (const x of dropped) expect(x.ocr).toBeCloseTo((47 * (2 / 1.5)) / 64, 4);
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.options.scores.text.model).toBe('craft(all.safetensors, canvas 1280, mag 1.5)');

    const clean = join(dir, 'none');
    const c = await parallax(['data', 'curate', video, '--out', clean, '--backend', 'cpu', '--no-events', '--max-static-ratio', '1.01', '--preset', 'ultrafast', '--text-detector', join(dir, 'none.safetensors')]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/2 scenes: 2 kept/);
    expect(rows(join(clean, 'meta.jsonl')).map((x) => x.ocr)).toEqual([0, 0]);
  });

  it('names a file that is not a CRAFT checkpoint', async () => {
    const junk = join(dir, 'junk.safetensors');
    await writeFile(junk, 'nope');
    const r = await parallax(['data', 'curate', video, '--out', join(dir, 'junk'), '--backend', 'cpu', '--text-detector', junk]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CRAFT weights .*junk\.safetensors: .*craft_mlt_25k\.pth/);
  });
});
