// Reads a meta table back (what training consumes): `.jsonl` (one object per line), `.csv` (RFC 4180 with a header
// line, as meta-table.ts writes it and pandas' to_csv does) or `.parquet` (hyparquet). Every row is validated with
// zod against the columns of ../shared/spec/data.md section 6 (types in meta-columns.ts), plus the synthetic data's
// `split` and `attributes` and dropped rows' `drop_reason` where present; other columns are ignored. The nullable
// score columns (aes, flow, ocr, dynamic, watermark_prob) may be absent and then read as null. Errors name the file,
// the line (JSONL, CSV) or row (Parquet) and the column.

import { readFile } from 'node:fs/promises';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { z } from 'zod';
import { META_COLUMN_TYPES, metaColumnType, type MetaColumn } from './meta-columns.js';
import { BACKGROUND_COLOURS, DIRECTIONS, SHAPE_COLOURS, SHAPES, type Attributes } from './synth.js';
import type { MetaRow as MetaColumns } from './synth-dataset.js';

/** One validated row: the spec's columns, plus a synthetic clip's split and attributes and a dropped row's reason. */
export type MetaRow = MetaColumns & { split?: 'train' | 'heldout'; attributes?: Attributes; drop_reason?: string | null };

const count = z.number().int().nonnegative();
const score = z.number().nullable().default(null);
const names = <T extends string>(o: Record<T, unknown>) => Object.keys(o) as [T, ...T[]];

export const metaRowSchema = z.object({
  path: z.string(),
  text: z.string(),
  num_frames: z.number().int().positive(),
  fps: z.number().positive(),
  height: z.number().int().positive(),
  width: z.number().int().positive(),
  aspect_ratio: z.number().positive(),
  resolution: z.number().int().positive(),
  text_len: count,
  aes: score,
  flow: score,
  ocr: score,
  id: z.string(),
  source: z.string(),
  event: count,
  start_frame: count,
  end_frame: count,
  start_time: z.number().nonnegative(),
  end_time: z.number().nonnegative(),
  static_ratio: z.number().min(0).max(1),
  dynamic: z.boolean().nullable().default(null),
  watermark_prob: score,
  valid: z.boolean(),
  split: z.enum(['train', 'heldout']).optional(),
  attributes: z.object({ colour: z.enum(names(SHAPE_COLOURS)), shape: z.enum(SHAPES), direction: z.enum(DIRECTIONS), background: z.enum(names(BACKGROUND_COLOURS)) }).optional(),
  drop_reason: z.string().nullable().optional(),
}) satisfies z.ZodType<MetaRow, unknown>;

const REQUIRED = META_COLUMN_TYPES.filter((c) => c.required).map((c) => c.name);

function show(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = typeof v === 'bigint' ? `${v}` : JSON.stringify(v);
  return `got ${s && s.length > 60 ? `${s.slice(0, 57)}...` : s}`;
}

/** Validates one row; `where` is "line 3" or "row 3". */
function validate(file: string, where: string, raw: Record<string, unknown>): MetaRow {
  const r = metaRowSchema.safeParse(raw);
  if (r.success) {
    if (r.data.end_frame < r.data.start_frame) throw new Error(`${file} ${where}: end_frame ${r.data.end_frame} is before start_frame ${r.data.start_frame}`);
    return r.data;
  }
  const msgs = r.error.issues.slice(0, 3).map((i) => {
    const col = String(i.path[0] ?? '');
    const v = col ? raw[col] : raw;
    const field = i.path.map(String).join('.');
    return v === undefined && i.path.length === 1 ? `column '${col}' is missing` : `column '${field}': ${i.message} (${show(i.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown> | undefined)?.[k as PropertyKey], raw))})`;
  });
  const more = r.error.issues.length > 3 ? ` (and ${r.error.issues.length - 3} more)` : '';
  throw new Error(`${file} ${where}: ${msgs.join('; ')}${more}`);
}

function checkColumns(file: string, columns: readonly string[]): void {
  const missing = REQUIRED.filter((c) => !columns.includes(c));
  if (missing.length) throw new Error(`${file}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `'${c}'`).join(', ')} (every meta table needs ${REQUIRED.join(', ')}; see docs/data.md "The meta table")`);
}

function readJsonl(file: string, text: string): MetaRow[] {
  const rows: MetaRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file} line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${file} line ${i + 1}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
    rows.push(validate(file, `line ${i + 1}`, v as Record<string, unknown>));
  });
  return rows;
}

