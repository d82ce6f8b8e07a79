// The training rows of a meta table (engine/train/train-meta.ts): split filtering, paths relative to the table's
// folder, CSV through readMetaTable, and errors that name the file and line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toCsv } from '../../../engine/data/meta-table.js';
import { readTrainClips } from '../../../engine/train/train-meta.js';

let dir = '';
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'parallax-train-meta-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const row = (o: Record<string, unknown> = {}) => JSON.stringify({ path: 'clips/a.mp4', text: 'a red circle', num_frames: 4, height: 32, width: 32, ...o });

describe('readTrainClips', () => {
  it("keeps only split 'train' rows when there is a split column, resolving paths against the table's folder", async () => {
    const p = join(dir, 'm.jsonl');
    await writeFile(p, [row({ split: 'train' }), row({ split: 'heldout', path: 'clips/b.mp4' }), '', row({ split: 'train', path: '/abs/c.mp4' })].join('\n'));
    const c = await readTrainClips(p);
    expect(c.map((x) => [x.path, x.line])).toEqual([[join(dir, 'clips/a.mp4'), 1], ['/abs/c.mp4', 4]]);
    const q = join(dir, 'nosplit.jsonl');
    await writeFile(q, [row(), row({ path: 'x.mp4' })].join('\n'));
    expect((await readTrainClips(q)).length).toBe(2);
  });

  it('names the file, the line and the column of a bad row', async () => {
    const p = join(dir, 'bad.jsonl');
    await writeFile(p, [row(), row({ height: 'tall' })].join('\n'));
    await expect(readTrainClips(p)).rejects.toThrow(/bad\.jsonl:2: column "height"/);
    await writeFile(p, [row(), '{oops'].join('\n'));
    await expect(readTrainClips(p)).rejects.toThrow(/bad\.jsonl:2: not a JSON object/);
    await writeFile(p, row({ split: 'heldout' }));
    await expect(readTrainClips(p)).rejects.toThrow(/no training rows \(no row has split 'train'\)/);
    await expect(readTrainClips(join(dir, 'none.jsonl'))).rejects.toThrow(/none\.jsonl: cannot read the meta table \(no such file\)/);
    await expect(readTrainClips(join(dir, 'm.txt'))).rejects.toThrow(/expected a meta table \(\.jsonl, \.csv or \.parquet/);
  });

  it('reads CSV tables through readMetaTable (every spec column) and names rows', async () => {
    const full = (path: string, split: string) => ({
      path, text: 'a red circle', num_frames: 4, fps: 8, height: 32, width: 32, aspect_ratio: 1, resolution: 1024, text_len: 3, aes: null, flow: 1, ocr: 0,
      id: path, source: 'test', event: 0, start_frame: 0, end_frame: 4, start_time: 0, end_time: 0.5, static_ratio: 0, dynamic: true, watermark_prob: null, valid: true, split,
    });
    const p = join(dir, 'm.csv');
    await writeFile(p, toCsv([full('clips/a.mp4', 'heldout'), full('clips/b.mp4', 'train')]));
    const c = await readTrainClips(p);
    expect(c.map((x) => [x.path, x.where, x.numFrames])).toEqual([[join(dir, 'clips/b.mp4'), `${p} row 2`, 4]]);
  });
});
