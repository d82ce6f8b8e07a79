// The curation pipeline end to end: "raw" videos built from the synthetic generator's captioned clips (cuts between
// clips on different backgrounds), a looped still and a too-short tail go in; clips + meta.jsonl come out with the
// spec's columns, the still dropped as static, the tail as too short, captions from the generator's metadata,
// clip frame counts equal to end - start (ffprobe), an unreadable input reported and skipped, and a rerun that
// skips finished videos (or redoes them when the options change). Panda-70M's event rules with a stub embedder.
import { stat, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentCaptioner, stripOpeners, type CaptionSegment } from '../../../engine/data/caption.js';
import { curate, type CuratedRow } from '../../../engine/data/curate.js';
import { ColourHistogramEmbedder } from '../../../engine/data/events.js';
import { readMetaTable } from '../../../engine/data/meta-read.js';
import { movingClips } from '../../../engine/data/synth-raw.js';
import type { SynthClip } from '../../../engine/data/synth.js';
import { writeMp4 } from '../../../engine/video/mp4.js';
import { countFrames } from '../../helpers/lavfi.js';
import { testDevice } from '../../helpers/gpu.js';

const W = 64, H = 48, FPS = 8;

/** Moving clips (clearly not static), each on another background than the one before. */
function pickClips(n: number): SynthClip[] {
  const out: SynthClip[] = [];
  for (const c of movingClips({ width: W, height: H, frames: 20, seed: 21 })) if (out.push(c) === n) break;
  return out;
}