/** RFC 4180 records with the line each starts on (CRLF or LF line ends; quoted fields may span lines). */
export function parseCsv(file: string, text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let start = 1;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let atFieldStart = true;
  const endRecord = () => {
    fields.push(field);
    if (!(fields.length === 1 && fields[0] === '')) out.push({ line: start, fields });
    fields = [];
    field = '';
    atFieldStart = true;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (atFieldStart && c === '"') {
      const open = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`${file} line ${open}: a quoted field is never closed`);
        const q = text[i]!;
        if (q === '"') {
          if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        if (q === '\n') line++;
        field += q;
        i++;
      }
      const n = text[i];
      if (n !== undefined && n !== ',' && n !== '\n' && n !== '\r') throw new Error(`${file} line ${line}: text after a closing quote (a quote inside a field must be doubled)`);
      atFieldStart = false;
      continue;
    }
    atFieldStart = false;
    if (c === ',') { fields.push(field); field = ''; atFieldStart = true; i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') i++;
    if (c === '\n' || c === '\r') { endRecord(); line++; start = line; i++; continue; }
    if (c === '"') throw new Error(`${file} line ${line}: a quote inside an unquoted field`);
    field += c;
    i++;
  }
  if (field || fields.length) endRecord();
  return out;
}

/** A CSV field as its column's type ('' is null for nullable columns, absent for optional ones). */
function fromCsv(c: MetaColumn | undefined, s: string): unknown {
  if (!c) return s;
  if (s === '' && (c.nullable || !c.required)) return c.nullable ? null : undefined;
  switch (c.kind) {
    case 'string':
      return s;
    case 'int':
      return /^\s*[+-]?\d+\s*$/.test(s) ? Number(s) : s;
    case 'float': {
      const v = s.trim() === '' ? NaN : Number(s);
      return Number.isFinite(v) ? v : s;
    }
    case 'bool':
      return /^true$/i.test(s) ? true : /^false$/i.test(s) ? false : s;
    case 'json':
      try {
        return JSON.parse(s) as unknown;
      } catch {
        return s;
      }
  }
}

function readCsv(file: string, text: string): MetaRow[] {
  const [head, ...recs] = parseCsv(file, text);
  const cols = head?.fields ?? [];
  const dup = cols.find((c, i) => cols.indexOf(c) !== i);
  if (dup !== undefined) throw new Error(`${file} line 1: column '${dup}' appears twice in the header`);
  checkColumns(file, cols);
  const types = cols.map((c) => metaColumnType(c));
  return recs.map(({ line, fields }) => {
    if (fields.length !== cols.length) throw new Error(`${file} line ${line}: ${fields.length} fields, but the header has ${cols.length} columns`);
    const raw: Record<string, unknown> = {};
    cols.forEach((c, k) => {
      const v = fromCsv(types[k], fields[k]!);
      if (v !== undefined) raw[c] = v;
    });
    return validate(file, `line ${line}`, raw);
  });
}

async function readParquet(file: string, bytes: Uint8Array): Promise<MetaRow[]> {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let objs: Record<string, unknown>[];
  let cols: string[];
  try {
    const meta = parquetMetadata(buf);
    cols = meta.schema.slice(1).filter((s) => !s.num_children).map((s) => s.name);
    checkColumns(file, cols);
    objs = await parquetReadObjects({ file: buf, metadata: meta });
  } catch (e) {
    if ((e as Error).message.startsWith(`${file}:`)) throw e;
    throw new Error(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
  return objs.map((o, i) => {
    const raw: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'bigint') raw[k] = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      else if (v === null && metaColumnType(k) && !metaColumnType(k)!.required && !metaColumnType(k)!.nullable) continue;
      else raw[k] = v;
    }
    return validate(file, `row ${i + 1}`, raw);
  });
}

/** The rows of a meta table (.jsonl, .csv or .parquet), validated; throws naming the file, line/row and column. */
export async function readMetaTable(path: string): Promise<MetaRow[]> {
  const ext = /\.(jsonl|ndjson|csv|parquet)$/i.exec(path)?.[1]?.toLowerCase();
  if (!ext) throw new Error(`${path}: unknown meta table format (expected a .jsonl, .csv or .parquet file)`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read the meta table (${(e as Error).message})`);
  }
  if (ext === 'parquet') return readParquet(path, bytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${path}: not UTF-8 text (a ${ext.toUpperCase()} meta table must be UTF-8)`);
  }
  return ext === 'csv' ? readCsv(path, text) : readJsonl(path, text);
}
