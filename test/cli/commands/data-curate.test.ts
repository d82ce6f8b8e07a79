// `parallax data probe`, `data shots`, `data events` and `data curate` as a user runs them: JSON out, unreadable inputs
// reported and skipped, the summary line, resumability, the aesthetic and watermark models and the CLIP and ViCLIP
// event-embedder flags (ViCLIP's similarities against the float64 reference on the same decoded frames), the help text
// and bad options.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetaTable } from '../../../engine/data/meta-read.js';
import { edgeFrames } from '../../../engine/data/events.js';
import { resizeLinear } from '../../../engine/data/resize-linear.js';
import { watermarkPreprocess } from '../../../engine/data/watermark-model.js';
import { makeTinyAestheticModel } from '../../../engine/io/make-tiny-aesthetic.js';
import { makeTinyViclipModel } from '../../../engine/io/make-tiny-viclip.js';
import { makeTinyWatermarkModel } from '../../../engine/io/make-tiny-watermark.js';
import { efficientNetForward64, watermarkProbability64 } from '../../../engine/reference/efficientnet.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { parallax } from '../../helpers/cli.js';
import { weights64 } from '../../helpers/clip-vision.js';
import { concatVideo, panVideo, stillImage } from '../../helpers/lavfi.js';
import { viclipUnit64 } from '../../helpers/viclip.js';

