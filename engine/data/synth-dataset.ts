// Writes a synthetic data set to disk (Node only): each clip as an H.264 MP4 under clips/, one meta row per clip in
// meta.jsonl with the columns of ../shared/spec/data.md section 6 (plus the clip's attributes; meta.csv and
// meta.parquet beside it on request), and heldout.jsonl with the held-out prompts (combinations never shown in
// training) for evaluation.

import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeMp4 } from '../video/mp4.js';
import { META_COLUMNS } from './meta-columns.js';
import { writeMetaTable, type MetaFormat } from './meta-table.js';
import { caption, heldOutCombinations, synthClips, validateSize, type Attributes, type SynthClip, type SynthSize } from './synth.js';

/** One row of meta.jsonl: Open-Sora's columns, then Vchitect's (the curation pipeline writes the same columns). */
export interface MetaRow {
  path: string;
  text: string;
  num_frames: number;
  fps: number;
  height: number;
  width: number;
  aspect_ratio: number;
  resolution: number;
  text_len: number;
  /** Model scores: not computed for synthetic clips (null). */
  aes: number | null;
  /** Mean motion in pixels per frame (known exactly for synthetic clips; null when not measured). */
  flow: number | null;
  /** Text-area score (null when no OCR stage ran). */
  ocr: number | null;
  id: string;
  source: string;
  event: number;
  start_frame: number;
  end_frame: number;
  start_time: number;
  end_time: number;
  static_ratio: number;
  /** VBench dynamic degree (null when not measured). */
  dynamic: boolean | null;
  watermark_prob: number | null;
  valid: boolean;
}

/** A synthetic clip's row: the meta columns plus its split and attributes. */
export interface SynthMetaRow extends MetaRow {
  split: 'train' | 'heldout';
  attributes: Attributes;
}

export interface WriteSynthOptions extends SynthSize {
  out: string;
  count: number;
  seed: number;
  fps: number;
  /** Also render this many clips of the held-out combinations (references for evaluation). Default 0. */
  heldoutCount?: number;
  /** Meta table formats besides the canonical meta.jsonl (csv, parquet). Default none. */
  formats?: MetaFormat[];
  onClip?: (done: number, total: number) => void;
}

export interface SynthSummary {
  train: number;
  heldoutClips: number;
  heldoutPrompts: number;
  metaPath: string;
  heldoutPath: string;
}

function metaRow(c: SynthClip, fps: number, split: 'train' | 'heldout', path: string): SynthMetaRow {
  const n = c.frames.length;
  return {
    path,
    text: c.caption,
    num_frames: n,
    fps,
    height: c.height,
    width: c.width,
    aspect_ratio: c.height / c.width,
    resolution: c.height * c.width,
    text_len: c.caption.split(/\s+/).length,
    aes: null,
    flow: c.geometry.speed,
    ocr: 0,
    id: c.id,
    source: 'parallax-synth',
    event: 0,
    start_frame: 0,
    end_frame: n,
    start_time: 0,
    end_time: n / fps,
    static_ratio: 0,
    dynamic: c.geometry.speed > 0,
    watermark_prob: null,
    valid: true,
    split,
    attributes: c.attributes,
  };
}

/** Writes the data set; the meta files are written last (via a temporary name), so a partial run leaves none. */
export async function writeSynthDataset(o: WriteSynthOptions): Promise<SynthSummary> {
  validateSize(o);
  if (!Number.isInteger(o.count) || o.count < 1) throw new Error(`--count must be a positive integer, got ${o.count}`);
  if (!(o.fps > 0)) throw new Error(`--fps must be > 0, got ${o.fps}`);
  const clipsDir = join(o.out, 'clips');
  await mkdir(clipsDir, { recursive: true });
  const heldCount = o.heldoutCount ?? 0;
  const total = o.count + heldCount;
  const rows: SynthMetaRow[] = [];
  let done = 0;
  for (const [split, count] of [['train', o.count], ['heldout', heldCount]] as const) {
    if (!count) continue;
    for (const clip of synthClips({ ...o, count, split })) {
      const rel = `clips/${clip.id}.mp4`;
      await writeMp4(join(o.out, rel), clip.frames, { width: clip.width, height: clip.height, fps: o.fps, crf: 12 });
      rows.push(metaRow(clip, o.fps, split, rel));
      o.onClip?.(++done, total);
    }
  }
  const metaPath = join(o.out, 'meta.jsonl');
  const heldoutPath = join(o.out, 'heldout.jsonl');
  const prompts = heldOutCombinations().map((a) => JSON.stringify({ text: caption(a), attributes: a }));
  await writeFile(`${heldoutPath}.tmp`, prompts.join('\n') + '\n');
  await rename(`${heldoutPath}.tmp`, heldoutPath);
  await writeMetaTable(join(o.out, 'meta'), rows as unknown as Record<string, unknown>[], o.formats ?? [], [...META_COLUMNS, 'split', 'attributes']);
  return { train: o.count, heldoutClips: heldCount, heldoutPrompts: prompts.length, metaPath, heldoutPath };
}
