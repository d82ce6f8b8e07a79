// Meta table files: CSV quoting read back by an independent RFC 4180 parser (commas, quotes, line breaks, nulls,
// nested values), column order, JSONL always written beside the other formats.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toCsv, writeMetaTable } from '../../../engine/data/meta-table.js';

/** RFC 4180 reader: a state machine over characters (independent of the writer's regex). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false, i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ',') { row.push(field); field = ''; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i += 2; continue; }
    field += c; i++;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

describe('meta table', () => {
  it('CSV round-trips awkward text through an RFC 4180 parser', () => {
    const rows = [
      { path: 'clips/a.mp4', text: 'a "red", round\nthing', aes: null, valid: true, n: 3.5 },
      { path: 'clips/b,c.mp4', text: '', aes: 4.25, valid: false, n: 0, extra: { k: [1, 2] } },
    ];
    const back = parseCsv(toCsv(rows));
    expect(back[0]).toEqual(['path', 'text', 'aes', 'valid', 'n', 'extra']);
    expect(back[1]).toEqual(['clips/a.mp4', 'a "red", round\nthing', '', 'true', '3.5', '']);
    expect(back[2]).toEqual(['clips/b,c.mp4', '', '4.25', 'false', '0', '{"k":[1,2]}']);
    expect(parseCsv(toCsv(rows, ['n', 'path']))).toEqual([['n', 'path'], ['3.5', 'clips/a.mp4'], ['0', 'clips/b,c.mp4']]);
  });

  it('always writes JSONL, plus CSV when asked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-meta-'));
    try {
      const paths = await writeMetaTable(join(dir, 'meta'), [{ a: 1 }, { a: 2 }], ['csv']);
      expect(paths).toEqual([join(dir, 'meta.jsonl'), join(dir, 'meta.csv')]);
      expect((await readFile(paths[0]!, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ a: 1 }, { a: 2 }]);
      expect(await readFile(paths[1]!, 'utf8')).toBe('a\r\n1\r\n2\r\n');
      expect(await writeMetaTable(join(dir, 'empty'), [])).toEqual([join(dir, 'empty.jsonl')]);
      expect(await readFile(join(dir, 'empty.jsonl'), 'utf8')).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