let dir = '';
let raw1 = '', raw2 = '', broken = '';
let clips: SynthClip[] = [];
const segments: CaptionSegment[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-curate-'));
  clips = pickClips(6);
  const [a, b, c, d, e, f] = clips as [SynthClip, SynthClip, SynthClip, SynthClip, SynthClip, SynthClip];
  raw1 = join(dir, 'raw1.mp4');
  raw2 = join(dir, 'raw2.mp4');
  broken = join(dir, 'broken.mp4');
  // raw1: a | b | 20 frames of a still (c's first frame) | d ; raw2: e | 10 frames of f (a cut, then too short).
  await writeMp4(raw1, [...a.frames, ...b.frames, ...Array(20).fill(c.frames[0]!), ...d.frames], { width: W, height: H, fps: FPS, crf: 12 });
  await writeMp4(raw2, [...e.frames, ...f.frames.slice(0, 10)], { width: W, height: H, fps: FPS, crf: 12 });
  await writeFile(broken, 'not a video');
  const seg = (source: string, start: number, end: number, text: string) => segments.push({ source, start_frame: start, end_frame: end, text });
  seg('raw1.mp4', 0, 20, `The video shows ${a.caption}`);
  seg('raw1.mp4', 20, 40, b.caption);
  seg('raw1.mp4', 40, 60, 'a still picture');
  seg('raw1.mp4', 60, 80, d.caption);
  seg('raw2.mp4', 0, 20, e.caption);
  seg('raw2.mp4', 20, 30, f.caption);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const readJsonl = async (p: string) => (await readFile(p, 'utf8')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as CuratedRow);

describe('curate', () => {
  it('captioner: strips openers, picks the segment that overlaps most', async () => {
    expect(stripOpeners('The video shows a red circle')).toBe('a red circle');
    expect(stripOpeners('this clip depicts: rain')).toBe('rain');
    const cap = segmentCaptioner([{ source: 'x.mp4', start_frame: 0, end_frame: 10, text: 'A' }, { source: 'x.mp4', start_frame: 10, end_frame: 30, text: 'B' }]);
    expect(await cap.caption({ source: '/d/x.mp4', startFrame: 5, endFrame: 20, fps: 8 })).toBe('B');
    expect(await cap.caption({ source: '/d/y.mp4', startFrame: 5, endFrame: 20, fps: 8 })).toBeNull();
  });

  it('refuses an export size H.264 cannot take, before writing anything', async () => {
    const out = join(dir, 'odd-size');
    await expect(curate({ inputs: [raw1], out, backend: 'cpu', exportSize: { width: 48, height: 31 } })).rejects.toThrow(/export size must be two even positive integers .*got 48x31/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('turns raw videos into clips + meta.jsonl; drops the still (static) and the tail (too short); resumes', async () => {
    const device = await testDevice();
    const out = join(dir, 'set');
    const opts = { inputs: [raw1, broken, raw2], out, backend: 'gpu' as const, device, captioner: segmentCaptioner(segments), preset: 'ultrafast', events: { embedder: new ColourHistogramEmbedder() }, formats: ['csv' as const, 'parquet' as const] };
    const stages = new Set<string>();
    const rep = await curate({ ...opts, onProgress: (e) => stages.add(e.stage) });
    expect([...stages].sort()).toEqual(['analyze', 'events', 'export', 'probe', 'video']);
    expect(rep.videos).toEqual({ inputs: 3, probed: 2, failed: 1, processed: 2, resumed: 0 });
    expect(rep.failures[0]!.path).toBe(broken);
    expect(rep).toMatchObject({ scenes: 6, kept: 4, dropped: { static: 1, too_short: 1 }, keptFrames: 80 });

    const meta = await readJsonl(join(out, 'meta.jsonl'));
    const columns = ['path', 'text', 'num_frames', 'fps', 'height', 'width', 'aspect_ratio', 'resolution', 'text_len', 'aes', 'flow', 'ocr',
      'id', 'source', 'event', 'start_frame', 'end_frame', 'start_time', 'end_time', 'static_ratio', 'dynamic', 'watermark_prob', 'valid'];
    for (const row of meta) for (const c of columns) expect(row, c).toHaveProperty(c);
    const [a, b, , d, e] = clips;
    expect(meta.map((r) => [r.id, r.start_frame, r.end_frame, r.text])).toEqual([
      ['raw1_scene-0', 0, 20, a!.caption], ['raw1_scene-1', 20, 40, b!.caption], ['raw1_scene-3', 60, 80, d!.caption], ['raw2_scene-0', 0, 20, e!.caption],
    ]);
    // Every shot is on another background than the one before: no two are stitched into one event.
    expect(meta.map((r) => r.event)).toEqual([0, 1, 3, 0]);
    for (const r of meta) {
      expect(r).toMatchObject({ valid: true, num_frames: r.end_frame - r.start_frame, fps: FPS, width: W, height: H, path: `clips/${r.id}.mp4` });
      expect(r.static_ratio).toBeLessThan(0.3);
      expect(r.start_time).toBe(r.start_frame / FPS);
      expect(countFrames(join(out, r.path))).toBe(r.num_frames);
    }
    const dropped = await readJsonl(join(out, 'dropped.jsonl'));
    expect(dropped.map((r) => [r.id, r.drop_reason, r.valid, r.path])).toEqual([['raw1_scene-2', 'static', false, ''], ['raw2_scene-1', 'too_short', false, '']]);
    expect(dropped[0]!.static_ratio).toBe(1);
    const csv = (await readFile(join(out, 'meta.csv'), 'utf8')).trim().split('\r\n');
    expect(csv[0]).toBe(columns.join(','));
    expect(csv.length).toBe(5);
    // The typed readers give back the same rows from every format.
    for (const f of ['meta.jsonl', 'meta.csv', 'meta.parquet']) expect(await readMetaTable(join(out, f)), f).toEqual(meta);
    expect((await readMetaTable(join(out, 'dropped.parquet'))).map((r) => [r.id, r.drop_reason])).toEqual([['raw1_scene-2', 'static'], ['raw2_scene-1', 'too_short']]);
    const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
    expect(report.staticHistogram.reduce((x: number, y: number) => x + y, 0)).toBe(6);
    expect(report.histograms.static_ratio.counts.reduce((x: number, y: number) => x + y, 0)).toBe(6);
    expect((await stat(join(out, report.histograms.static_ratio.png))).size).toBeGreaterThan(100);

    // Rerun: both videos are skipped, their clips untouched.
    const clip0 = join(out, meta[0]!.path);
    const before = (await stat(clip0)).mtimeMs;
    const again = await curate(opts);
    expect(again.videos).toMatchObject({ processed: 0, resumed: 2 });
    expect(again.kept).toBe(4);
    expect((await stat(clip0)).mtimeMs).toBe(before);
    expect(await readJsonl(join(out, 'meta.jsonl'))).toEqual(meta);

    // Other options redo the videos: with no static limit the still is kept.
    const loose = await curate({ ...opts, maxStaticRatio: 1.01 });
    expect(loose.videos).toMatchObject({ processed: 2, resumed: 0 });
    expect(loose).toMatchObject({ kept: 5, dropped: { static: 0, too_short: 1 } });
  });

  it('model scores fill aes, watermark_prob and ocr and drop by them (stub models); missing models are noted', async () => {
    const mean = (f: Uint8Array) => f.reduce((a, v) => a + v, 0) / f.length;
    const out = join(dir, 'scored');
    const rep = await curate({
      inputs: [raw1], out, backend: 'cpu', preset: 'ultrafast',
      scores: {
        aesthetic: { name: 'stub-aes', width: 8, height: 6, score: async (f) => f.map((x, i) => i + mean(x) / 255) }, minAesthetic: 1,
        watermark: { name: 'stub-wm', width: 8, height: 6, score: async (f) => f.map(mean).map((m) => m / 255) },
        text: { name: 'stub-ocr', width: 8, height: 6, detect: async (f) => (mean(f) < 60 ? [{ quad: [[0, 0], [8, 0], [8, 2], [0, 2]], confidence: 0.9, text: 'SALE' }] : []) },
      },
    });
    expect(rep.notes.join()).not.toMatch(/score: skipped/);
    const rows = [...(await readJsonl(join(out, 'meta.jsonl'))), ...(await readJsonl(join(out, 'dropped.jsonl')))].filter((r) => r.drop_reason !== 'static');
    expect(rows.length).toBe(3);
    for (const r of rows) {
      expect(r.aes).toBeGreaterThan(1); // (0 + 1 + 2) / 3 + brightness / 255 > 1: never dropped
      expect(r.watermark_prob).toBeGreaterThanOrEqual(0);
      const why = r.watermark_prob! >= 0.5 ? 'watermark' : r.ocr! > 0.02 ? 'text' : undefined;
      expect(r.drop_reason, r.id).toBe(why);
      expect(r.valid).toBe(!why);
    }
    // The three clips of raw1 land one in each outcome: a bright one (watermark), a dark one (text), one kept.
    expect(rows.map((r) => r.drop_reason ?? 'kept').sort()).toEqual(['kept', 'text', 'watermark']);
    expect(rows.some((r) => r.ocr! > 0.3)).toBe(true); // a dark clip: the 8x2 box covers 1/3 of each 8x6 frame
    const plain = await curate({ inputs: [raw2], out: join(dir, 'plain'), backend: 'cpu', preset: 'ultrafast' });
    expect(plain.notes).toEqual(expect.arrayContaining(['aesthetic score: skipped (no model configured: --aesthetic-model DIR; the column is null)', 'text (OCR) score: skipped (no model configured: --text-detector FILE; the column is null)']));
  });

  it("Panda-70M's event rules drop a transition shot, a still event and a short event (stub embedder)", async () => {
    // Gray shots: 40 (still), a ramp 120 -> 250 (a transition), 150 then 190 (one event), a ramp 10 -> 60 in 16 frames.
    const gray = (v: number) => new Uint8Array(W * H * 3).fill(Math.round(v));
    const ramp = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => gray(a + ((b - a) * i) / (n - 1)));
    const v = join(dir, 'panda.mp4');
    await writeMp4(v, [...ramp(40, 40, 20), ...ramp(120, 250, 20), ...ramp(150, 150, 20), ...ramp(190, 190, 20), ...ramp(10, 60, 16)], { width: W, height: H, fps: FPS, crf: 12 });
    // The embedding is the unit vector at angle pi * brightness / 255 (cosine and distance follow from the levels).
    const embedder = {
      name: 'stub-angle', width: 8, height: 6,
      embed: async (f: readonly Uint8Array[]) => {
        const m = f.reduce((a, x) => a + x.reduce((b, y) => b + y, 0) / x.length, 0) / f.length;
        return Float32Array.from([Math.cos((Math.PI * m) / 255), Math.sin((Math.PI * m) / 255)]);
      },
    };
    const out = join(dir, 'panda');
    const rep = await curate({
      inputs: [v], out, backend: 'cpu', preset: 'ultrafast', maxStaticRatio: 1.01, shots: { threshold: 10 },
      events: { embedder, threshold: 0.6, transitionDistance: 0.5, stillDistance: 0.15, minEventSeconds: 2.5 },
    });
    const rows = [...(await readJsonl(join(out, 'meta.jsonl'))), ...(await readJsonl(join(out, 'dropped.jsonl')))].sort((a, b) => a.start_frame - b.start_frame);
    expect(rows.map((r) => [r.start_frame, r.end_frame])).toEqual([[0, 20], [20, 40], [40, 60], [60, 80], [80, 96]]);
    expect(rows.map((r) => r.drop_reason ?? 'kept')).toEqual(['still_event', 'transition', 'kept', 'kept', 'short_event']);
    expect(rows.map((r) => r.event)).toEqual([0, 1, 2, 2, 3]);
    expect(rep.dropped).toMatchObject({ transition: 1, still_event: 1, short_event: 1, static: 0, too_short: 0 });
    expect(rep.options.events).toMatchObject({ transitionDistance: 0.5, stillDistance: 0.15, minEventSeconds: 2.5 });
    // Without the rules the events drop nothing: all five scenes are kept.
    const off = await curate({ inputs: [v], out: join(dir, 'panda-off'), backend: 'cpu', preset: 'ultrafast', maxStaticRatio: 1.01, shots: { threshold: 10 }, events: { embedder } });
    expect(off.kept).toBe(5);
  });

  it('a video that probes but fails to decode is reported and skipped, not fatal for the batch', async () => {
    const fake = join(dir, 'broken-ffmpeg.sh');
    await writeFile(fake, '#!/bin/sh\necho "decoder exploded" >&2\nexit 1\n', { mode: 0o755 });
    const saved = { ff: process.env.PARALLAX_FFMPEG, fp: process.env.PARALLAX_FFPROBE };
    process.env.PARALLAX_FFMPEG = fake;
    process.env.PARALLAX_FFPROBE = 'ffprobe';
    try {
      const rep = await curate({ inputs: [raw2], out: join(dir, 'failing'), backend: 'cpu' });
      expect(rep.videos).toMatchObject({ inputs: 1, probed: 1, failed: 1, processed: 0 });
      expect(rep.failures[0]!.error).toMatch(/could not read .*raw2\.mp4.*decoder exploded/);
      expect(rep.kept).toBe(0);
      expect(await readFile(join(dir, 'failing', 'meta.jsonl'), 'utf8')).toBe('');
    } finally {
      for (const [k, v] of [['PARALLAX_FFMPEG', saved.ff], ['PARALLAX_FFPROBE', saved.fp]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
