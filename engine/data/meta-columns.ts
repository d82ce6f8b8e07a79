// The meta table's columns (../shared/spec/data.md section 6) and their types: one table that the writers (Parquet
// column types, CSV column order) and the reader (engine/data/meta-read.ts) share. Open-Sora's columns first, then
// Vchitect's; then the extra columns some tables carry (synthetic data's split and attributes, dropped.* rows'
// drop_reason). Pure data, no Node imports.

/** int: a whole number (INT32 in Parquet); float: DOUBLE; json: a nested value (JSON text in CSV and Parquet). */
export type MetaColumnKind = 'string' | 'int' | 'float' | 'bool' | 'json';

export interface MetaColumn {
  name: string;
  kind: MetaColumnKind;
  /** May be null (an empty CSV field, a Parquet OPTIONAL column). */
  nullable: boolean;
  /** A reader needs it in every row (nullable score columns may be absent: they read as null). */
  required: boolean;
}

const col = (name: string, kind: MetaColumnKind, nullable = false, required = !nullable): MetaColumn => ({ name, kind, nullable, required });

/** The columns of every meta row, in the spec's order (the CSV header; MetaRow in synth-dataset.ts). */
export const META_COLUMN_TYPES: readonly MetaColumn[] = [
  col('path', 'string'), col('text', 'string'), col('num_frames', 'int'), col('fps', 'float'), col('height', 'int'), col('width', 'int'),
  col('aspect_ratio', 'float'), col('resolution', 'int'), col('text_len', 'int'),
  col('aes', 'float', true), col('flow', 'float', true), col('ocr', 'float', true),
  col('id', 'string'), col('source', 'string'), col('event', 'int'), col('start_frame', 'int'), col('end_frame', 'int'),
  col('start_time', 'float'), col('end_time', 'float'), col('static_ratio', 'float'), col('dynamic', 'bool', true),
  col('watermark_prob', 'float', true), col('valid', 'bool'),
];

/** Columns that some tables add: synthetic data's split and attributes, dropped rows' reason. */
export const EXTRA_COLUMN_TYPES: readonly MetaColumn[] = [
  col('split', 'string', false, false), col('attributes', 'json', false, false), col('drop_reason', 'string', true, false),
];

export const META_COLUMNS = META_COLUMN_TYPES.map((c) => c.name);

/** The known type of a column, or undefined for a column this table does not know. */
export function metaColumnType(name: string): MetaColumn | undefined {
  return META_COLUMN_TYPES.find((c) => c.name === name) ?? EXTRA_COLUMN_TYPES.find((c) => c.name === name);
}
