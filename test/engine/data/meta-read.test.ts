// Meta table reader: every format round-trips hand-written rows (nulls, unicode and awkward captions, a synthetic
// clip's split and attributes); Parquet columns carry the spec's types; pandas-style files (INT64, True/False) read;
// corrupted files, bad values and missing columns fail naming the file, line/row and column.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META_COLUMNS } from '../../../engine/data/meta-columns.js';
import { readMetaTable, type MetaRow } from '../../../engine/data/meta-read.js';
import { writeMetaTable } from '../../../engine/data/meta-table.js';

const base: MetaRow = {
  path: 'clips/a_scene-0.mp4', text: 'a red circle moving left', num_frames: 16, fps: 8, height: 48, width: 64, aspect_ratio: 0.75,
  resolution: 3072, text_len: 5, aes: 5.25, flow: 1.5, ocr: 0, id: 'a_scene-0', source: '/data/a.mp4', event: 0, start_frame: 0,
  end_frame: 16, start_time: 0, end_time: 2, static_ratio: 0.125, dynamic: true, watermark_prob: 0.01, valid: true,
};
const rows: MetaRow[] = [
  base,
  { ...base, path: 'clips/b,1.mp4', text: 'un "cercle" rouge, qui bouge\nvers la gauche — 赤い円が左へ 🎬', text_len: 9, aes: null, flow: null, ocr: null, dynamic: null, watermark_prob: null, id: 'b', event: 3, start_frame: 30, end_frame: 61, num_frames: 31, start_time: 1.001, end_time: 2.0343333333333335, fps: 29.97002997002997 },
  { ...base, text: '', text_len: 0, valid: false, dynamic: false, static_ratio: 1, id: 'c' },
];
const synthRows: MetaRow[] = [
  { ...base, split: 'train', attributes: { colour: 'red', shape: 'circle', direction: 'left', background: 'gray' } },
  { ...base, id: 'h', split: 'heldout', attributes: { colour: 'yellow', shape: 'triangle', direction: 'up', background: 'blue' }, aes: null },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-meta-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectError(name: string, content: string | Uint8Array | ArrayBuffer, ...parts: (string | RegExp)[]): Promise<void> {
  const p = join(dir, name);
  await writeFile(p, content instanceof ArrayBuffer ? new Uint8Array(content) : content);
  const err = await readMetaTable(p).then(() => null, (e: Error) => e);
  expect(err, `${name} should not read`).not.toBeNull();
  expect(err!.message).toContain(p);
  for (const part of parts) typeof part === 'string' ? expect(err!.message).toContain(part) : expect(err!.message).toMatch(part);
}

describe('readMetaTable', () => {
  it.each(['jsonl', 'csv', 'parquet'] as const)('round-trips %s: nulls, unicode and quoted captions, exact floats', async (f) => {
    const [path] = (await writeMetaTable(join(dir, `rt-${f}`), rows as unknown as Record<string, unknown>[], [f], META_COLUMNS)).filter((p) => p.endsWith(f));
    expect(await readMetaTable(path!)).toEqual(rows);
  });

  it.each(['jsonl', 'csv', 'parquet'] as const)('round-trips %s with synth split and attributes', async (f) => {
    const [path] = (await writeMetaTable(join(dir, `synth-${f}`), synthRows as unknown as Record<string, unknown>[], [f], [...META_COLUMNS, 'split', 'attributes'])).filter((p) => p.endsWith(f));
    expect(await readMetaTable(path!)).toEqual(synthRows);
  });

  it('writes Parquet with the spec column types: INT32, DOUBLE, BOOLEAN, UTF8, JSON; scores OPTIONAL', async () => {
    await writeMetaTable(join(dir, 'types'), synthRows as unknown as Record<string, unknown>[], ['parquet'], [...META_COLUMNS, 'split', 'attributes']);
    const schema = parquetMetadata((await readFile(join(dir, 'types.parquet'))).buffer as ArrayBuffer).schema;
    const of = (n: string) => schema.find((s) => s.name === n)!;
    expect(of('num_frames')).toMatchObject({ type: 'INT32', repetition_type: 'REQUIRED' });
    expect(of('fps')).toMatchObject({ type: 'DOUBLE', repetition_type: 'REQUIRED' });
    expect(of('aes')).toMatchObject({ type: 'DOUBLE', repetition_type: 'OPTIONAL' });
    expect(of('dynamic')).toMatchObject({ type: 'BOOLEAN', repetition_type: 'OPTIONAL' });
    expect(of('valid')).toMatchObject({ type: 'BOOLEAN', repetition_type: 'REQUIRED' });
    expect(of('text')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' });
    expect(of('attributes')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'JSON' });
    expect(schema.slice(1).map((s) => s.name)).toEqual([...META_COLUMNS, 'split', 'attributes']);
  });

  it('writes an empty Parquet table with its columns, and refuses a non-integer frame count', async () => {
    await writeMetaTable(join(dir, 'empty'), [], ['parquet'], META_COLUMNS);
    expect(await readMetaTable(join(dir, 'empty.parquet'))).toEqual([]);
    await expect(writeMetaTable(join(dir, 'badw'), [{ ...base, num_frames: 2.5 }], ['parquet'], META_COLUMNS)).rejects.toThrow("row 1, column 'num_frames': expected a 32-bit integer, got 2.5");
  });

  it('reads pandas-style files: INT64 columns, True/False, CRLF or LF, absent score columns as null', async () => {
    const ints = ['num_frames', 'height', 'width', 'resolution', 'text_len', 'event', 'start_frame', 'end_frame'];
    const cols = META_COLUMNS.filter((c) => !['aes', 'ocr'].includes(c));
    const buf = parquetWriteBuffer({
      columnData: cols.map((name) => {
        const v = (base as unknown as Record<string, unknown>)[name];
        return ints.includes(name) ? { name, data: [BigInt(v as number)], type: 'INT64' as const } : { name, data: [v] };
      }),
    });
    const p = join(dir, 'pandas.parquet');
    await writeFile(p, new Uint8Array(buf));
    expect(await readMetaTable(p)).toEqual([{ ...base, aes: null, ocr: null }]);
    const header = 'path,text,num_frames,fps,height,width,aspect_ratio,resolution,text_len,id,source,event,start_frame,end_frame,start_time,end_time,static_ratio,dynamic,valid';
    const line = 'clips/a_scene-0.mp4,a red circle moving left,16,8.0,48,64,0.75,3072,5,a_scene-0,/data/a.mp4,0,0,16,0.0,2.0,0.125,True,True';
    const expected = { ...base, aes: null, flow: null, ocr: null, watermark_prob: null };
    await writeFile(join(dir, 'pandas.csv'), `${header}\n${line}\n`);
    expect(await readMetaTable(join(dir, 'pandas.csv'))).toEqual([expected]);
    await writeFile(join(dir, 'pandas2.csv'), `\ufeff${header}\r\n${line}`);
    expect(await readMetaTable(join(dir, 'pandas2.csv'))).toEqual([expected]);
  });

  it('names the file, line and column of a bad value', async () => {
    const good = JSON.stringify(base);
    await expectError('bad-json.jsonl', `${good}\n{"path": "x",\n`, 'line 2: not valid JSON');
    await expectError('bad-type.jsonl', `${good}\n\n${JSON.stringify({ ...base, fps: '8' })}\n`, "line 3: column 'fps'", 'expected number');
    await expectError('neg.jsonl', JSON.stringify({ ...base, num_frames: -3 }), "line 1: column 'num_frames'", 'got -3');
    await expectError('attr.jsonl', JSON.stringify({ ...base, attributes: { colour: 'pink', shape: 'circle', direction: 'left', background: 'gray' } }), "column 'attributes.colour'", 'got "pink"');
    await expectError('order.jsonl', JSON.stringify({ ...base, start_frame: 20 }), 'line 1: end_frame 16 is before start_frame 20');
    await expectError('array.jsonl', '[1, 2]\n', 'line 1: expected a JSON object');
    const csv = await readFile((await writeMetaTable(join(dir, 'src'), rows as unknown as Record<string, unknown>[], ['csv'], META_COLUMNS))[1]!, 'utf8');
    const lines = csv.split('\r\n');
    // rows[1]'s caption holds a line break (one CSV record, two physical lines), so rows[2] starts on line 5
    expect(lines).toHaveLength(5);
    await expectError('bad-fps.csv', [...lines.slice(0, 3), lines[3]!.replace(',8,48,', ',fast,48,'), ''].join('\r\n'), "line 5: column 'fps'", 'got "fast"');
    await expectError('bad-bool.csv', csv.replace(',true\r\n', ',yes\r\n'), "line 2: column 'valid'", 'got "yes"');
    await expectError('short.csv', `${lines[0]}\r\n${lines[1]!.split(',').slice(0, 5).join(',')}\r\n`, 'line 2: 5 fields, but the header has 23 columns');
    await expectError('unclosed.csv', `${lines[0]}\r\n${lines[1]}\r\n"clips/x.mp4,oops\r\n`, 'line 3: a quoted field is never closed');
    await expectError('missing-value.csv', `${lines[0]}\r\n${lines[1]!.replace(',48,64,', ',,64,')}\r\n`, "line 2: column 'height'", 'got ""');
  });

  it('fails on corrupted Parquet, bad Parquet values, non-UTF-8 text and unknown extensions', async () => {
    const good = await readFile((await writeMetaTable(join(dir, 'pq'), rows as unknown as Record<string, unknown>[], ['parquet'], META_COLUMNS))[1]!);
    await expectError('trunc.parquet', good.subarray(0, good.length - 40), 'not a readable Parquet file');
    await expectError('empty.parquet', new Uint8Array(0), 'not a readable Parquet file');
    const flipped = new Uint8Array(good);
    flipped.fill(0xff, 8, 200);
    await expectError('flipped.parquet', flipped, 'not a readable Parquet file');
    const neg = parquetWriteBuffer({ columnData: META_COLUMNS.map((name) => ({ name, data: [rows[0], rows[2]].map((r) => (name === 'width' && r === rows[2] ? -64 : (r as unknown as Record<string, unknown>)[name])) })) });
    await expectError('neg.parquet', neg, "row 2: column 'width'", 'got -64');
    await expectError('latin1.jsonl', new Uint8Array([0x7b, 0xe9, 0x7d, 0x0a]), 'not UTF-8 text');
    await expectError('meta.tsv', 'a\tb\n', 'unknown meta table format');
    await expect(readMetaTable(join(dir, 'nope.jsonl'))).rejects.toThrow(`${join(dir, 'nope.jsonl')}: cannot read the meta table`);
  });

  it('names a missing required column in every format', async () => {
    const noFps = rows.map(({ fps: _, ...r }) => r);
    const cols = META_COLUMNS.filter((c) => c !== 'fps');
    const [jsonl, csv, parquet] = await writeMetaTable(join(dir, 'nofps'), noFps, ['csv', 'parquet'], cols);
    await expectError('nofps.jsonl', await readFile(jsonl!), "line 1: column 'fps' is missing");
    await expectError('nofps.csv', await readFile(csv!), "missing column 'fps'");
    await expectError('nofps.parquet', await readFile(parquet!), "missing column 'fps'");
    const noText = META_COLUMNS.filter((c) => c !== 'text' && c !== 'path');
    await writeMetaTable(join(dir, 'notext'), rows as unknown as Record<string, unknown>[], ['csv'], noText);
    await expectError('notext.csv', await readFile(join(dir, 'notext.csv')), "missing columns 'path', 'text'");
  });
});
