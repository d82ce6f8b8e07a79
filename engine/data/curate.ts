// `parallax data curate`: the curation stages chained over a batch of videos (Node only).
//   probe (unreadable files reported, skipped) -> analyze (one streamed decode at PySceneDetect's analysis size;
//   scene kernel on the GPU or the CPU reference) -> shots -> events (optional: stitching by head/tail embeddings,
//   a second streamed decode; Panda-70M's transition, still-event and short-event rules as options) -> static filter -> motion (optional: optical flow score, dynamic degree, min flow)
//   -> model scores (optional, per configured model: aesthetic, watermark, text; the rest noted as skipped)
//   -> export of the kept clips ->
//   meta.jsonl (kept clips, the columns of MetaRow; .csv / .parquet beside it on request), dropped.jsonl (every dropped scene with its reason), report.json.
// Resumable: each finished video leaves state/{id}.json (its rows, keyed by the file's size and mtime and the
// options); a rerun reuses those and only processes the rest. Memory is bounded by one decode chunk per video.

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Device } from '../gpu/device.js';
import { analysisSize, analyzeVideo } from './analyze.js';
import type { Captioner } from './caption.js';
import { eventRules, shotEdgeEmbeddings, stitchEvents, type VideoEmbedder } from './events.js';
import { histogram, histogramPng, type Histogram } from './histogram.js';
import { forEachFrameGroup } from './frame-groups.js';
import { clipMotions } from './motion.js';
import { aestheticFrames, edgeMiddleFrames, ocrRule, textRatio, type FrameScorer, type TextDetector } from './scores.js';
import { clipName, exportClip } from './export.js';
import { probeVideos, type ProbeFailure, type ProbeRecord } from './probe.js';
import { detectCuts, needsEdges, scenesFromCuts, type ShotOptions } from './shots.js';
import { staticRatio, type StaticMode } from './static.js';
import { writeMetaTable, type MetaFormat } from './meta-table.js';
import { META_COLUMNS } from './meta-columns.js';
import type { MetaRow } from './synth-dataset.js';

export type DropReason = 'transition' | 'too_short' | 'static' | 'still_event' | 'short_event' | 'low_flow' | 'low_aesthetic' | 'watermark' | 'text';
const DROP_REASONS: DropReason[] = ['transition', 'too_short', 'static', 'still_event', 'short_event', 'low_flow', 'low_aesthetic', 'watermark', 'text'];

/** A scene's row: the meta columns plus why it was dropped (dropped.jsonl only). */
export interface CuratedRow extends MetaRow {
  drop_reason?: DropReason;
}

export interface CurateOptions {
  inputs: readonly string[];
  out: string;
  backend: 'gpu' | 'cpu';
  device?: Device;
  shots?: ShotOptions;
  /** Static filter: per-pair threshold (0.9), keep when the static fraction < maxStaticRatio (0.3), mode. */
  staticThreshold?: number;
  maxStaticRatio?: number;
  staticMode?: StaticMode;
  /** Scenes shorter than this are dropped (default 16 frames). */
  minFrames?: number;
  /** Panda-70M: shots longer than this many seconds are split every forceCutSeconds (off by default). */
  maxShotSeconds?: number;
  forceCutSeconds?: number;
  crf?: number;
  preset?: string;
  /** Export the kept clips scaled to this size (both even; e.g. multiples of the VAE scale x patch for training). */
  exportSize?: { width: number; height: number };
  chunkFrames?: number;
  /** Ignore finished-video state and redo everything. */
  force?: boolean;
  /**
   * Event stitching of adjacent shots (none: every shot is its own event), with Panda-70M's rules as options (off when
   * undefined): drop transition shots (|head - tail| > transitionDistance, Panda-70M 1.0), still events
   * (|head of the first shot - tail of the last| < stillDistance, 0.15) and events shorter than minEventSeconds (2).
   */
  events?: { embedder: VideoEmbedder; threshold?: number; transitionDistance?: number; stillDistance?: number; minEventSeconds?: number };
  /** Optical-flow motion of the clips that pass the other filters: fills flow and dynamic; drops flow < minFlow. */
  motion?: { minFlow?: number; maxWidth?: number; maxPairs?: number };
  /** Model scores; a stage without a model is skipped with a note in the report. */
  scores?: { aesthetic?: FrameScorer; minAesthetic?: number; watermark?: FrameScorer; maxWatermark?: number; text?: TextDetector };
  /** Meta table formats besides the canonical JSONL (default none). */
  formats?: MetaFormat[];
  /** Captions for the kept clips (none: text stays ''). */
  captioner?: Captioner;
  onProgress?: (e: CurateProgress) => void;
}

