// `parallax data synth`, `data read-attributes` and `eval-prompts` as a user runs them: files, meta columns, read-back, errors.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetaTable } from '../../../engine/data/meta-read.js';
import { parallax } from '../../helpers/cli.js';

describe('parallax data', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parallax-data-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('synth writes MP4 clips, meta.jsonl with the spec columns and heldout.jsonl; read-attributes reads a clip back', async () => {
    const out = join(dir, 'set');
    const r = await parallax(['data', 'synth', '--out', out, '--count', '5', '--heldout-count', '2', '--width', '48', '--height', '40', '--frames', '5', '--seed', '7', '--parquet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote 5 training clips and 2 held-out clips/);
    const rows = readFileSync(join(out, 'meta.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.length).toBe(7);
    const columns = ['path', 'text', 'num_frames', 'fps', 'height', 'width', 'aspect_ratio', 'resolution', 'text_len', 'aes', 'flow', 'ocr',
      'id', 'source', 'event', 'start_frame', 'end_frame', 'start_time', 'end_time', 'static_ratio', 'dynamic', 'watermark_prob', 'valid'];
    for (const row of rows) {
      for (const c of columns) expect(row, c).toHaveProperty(c);
      expect(existsSync(join(out, row.path))).toBe(true);
      expect([row.num_frames, row.width, row.height]).toEqual([5, 48, 40]);
      const a = row.attributes;
      expect(row.text).toBe(`a ${a.colour} ${a.shape} moving ${a.direction} on a ${a.background} background`);
    }
    expect(rows.filter((x) => x.split === 'heldout').length).toBe(2);
    expect(await readMetaTable(join(out, 'meta.parquet'))).toEqual(rows);
    const held = readFileSync(join(out, 'heldout.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).text);
    expect(held.length).toBeGreaterThan(5);
    for (const row of rows) expect(held.includes(row.text)).toBe(row.split === 'heldout');
    const first = rows[0]!;
    const read = await parallax(['data', 'read-attributes', join(out, first.path), '--width', '48', '--height', '40']);
    expect(read.code).toBe(0);
    const got = JSON.parse(read.stdout);
    expect({ colour: got.colour, shape: got.shape, direction: got.direction, background: got.background }).toEqual(first.attributes);
    expect(got.frames).toBe(5);
  });

  it('says what is wrong with impossible sizes and missing files', async () => {
    const small = await parallax(['data', 'synth', '--out', join(dir, 'x'), '--width', '8']);
    expect(small.code).not.toBe(0);
    expect(small.stderr).toMatch(/--width must be an integer >= 16/);
    const missing = await parallax(['data', 'read-attributes', join(dir, 'nope.mp4')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/could not read .*nope\.mp4/);
  });
});

describe('parallax eval-prompts', () => {
  it('generates the prompts of a file with a tiny checkpoint and writes the report and the contact sheet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-eval-'));
    try {
      const ck = join(dir, 'ck');
      expect((await parallax(['make-tiny', ck])).code).toBe(0);
      const prompts = join(dir, 'p.jsonl');
      await writeFile(prompts, JSON.stringify({ text: 'a red circle moving left on a blue background', attributes: { colour: 'red', shape: 'circle', direction: 'left', background: 'blue' } }) + '\n');
      const r = await parallax(['eval-prompts', '--model', ck, '--prompts', prompts, '--width', '32', '--height', '32', '--frames', '2', '--steps', '1', '--guidance-mode', 'constant', '--out', join(dir, 'r.json'), '--sheet', join(dir, 's.png')]);
      expect(r.stderr).toMatch(/\[1\/1\] "a red circle moving left on a blue background" seed 0/);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\| colour \| \d+\.\d% \|/);
      const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
      expect(report.samples.length).toBe(1);
      expect(report.settings.guidanceMode).toBe('constant');
      expect(r.stdout).toMatch(/direction, wanted -> read back: left -> \w+ 1/);
      expect(Object.keys(report.confusion.direction)).toEqual(['left']);
      expect(Object.keys(report.accuracy).sort()).toEqual(['all', 'background', 'colour', 'direction', 'shape']);
      expect(readFileSync(join(dir, 's.png')).subarray(1, 4).toString()).toBe('PNG');
      await writeFile(prompts, '{"text": "no attributes"}\n');
      const bad = await parallax(['eval-prompts', '--model', ck, '--prompts', prompts]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/p\.jsonl:1: each line needs "text" and "attributes"/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
