// `parallax data probe`, `data shots` and `data curate` as a user runs them: JSON out, unreadable inputs reported
// and skipped, the summary line, resumability, the aesthetic model flags, the help text and bad options.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMetaTable } from '../../../engine/data/meta-read.js';
import { makeTinyAestheticModel } from '../../../engine/io/make-tiny-aesthetic.js';
import { parallax } from '../../helpers/cli.js';
import { concatVideo, panVideo, stillImage } from '../../helpers/lavfi.js';

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

  it('says what is wrong with bad options', async () => {
    const r = await parallax(['data', 'curate', video, '--out', join(dir, 'x'), '--max-static-ratio', 'lots']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--max-static-ratio must be a number/);
    const h = await parallax(['data', 'curate', '--help']);
    expect(h.stdout).toMatch(/--adaptive-threshold/);
    expect(h.stdout).toMatch(/21\.0/);
  });
});