export type CurateProgress =
  | { stage: 'probe'; done: number; total: number }
  | { stage: 'analyze'; video: string; done: number; total: number }
  | { stage: 'events'; video: string; done: number; total: number }
  | { stage: 'motion'; video: string; done: number; total: number }
  | { stage: 'scores'; video: string; done: number; total: number }
  | { stage: 'export'; video: string; done: number; total: number }
  | { stage: 'video'; video: string; done: number; total: number; resumed: boolean };

export interface CurateReport {
  videos: { inputs: number; probed: number; failed: number; processed: number; resumed: number };
  failures: ProbeFailure[];
  scenes: number;
  kept: number;
  dropped: Record<DropReason, number>;
  keptFrames: number;
  /** Stages that did not run, and why. */
  notes: string[];
  /** Static ratio histogram over all scenes, 10 bins on [0, 1]. */
  staticHistogram: number[];
  /** Score histograms (static ratio; flow when measured), each also drawn as report-{name}.png. */
  histograms: Record<string, Histogram & { png: string }>;
  options: Record<string, unknown>;
  metaPath: string;
  droppedPath: string;
}

interface VideoState {
  key: string;
  rows: CuratedRow[];
}

function settings(o: CurateOptions): Record<string, unknown> {
  return {
    shots: { detector: 'content', ...o.shots }, staticThreshold: o.staticThreshold ?? 0.9, maxStaticRatio: o.maxStaticRatio ?? 0.3, staticMode: o.staticMode ?? 'mad',
    minFrames: o.minFrames ?? 16, captioner: o.captioner?.name ?? null,
    events: o.events ? { embedder: o.events.embedder.name, threshold: o.events.threshold ?? 0.6, transitionDistance: o.events.transitionDistance ?? null, stillDistance: o.events.stillDistance ?? null, minEventSeconds: o.events.minEventSeconds ?? null } : null,
    scores: {
      aesthetic: o.scores?.aesthetic ? { model: o.scores.aesthetic.name, min: o.scores.minAesthetic ?? null } : null,
      watermark: o.scores?.watermark ? { model: o.scores.watermark.name, max: o.scores.maxWatermark ?? 0.5 } : null,
      text: o.scores?.text ? { model: o.scores.text.name } : null,
    },
    motion: o.motion ? { minFlow: o.motion.minFlow ?? 0, maxWidth: o.motion.maxWidth ?? 128, maxPairs: o.motion.maxPairs ?? 16 } : null, maxShotSeconds: o.maxShotSeconds ?? null, forceCutSeconds: o.forceCutSeconds ?? null, crf: o.crf ?? 18,
    exportSize: o.exportSize ?? null,
  };
}

