// The training clips of a meta table (../shared/spec/data.md section 6). JSONL is read leniently: only the columns
// training needs are validated (zod): path (relative to the meta file's folder, or absolute), text, num_frames, height,
// width and the optional split. CSV and Parquet go through engine/data/meta-read.ts's readMetaTable (every spec column
// validated). When the table has a split column only 'train' rows are used. Errors name the file and the line (JSONL)
// or row (CSV, Parquet); `where` carries that for later errors about a clip.

import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { readMetaTable } from '../data/meta-read.js';

export interface TrainClip {
  /** Absolute path of the clip. */
  path: string;
  /** The path as the table has it (for messages). */
  rel: string;
  text: string;
  numFrames: number;
  height: number;
  width: number;
  /** 1-based line (JSONL) or data row (CSV, Parquet) of the meta file. */
  line: number;
  /** "meta.jsonl:3" or "meta.csv row 2", for messages. */
  where: string;
}

const rowSchema = z.object({
  path: z.string().min(1),
  text: z.string(),
  num_frames: z.number().int().positive(),
  height: z.number().int().positive(),
  width: z.number().int().positive(),
  split: z.string().optional(),
});

/** Reads the training rows of a JSONL meta table. */
export async function readTrainClips(meta: string): Promise<TrainClip[]> {
  const base = dirname(resolve(meta));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  if (/\.(csv|parquet)$/i.test(meta)) {
    const all = await readMetaTable(meta);
    const hasSplit = all.some((r) => r.split !== undefined);
    const train = all.flatMap((r, i) => (!hasSplit || r.split === 'train' ? [{ path: at(r.path), rel: r.path, text: r.text, numFrames: r.num_frames, height: r.height, width: r.width, line: i + 1, where: `${meta} row ${i + 1}` }] : []));
    if (!train.length) throw new Error(`${meta}: no training rows${hasSplit ? " (no row has split 'train')" : ''}`);
    return train;
  }
  if (!/\.jsonl$/i.test(meta)) throw new Error(`--data ${meta}: expected a meta table (.jsonl, .csv or .parquet, as \`parallax data synth\` and \`data curate\` write)`);
  const text = await readFile(meta, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new Error(`--data ${meta}: cannot read the meta table (${e.code === 'ENOENT' ? 'no such file' : e.message})`);
  });
  const rows: (TrainClip & { split?: string })[] = [];
  text.split('\n').forEach((raw, i) => {
    const l = raw.trim();
    if (!l) return;
    let obj: unknown;
    try {
      obj = JSON.parse(l);
    } catch {
      throw new Error(`${meta}:${i + 1}: not a JSON object (the meta table must have one JSON object per line)`);
    }
    const r = rowSchema.safeParse(obj);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new Error(`${meta}:${i + 1}: column "${issue.path.join('.') || '?'}": ${issue.message} (training needs path, text, num_frames, height and width)`);
    }
    const d = r.data;
    rows.push({ path: at(d.path), rel: d.path, text: d.text, numFrames: d.num_frames, height: d.height, width: d.width, line: i + 1, where: `${meta}:${i + 1}`, split: d.split });
  });
  const hasSplit = rows.some((r) => r.split !== undefined);
  const train = rows.filter((r) => !hasSplit || r.split === 'train').map(({ split: _s, ...c }) => c);
  if (!train.length) throw new Error(`${meta}: no training rows${hasSplit ? " (no row has split 'train')" : ''}`);
  return train;
}
