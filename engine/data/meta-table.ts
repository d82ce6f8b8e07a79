// Meta table files: JSONL (canonical, one object per line) and CSV (RFC 4180: a header of the columns, fields with
// a comma, quote or line break quoted, quotes doubled; null -> empty field; nested values as JSON). Parquet needs a
// library the project does not have yet (see docs/data.md).
import { rename, writeFile } from 'node:fs/promises';

export type MetaFormat = 'jsonl' | 'csv';

export function toJsonl(rows: readonly object[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV of the rows; columns default to the first row's keys in order, then any others as they appear. */
export function toCsv(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columns ? [...columns] : [];
  if (!columns) for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const lines = [cols.map(csvField).join(','), ...rows.map((r) => cols.map((c) => csvField(r[c])).join(','))];
  return lines.join('\r\n') + '\r\n';
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** Writes `{base}.jsonl` and the other formats asked for; returns the paths written. */
export async function writeMetaTable(base: string, rows: readonly Record<string, unknown>[], formats: readonly MetaFormat[] = ['jsonl'], columns?: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of new Set<MetaFormat>(['jsonl', ...formats])) {
    const path = `${base}.${f}`;
    await writeAtomic(path, f === 'jsonl' ? toJsonl(rows) : toCsv(rows, columns));
    out.push(path);
  }
  return out;
}