async function stateKey(r: ProbeRecord, opts: Record<string, unknown>): Promise<string> {
  const st = await stat(r.path);
  return createHash('sha256').update(JSON.stringify({ path: r.path, size: st.size, mtime: st.mtimeMs, opts })).digest('hex').slice(0, 16);
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** The meta columns in the spec's order (CSV header); their types are in meta-columns.ts. */
export { META_COLUMNS };

/** One video: analyse, cut into scenes, filter, export the kept clips; returns every scene's row. */
async function curateVideo(r: ProbeRecord, o: CurateOptions, opts: Record<string, unknown>): Promise<CuratedRow[]> {
  const size = analysisSize(r.width, r.height);
  const series = await analyzeVideo(r.path, {
    ...size, backend: o.backend, device: o.device, chunkFrames: o.chunkFrames, edges: needsEdges(o.shots?.weights) && o.shots?.detector !== 'threshold',
    onFrames: (done) => o.onProgress?.({ stage: 'analyze', video: r.id, done: Math.min(done, r.numFrames), total: r.numFrames }),
  });
  const cuts = detectCuts(series, o.shots);
  const fps = r.fps;
  const scenes = scenesFromCuts(cuts, series.frames, {
    maxShotFrames: o.maxShotSeconds ? Math.round(o.maxShotSeconds * fps) : undefined,
    forceCutFrames: o.forceCutSeconds ? Math.round(o.forceCutSeconds * fps) : undefined,
  });
  let events = scenes.map((_, k) => k);
  let transition = scenes.map(() => false);
  let eventDrop: ('still_event' | 'short_event' | undefined)[] = scenes.map(() => undefined);
  const ev = o.events;
  const rules = ev && (ev.transitionDistance !== undefined || ev.stillDistance !== undefined || ev.minEventSeconds !== undefined);
  if (ev && (scenes.length > 1 || rules)) {
    o.onProgress?.({ stage: 'events', video: r.id, done: 0, total: 1 });
    const { head, tail } = await shotEdgeEmbeddings(r.path, scenes, ev.embedder, o.chunkFrames, r);
    const st = stitchEvents(scenes, head, tail, ev.threshold ?? 0.6, { transitionDistance: ev.transitionDistance });
    events = st.events;
    transition = st.transition;
    eventDrop = eventRules(scenes, st, head, tail, { stillDistance: ev.stillDistance, minEventFrames: ev.minEventSeconds !== undefined ? ev.minEventSeconds * r.fps : undefined });
    o.onProgress?.({ stage: 'events', video: r.id, done: 1, total: 1 });
  }
  const minFrames = opts.minFrames as number;
  const maxStatic = opts.maxStaticRatio as number;
  const w = o.exportSize?.width ?? r.width - (r.width % 2);
  const h = o.exportSize?.height ?? r.height - (r.height % 2);
  const rows: CuratedRow[] = scenes.map(([start, end], k) => {
    const n = end - start;
    const sr = staticRatio(series, start, end, { threshold: opts.staticThreshold as number, mode: opts.staticMode as StaticMode });
    const drop: DropReason | undefined = transition[k] ? 'transition' : n < minFrames ? 'too_short' : sr >= maxStatic ? 'static' : eventDrop[k];
    const row: CuratedRow = {
      path: drop ? '' : `clips/${clipName(r.id, k)}`,
      text: '', num_frames: n, fps, height: h, width: w, aspect_ratio: h / w, resolution: h * w, text_len: 0,
      aes: null, flow: null, ocr: null,
      id: `${r.id}_scene-${k}`, source: r.path, event: events[k]!,
      start_frame: start, end_frame: end, start_time: start / fps, end_time: end / fps,
      static_ratio: sr, dynamic: null, watermark_prob: null, valid: !drop,
    };
    if (drop) row.drop_reason = drop;
    return row;
  });
  if (o.motion) {
    const m = opts.motion as { minFlow: number; maxWidth: number; maxPairs: number };
    const cand = rows.filter((x) => x.valid);
    o.onProgress?.({ stage: 'motion', video: r.id, done: 0, total: cand.length });
    const msize = size.width > m.maxWidth ? { width: m.maxWidth, height: Math.max(1, Math.round((size.height * m.maxWidth) / size.width)) } : size;
    const res = await clipMotions(r.path, cand.map((x) => [x.start_frame, x.end_frame]), { ...msize, fps, backend: o.backend, device: o.device, maxPairs: m.maxPairs });
    cand.forEach((row, i) => {
      row.flow = res[i]!.flow;
      row.dynamic = res[i]!.dynamic;
      if (row.flow < m.minFlow) drop(row, 'low_flow');
    });
    o.onProgress?.({ stage: 'motion', video: r.id, done: cand.length, total: cand.length });
  }
  await scoreClips(r, o, rows);
  const kept = rows.filter((x) => x.valid);
  if (o.captioner) {
    for (const row of kept) {
      row.text = (await o.captioner.caption({ source: r.path, startFrame: row.start_frame, endFrame: row.end_frame, fps })) ?? '';
      row.text_len = row.text ? row.text.split(/\s+/).length : 0;
    }
  }
  let done = 0;
  for (const row of kept) {
    await exportClip({ input: r.path, out: join(o.out, row.path), startFrame: row.start_frame, numFrames: row.num_frames, fps, crf: o.crf, preset: o.preset, size: o.exportSize });
    o.onProgress?.({ stage: 'export', video: r.id, done: ++done, total: kept.length });
  }
  return rows;
}

function drop(row: CuratedRow, why: DropReason): void {
  row.valid = false;
  row.path = '';
  row.drop_reason = why;
}

/** The model-score stages on the clips still valid: aes, watermark_prob, ocr and their filters. */
async function scoreClips(r: ProbeRecord, o: CurateOptions, rows: CuratedRow[]): Promise<void> {
  const s = o.scores;
  if (!s || !(s.aesthetic || s.watermark || s.text)) return;
  const cand = rows.filter((x) => x.valid);
  if (!cand.length) return;
  o.onProgress?.({ stage: 'scores', video: r.id, done: 0, total: cand.length });
  const per = async (m: { width: number; height: number }, frames: (a: number, b: number) => number[], fn: (row: CuratedRow, f: Uint8Array[]) => Promise<void>) =>
    forEachFrameGroup(r.path, cand.map((x) => frames(x.start_frame, x.end_frame)), { width: m.width, height: m.height, chunkFrames: o.chunkFrames }, (g, f) => fn(cand[g]!, f));
  if (s.aesthetic) {
    const m = s.aesthetic;
    // A model that resizes itself (CLIP) is given the frames at the size it asks for (the display size for CLIP).
    const size = m.frameSize ? m.frameSize(r.width, r.height) : { width: m.width, height: m.height };
    await per(size, aestheticFrames, async (row, f) => {
      const v = await m.score(f, size);
      row.aes = v.reduce((a, b) => a + b, 0) / v.length;
    });
  }
  if (s.watermark) {
    const m = s.watermark;
    // LAION's detector resizes the display-size frame to 256x256 itself (PIL bilinear), as it was trained.
    const size = m.frameSize ? m.frameSize(r.width, r.height) : { width: m.width, height: m.height };
    await per(size, edgeMiddleFrames, async (row, f) => {
      row.watermark_prob = Math.max(...(await m.score(f, size)));
    });
  }
  const ocrDrop = new Set<CuratedRow>();
  if (s.text) {
    const m = s.text;
    // A detector that resizes by itself (CRAFT) gets the frames at the size it asks for (the display size).
    const size = m.frameSize ? m.frameSize(r.width, r.height) : { width: m.width, height: m.height };
    await per(size, edgeMiddleFrames, async (row, f) => {
      const ratios: number[] = [];
      for (const fr of f) ratios.push(textRatio(await m.detect(fr, size), size.width, size.height));
      const res = ocrRule(ratios);
      row.ocr = res.ocr;
      if (res.drop) ocrDrop.add(row);
    });
  }
  for (const row of cand) {
    if (s.minAesthetic !== undefined && row.aes !== null && row.aes < s.minAesthetic) drop(row, 'low_aesthetic');
    else if (row.watermark_prob !== null && row.watermark_prob >= (s.maxWatermark ?? 0.5)) drop(row, 'watermark');
    else if (ocrDrop.has(row)) drop(row, 'text');
  }
  o.onProgress?.({ stage: 'scores', video: r.id, done: cand.length, total: cand.length });
}

export async function curate(o: CurateOptions): Promise<CurateReport> {
  if (!o.inputs.length) throw new Error('curate: no input videos given');
  if (o.backend === 'gpu' && !o.device) throw new Error('curate: the gpu backend needs a device');
  const es = o.exportSize;
  if (es && [es.width, es.height].some((v) => !Number.isInteger(v) || v < 2 || v % 2)) throw new Error(`curate: the export size must be two even positive integers (H.264 yuv420p), got ${es.width}x${es.height}`);
  const opts = settings(o);
  const stateDir = join(o.out, 'state');
  await mkdir(join(o.out, 'clips'), { recursive: true });
  await mkdir(stateDir, { recursive: true });
  const { records, failures } = await probeVideos(o.inputs, (done, total) => o.onProgress?.({ stage: 'probe', done, total }));
  const probeFailures = failures.length;
  const all: CuratedRow[] = [];
  let resumed = 0;
  let i = 0;
  for (const r of records) {
    const key = await stateKey(r, opts);
    const statePath = join(stateDir, `${r.id}.json`);
    let state: VideoState | null = null;
    try {
      state = JSON.parse(await readFile(statePath, 'utf8')) as VideoState;
    } catch {
      state = null;
    }
    const reuse = !o.force && state?.key === key;
    if (!reuse && state) for (const row of state.rows) if (row.path) await rm(join(o.out, row.path), { force: true });
    let rows: CuratedRow[];
    if (reuse) {
      rows = state!.rows;
      resumed++;
    } else {
      try {
        rows = await curateVideo(r, o, opts);
      } catch (e) {
        // A video that probes but fails later (corrupt stream, ffmpeg error) is reported, never fatal for the batch.
        if (/not found \(tried/.test((e as Error).message)) throw e;
        failures.push({ path: r.path, error: (e as Error).message });
        await rm(statePath, { force: true });
        for (const f of await readdir(join(o.out, 'clips')).catch(() => [] as string[])) if (f.startsWith(`${r.id}_scene-`)) await rm(join(o.out, 'clips', f), { force: true });
        o.onProgress?.({ stage: 'video', video: r.id, done: ++i, total: records.length, resumed: false });
        continue;
      }
      await writeAtomic(statePath, JSON.stringify({ key, rows } satisfies VideoState));
    }
    all.push(...rows);
    o.onProgress?.({ stage: 'video', video: r.id, done: ++i, total: records.length, resumed: reuse });
  }
  const failedLater = failures.length - probeFailures;
  const kept = all.filter((x) => x.valid);
  const dropped = all.filter((x) => !x.valid);
  const metaPath = join(o.out, 'meta.jsonl');
  const droppedPath = join(o.out, 'dropped.jsonl');
  await writeMetaTable(join(o.out, 'meta'), kept.map(({ drop_reason: _, ...row }) => row), o.formats, META_COLUMNS);
  await writeMetaTable(join(o.out, 'dropped'), dropped as unknown as Record<string, unknown>[], o.formats, [...META_COLUMNS, 'drop_reason']);
  const hist = histogram(all.map((x) => x.static_ratio), 10, 0, 1).counts;
  const histograms: CurateReport['histograms'] = {};
  const draw = async (name: string, title: string, h: Histogram, marker?: number) => {
    const png = `report-${name}.png`;
    await writeFile(join(o.out, png), histogramPng(h, { width: 360, height: 200, marker, title }));
    histograms[name] = { ...h, png };
  };
  const maxStatic = opts.maxStaticRatio as number;
  await draw('static_ratio', `static_ratio of ${all.length} scenes, red: max ${maxStatic}`, histogram(all.map((x) => x.static_ratio), 20, 0, 1), maxStatic);
  const flows = all.map((x) => x.flow).filter((f): f is number => f !== null);
  const minFlow = (opts.motion as { minFlow: number } | null)?.minFlow;
  if (flows.length) await draw('flow', `flow px/frame of ${flows.length} clips${minFlow ? `, red: min ${minFlow}` : ''}`, histogram(flows, 20, 0, Math.max(1, Math.ceil(Math.max(...flows)))), minFlow || undefined);
  const report: CurateReport = {
    videos: { inputs: o.inputs.length, probed: records.length, failed: failures.length, processed: records.length - resumed - failedLater, resumed },
    failures,
    scenes: all.length,
    kept: kept.length,
    dropped: Object.fromEntries(DROP_REASONS.map((k) => [k, dropped.filter((x) => x.drop_reason === k).length])) as Record<DropReason, number>,
    notes: [
      ...(o.motion ? [] : ['motion: skipped (flow and dynamic are null; --motion measures them)']),
      ...(['aesthetic', 'watermark', 'text'] as const).filter((k) => !o.scores?.[k]).map((k) => `${k === 'text' ? 'text (OCR)' : k} score: skipped (no model configured${k === 'aesthetic' ? ': --aesthetic-model DIR' : k === 'watermark' ? ': --watermark FILE' : ': --text-detector FILE'}; the column is null)`),
      ...(o.captioner ? [] : ['captions: none configured (text is empty)']),
    ],
    keptFrames: kept.reduce((a, x) => a + x.num_frames, 0),
    staticHistogram: hist,
    histograms,
    options: { backend: o.backend, ...opts },
    metaPath,
    droppedPath,
  };
  await writeAtomic(join(o.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}