describe('parallax data probe / shots / curate', () => {
  let dir = '';
  let video = '';
  let truth: number[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parallax-data-curate-'));
    video = join(dir, 'raw.mp4');
    truth = concatVideo(video, [{ src: 'testsrc2', frames: 20 }, { src: 'mandelbrot', frames: 18 }, { src: 'smptehdbars', frames: 17 }], { width: 64, height: 48, fps: 8 });
    await writeFile(join(dir, 'bad.mp4'), 'nope');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('probe prints one JSON line per readable video and reports the rest', async () => {
    const r = await parallax(['data', 'probe', video, join(dir, 'bad.mp4')]);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout.trim());
    expect(rec).toMatchObject({ width: 64, height: 48, fps: 8, numFrames: 55, codec: 'h264' });
    expect(r.stderr).toMatch(/skipped .*bad\.mp4: cannot probe/);
    const none = await parallax(['data', 'probe', join(dir, 'bad.mp4')]);
    expect(none.code).toBe(1);
  });

  it('shots prints the cuts and scenes', async () => {
    const r = await parallax(['data', 'shots', video, '--backend', 'cpu']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.cuts).toEqual(truth);
    const stats = join(dir, 'stats.csv');
    const withStats = await parallax(['data', 'shots', video, '--backend', 'cpu', '--stats', stats]);
    expect(withStats.code).toBe(0);
    const lines = readFileSync(stats, 'utf8').trim().split('\r\n');
    expect(lines[0]).toBe('frame,time,content_val,delta_hue,delta_sat,delta_lum,adaptive_ratio,delta_gray,average_rgb');
    expect(lines.length).toBe(56);
    for (const c of truth) expect(Number(lines[c + 1]!.split(',')[2])).toBeGreaterThan(27);
    expect(lines[1]!.split(',')[6]).toBe(''); // no adaptive window at frame 0
    expect(j.scenes[1]).toEqual({ start: 20, end: 38, start_time: 2.5, end_time: 4.75 });
    const bad = await parallax(['data', 'shots', video, '--detector', 'histogram']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Allowed choices are content, adaptive, threshold/);
    // --weights with an edge weight: delta_edges in the stats, the cuts still found; malformed weights refused.
    const edgeStats = join(dir, 'edge-stats.csv');
    const e = await parallax(['data', 'shots', video, '--backend', 'cpu', '--weights', '1,1,1,1', '--stats', edgeStats]);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).cuts).toEqual(truth);
    const el = readFileSync(edgeStats, 'utf8').trim().split('\r\n');
    expect(el[0]).toBe('frame,time,content_val,delta_hue,delta_sat,delta_lum,adaptive_ratio,delta_gray,average_rgb,delta_edges');
    for (const c of truth) expect(Number(el[c + 1]!.split(',')[9])).toBeGreaterThan(0);
    const badW = await parallax(['data', 'shots', video, '--weights', '1,1,1']);
    expect(badW.code).not.toBe(0);
    expect(badW.stderr).toMatch(/--weights must be four comma-separated numbers H,S,L,E/);
  });

  it('curate writes clips and meta, reports the summary, and skips finished videos on a rerun', async () => {
    const png = join(dir, 'still.png');
    stillImage(png, 'mandelbrot', 64, 48);
    const still = join(dir, 'still.mp4');
    panVideo(still, png, 24, 0, { width: 64, height: 48, fps: 8 });
    const out = join(dir, 'set');
    const args = ['data', 'curate', video, still, join(dir, 'bad.mp4'), '--out', out, '--backend', 'cpu', '--preset', 'ultrafast'];
    const r = await parallax(args);
    expect(r.code).toBe(0);
    // Only mandelbrot (zooming) moves enough: testsrc2's moving parts are small at 64x48, smptehdbars and the still don't move.
    expect(r.stdout).toMatch(/2 of 3 videos readable \(2 processed, 0 done before\); 4 scenes: 1 kept \(18 frames\), dropped 0 too short, 3 static/);
    expect(r.stderr).toMatch(/skipped .*bad\.mp4/);
    const rows = readFileSync(join(out, 'meta.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.id)).toEqual(['raw_scene-1']);
    for (const row of rows) expect(existsSync(join(out, row.path))).toBe(true);
    const again = await parallax(args);
    expect(again.stdout).toMatch(/\(0 processed, 2 done before\)/);
  });

  it('curate --motion fills flow and dynamic; --min-flow drops the still, keeps a 2 px/frame pan', async () => {
    const png = join(dir, 'tex.png');
    stillImage(png, 'mandelbrot', 200, 48);
    const [pan, still] = [join(dir, 'pan.mp4'), join(dir, 'still2.mp4')];
    panVideo(pan, png, 20, 2, { width: 64, height: 48, fps: 8 });
    panVideo(still, png, 20, 0, { width: 64, height: 48, fps: 8 });
    const out = join(dir, 'motion');
    const r = await parallax(['data', 'curate', pan, still, '--out', out, '--backend', 'cpu', '--preset', 'ultrafast', '--max-static-ratio', '2', '--min-flow', '0.5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 scenes: 1 kept \(20 frames\), dropped 0 too short, 0 static, 1 low flow/);
    const [row] = readFileSync(join(out, 'meta.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(row.id).toBe('pan_scene-0');
    expect(Math.abs(row.flow - 2)).toBeLessThan(0.2);
    expect(row.dynamic).toBe(true);
    const [drop] = readFileSync(join(out, 'dropped.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(drop).toMatchObject({ id: 'still2_scene-0', drop_reason: 'low_flow', dynamic: false });
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(report.histograms.flow.counts.reduce((a: number, b: number) => a + b, 0)).toBe(2);
    expect(existsSync(join(out, 'report-flow.png'))).toBe(true);
  });

  it('synth-raw feeds curate end to end: moving clips kept with their captions, stills static, tails too short', async () => {
    const set = join(dir, 'synthraw');
    const w = await parallax(['data', 'synth-raw', '--out', set, '--videos', '2', '--clips', '3', '--seed', '4']);
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/wrote 2 raw videos .* 6 moving clips, 2 still stretches, 2 short tails/);
    const segs = readFileSync(join(set, 'captions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const out = join(set, 'curated');
    const r = await parallax(['data', 'curate', join(set, 'raw', 'raw-0.mp4'), join(set, 'raw', 'raw-1.mp4'), '--out', out, '--captions', join(set, 'captions.jsonl'), '--backend', 'cpu', '--preset', 'ultrafast']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/10 scenes: 6 kept \(120 frames\), dropped 2 too short, 2 static/);
    const rows = readFileSync(join(out, 'meta.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const clips = segs.filter((s) => s.kind === 'clip');
    expect(rows.map((x) => [x.start_frame, x.end_frame, x.text])).toEqual(clips.map((s) => [s.start_frame, s.end_frame, s.text]));
    for (const x of rows) expect(x.text_len).toBe(x.text.split(' ').length);
  });

  it('--aesthetic-model scores every scene with a tiny CLIP + LAION head; --min-aesthetic drops by it; Parquet reads back', async () => {
    const model = join(dir, 'aes-model');
    await makeTinyAestheticModel(model, { seed: 2 });
    const out = join(dir, 'aes');
    const r = await parallax(['data', 'curate', video, '--out', out, '--backend', 'cpu', '--no-events', '--max-static-ratio', '1.01', '--aesthetic-model', model, '--min-aesthetic', '1e6', '--parquet']);
    expect(r.stderr).not.toMatch(/aesthetic score: skipped/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 scenes: 0 kept .* 3 low aesthetic/);
    const dropped = await readMetaTable(join(out, 'dropped.parquet'));
    expect(dropped.map((x) => x.drop_reason)).toEqual(['low_aesthetic', 'low_aesthetic', 'low_aesthetic']);
    for (const x of dropped) expect(Number.isFinite(x.aes)).toBe(true);
    // Three different sources: three different scores.
    expect(new Set(dropped.map((x) => x.aes)).size).toBe(3);
    expect(await readMetaTable(join(out, 'meta.parquet'))).toEqual([]);
    const plain = await parallax(['data', 'curate', video, '--out', join(dir, 'noaes'), '--min-aesthetic', '5']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/--min-aesthetic needs --aesthetic-model DIR/);
    const missing = await parallax(['data', 'curate', video, '--out', join(dir, 'noaes'), '--aesthetic-model', join(dir, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope: no config\.json/);
  });

  it('--watermark stores the max over the first, middle and last frame (tiny EfficientNet-B3 layout); --max-watermark drops by it', async () => {
    const model = join(dir, 'watermark.safetensors');
    const cfg = await makeTinyWatermarkModel(model, { seed: 4 });
    const out = join(dir, 'wm');
    const r = await parallax(['data', 'curate', video, '--out', out, '--backend', 'cpu', '--no-events', '--max-static-ratio', '1.01', '--watermark', model, '--max-watermark', '0']);
    expect(r.stderr).not.toMatch(/watermark score: skipped/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/3 scenes: 0 kept .* 3 watermark/);
    const dropped = readFileSync(join(out, 'dropped.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(dropped.map((x) => x.drop_reason)).toEqual(['watermark', 'watermark', 'watermark']);
    for (const x of dropped) expect(x.watermark_prob > 0 && x.watermark_prob < 1).toBe(true);
    // The first scene by hand: its first, middle and last frame at the display size through the float64 network.
    const s0 = dropped[0]!;
    const frames = await readVideoFrames(video, { width: 64, height: 48 });
    const w = await weights64(model);
    const idx = [s0.start_frame, s0.start_frame + Math.floor(0.5 * (s0.end_frame - s0.start_frame)), s0.end_frame - 1];
    const probs = idx.map((i) => watermarkProbability64(efficientNetForward64(w, cfg, { shape: [3, 256, 256], data: Float64Array.from(watermarkPreprocess(frames[i]!, 64, 48)) })));
    expect(Math.abs(s0.watermark_prob - Math.max(...probs))).toBeLessThan(1e-5);
    expect(Math.max(...probs) - Math.min(...probs), 'the three frames score differently (the max matters)').toBeGreaterThan(1e-6);
    const plain = await parallax(['data', 'curate', video, '--out', join(dir, 'nowm'), '--max-watermark', '0.5']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr).toMatch(/--max-watermark needs --watermark FILE/);
    const missing = await parallax(['data', 'curate', video, '--out', join(dir, 'nowm'), '--watermark', join(dir, 'nope.safetensors')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/nope\.safetensors: no such file/);
  });

  it('events and curate stitch with --event-embedder clip --clip-model DIR (tiny CLIP); the flags are checked', async () => {
    const model = join(dir, 'clip-model');
    await makeTinyAestheticModel(model, { seed: 6 });
    const r = await parallax(['data', 'events', video, '--backend', 'cpu', '--event-embedder', 'clip', '--clip-model', model, '--event-threshold', '-1', '--still-event-distance', '2.1']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.embedder).toMatch(/^clip-mean8\(/);
    expect(j.shots.map((x: { start: number }) => x.start)).toEqual([0, ...truth]);
    expect(j.events).toBe(1); // every cosine > -1
    for (const x of j.shots.slice(1)) expect(x.similarity).toBeGreaterThan(-1);
    // Unit vectors are never 2.1 apart: the one event is still.
    expect(j.shots.map((x: { drop: string | null }) => x.drop)).toEqual(['still_event', 'still_event', 'still_event']);
    // testsrc2 and mandelbrot move, smptehdbars is still: its head and tail are the same frames.
    expect(j.shots[0].head_tail_distance).toBeGreaterThan(1e-3);
    expect(j.shots[1].head_tail_distance).toBeGreaterThan(1e-3);
    expect(j.shots[2].head_tail_distance).toBeLessThan(1e-5);
    const out = join(dir, 'clip-events');
    const c = await parallax(['data', 'curate', video, '--out', out, '--backend', 'cpu', '--min-frames', '100', '--event-embedder', 'clip', '--clip-model', model, '--event-threshold', '1']);
    expect(c.code).toBe(0);
    const rows = readFileSync(join(out, 'dropped.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.event)).toEqual([0, 1, 2]); // no cosine > 1
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).options.events).toMatchObject({ embedder: expect.stringMatching(/^clip-mean8\(/), threshold: 1, transitionDistance: null });
    const noModel = await parallax(['data', 'events', video, '--event-embedder', 'clip']);
    expect(noModel.code).not.toBe(0);
    expect(noModel.stderr).toMatch(/--event-embedder clip needs --clip-model DIR/);
    const stray = await parallax(['data', 'events', video, '--clip-model', model]);
    expect(stray.code).not.toBe(0);
    expect(stray.stderr).toMatch(/--clip-model is only read with --event-embedder clip/);
  });

  it('events and curate stitch with --event-embedder viclip --viclip-model DIR (tiny ViCLIP): the reference similarities; the flags are checked', async () => {
    const model = join(dir, 'viclip-model');
    const cfg = await makeTinyViclipModel(model, { seed: 8 });
    // The reference: frames decoded at the display size (64x48), cv2-resized to 30 px, the float64 encoder.
    const w = await weights64(join(model, 'model.safetensors'));
    const frames = await readVideoFrames(video, { width: 64, height: 48 });
    const scenes: [number, number][] = [[0, truth[0]!], [truth[0]!, truth[1]!], [truth[1]!, 55]];
    const ref = ([s, e]: [number, number], part: 'head' | 'tail') => viclipUnit64(w, cfg, edgeFrames(s, e, part).map((k) => resizeLinear(frames[k]!, 64, 48, 30, 30)));
    const sims = [1, 2].map((i) => ref(scenes[i - 1]!, 'tail').reduce((a, v, j) => a + v * ref(scenes[i]!, 'head')[j]!, 0));
    expect(Math.abs(sims[0]! - sims[1]!)).toBeGreaterThan(1e-3);
    const t = (sims[0]! + sims[1]!) / 2; // joins exactly the pair above it
    const r = await parallax(['data', 'events', video, '--backend', 'cpu', '--event-embedder', 'viclip', '--viclip-model', model, '--event-threshold', String(t)]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.embedder).toBe(`viclip(${model})`);
    expect(j.shots.map((x: { start: number }) => x.start)).toEqual([0, ...truth]);
    expect(j.shots[1].similarity).toBeCloseTo(sims[0]!, 4);
    expect(j.shots[2].similarity).toBeCloseTo(sims[1]!, 4);
    expect(j.shots.map((x: { event: number }) => x.event)).toEqual(sims[0]! > t ? [0, 0, 1] : [0, 1, 1]);
    const out = join(dir, 'viclip-events');
    const c = await parallax(['data', 'curate', video, '--out', out, '--backend', 'cpu', '--min-frames', '100', '--event-embedder', 'viclip', '--viclip-model', model, '--event-threshold', String(t)]);
    expect(c.code, c.stderr).toBe(0);
    const rows = readFileSync(join(out, 'dropped.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => x.event)).toEqual(j.shots.map((x: { event: number }) => x.event));
    expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).options.events).toMatchObject({ embedder: `viclip(${model})`, threshold: t });
    const noModel = await parallax(['data', 'events', video, '--event-embedder', 'viclip']);
    expect(noModel.code).not.toBe(0);
    expect(noModel.stderr).toMatch(/--event-embedder viclip needs --viclip-model DIR/);
    const stray = await parallax(['data', 'events', video, '--viclip-model', model]);
    expect(stray.code).not.toBe(0);
    expect(stray.stderr).toMatch(/--viclip-model is only read with --event-embedder viclip/);
    const empty = await parallax(['data', 'events', video, '--backend', 'cpu', '--event-embedder', 'viclip', '--viclip-model', join(dir, 'nope')]);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/nope: no model\.safetensors .*convert ViClip-InternVid-10M-FLT\.pth/);
  });

  it('says what is wrong with bad options', async () => {
    const r = await parallax(['data', 'curate', video, '--out', join(dir, 'x'), '--max-static-ratio', 'lots']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--max-static-ratio must be a number/);
    const h = await parallax(['data', 'curate', '--help']);
    expect(h.stdout).toMatch(/--adaptive-threshold/);
    expect(h.stdout).toMatch(/21\.0/);
    expect(h.stdout).toMatch(/--watermark <file>/);
    expect(h.stdout).toMatch(/--max-watermark <p>/);
    const wm = await parallax(['data', 'curate', video, '--out', join(dir, 'x'), '--watermark', 'w.safetensors', '--max-watermark', 'high']);
    expect(wm.code).not.toBe(0);
    expect(wm.stderr).toMatch(/--max-watermark must be a number/);
  });
});
