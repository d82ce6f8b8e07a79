// Meta table files: JSONL (canonical, one object per line), CSV (RFC 4180: a header of the columns, fields with
// a comma, quote or line break quoted, quotes doubled; null -> empty field; nested values as JSON) and Parquet
// (hyparquet-writer; the column types of meta-columns.ts: INT32, DOUBLE, BOOLEAN, UTF8 strings, JSON for nested
// values; the spec's nullable score columns OPTIONAL, the rest REQUIRED). Read back by meta-read.ts.
import { rename, writeFile } from 'node:fs/promises';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { metaColumnType, type MetaColumnKind } from './meta-columns.js';

export type MetaFormat = 'jsonl' | 'csv' | 'parquet';

export function toJsonl(rows: readonly object[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function columnsOf(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string[] {
  const cols = columns ? [...columns] : [];
  if (!columns) for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  return cols;
}

/** CSV of the rows; columns default to the first row's keys in order, then any others as they appear. */
export function toCsv(rows: readonly Record<string, unknown>[], columns?: readonly string[]): string {
  const cols = columnsOf(rows, columns);
  const lines = [cols.map(csvField).join(','), ...rows.map((r) => cols.map((c) => csvField(r[c])).join(','))];
  return lines.join('\r\n') + '\r\n';
}

const PARQUET_TYPE = { string: 'STRING', int: 'INT32', float: 'DOUBLE', bool: 'BOOLEAN', json: 'JSON' } as const;

/** A column this table does not know: typed by its values (all booleans, all numbers, all strings, else JSON). */
function guessKind(values: readonly unknown[]): MetaColumnKind {
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length && present.every((v) => typeof v === 'boolean')) return 'bool';
  if (present.length && present.every((v) => typeof v === 'number')) return 'float';
  if (present.every((v) => typeof v === 'string')) return 'string';
  return 'json';
}

/** Parquet bytes of the rows: known columns with their types (meta-columns.ts), others typed by their values. */
export function toParquet(rows: readonly Record<string, unknown>[], columns?: readonly string[]): ArrayBuffer {
  const cols = columnsOf(rows, columns);
  if (!cols.length) throw new Error('meta table: a Parquet file needs at least one column (pass the columns when there are no rows)');
  return parquetWriteBuffer({
    columnData: cols.map((name) => {
      const data = rows.map((r) => r[name] ?? null);
      const known = metaColumnType(name);
      const kind = known?.kind ?? guessKind(data);
      const nullable = !known?.required || known.nullable;
      data.forEach((v, i) => {
        const bad =
          v === null ? !nullable :
          kind === 'int' ? !(Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31) :
          kind === 'float' ? typeof v !== 'number' :
          kind === 'bool' ? typeof v !== 'boolean' :
          kind === 'string' ? typeof v !== 'string' : false;
        if (bad) throw new Error(`meta table: row ${i + 1}, column '${name}': expected ${nullable ? 'null or ' : ''}${kind === 'int' ? 'a 32-bit integer' : kind === 'float' ? 'a number' : kind === 'bool' ? 'a boolean' : 'a string'}, got ${JSON.stringify(v)}`);
      });
      return { name, data, type: PARQUET_TYPE[kind], nullable };
    }),
    createdBy: 'parallax meta table (hyparquet-writer)',
  });
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFile(`${path}.tmp`, data);
  await rename(`${path}.tmp`, path);
}

/** Writes `{base}.jsonl` and the other formats asked for; returns the paths written. */
export async function writeMetaTable(base: string, rows: readonly Record<string, unknown>[], formats: readonly MetaFormat[] = ['jsonl'], columns?: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of new Set<MetaFormat>(['jsonl', ...formats])) {
    const path = `${base}.${f}`;
    await writeAtomic(path, f === 'jsonl' ? toJsonl(rows) : f === 'csv' ? toCsv(rows, columns) : new Uint8Array(toParquet(rows, columns)));
    out.push(path);
  }
  return out;
}
