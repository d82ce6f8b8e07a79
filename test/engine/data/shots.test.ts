// Shot detection: the three PySceneDetect state machines on hand-worked score sequences (min scene length, the
// adaptive window and its 255 cap, fade placement and bias), scenes from cuts, cut scoring; then end to end on
// videos concatenated from ffmpeg test sources with known cut frames: GPU and CPU statistics identical (also across
// chunk borders), precision / recall / F1 within +-1 frame, next to ffmpeg's own scene score on the same video; the
// edge channel (delta_edges) across chunk borders and in the weighted content score.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisSize, analyzeVideo, roundHalfEven } from '../../../engine/data/analyze.js';
import { cutsAbove, ffmpegSceneScores } from '../../../engine/data/ffmpeg-scene.js';
import { edgeDiffSums } from '../../../engine/data/edges.js';
import { AdaptiveDetector, ContentDetector, FlashFilter, ThresholdDetector, contentScores, cutScores, detectCuts, frameStatsRows, scenesFromCuts } from '../../../engine/data/shots.js';
import { readVideoFrames } from '../../../engine/video/decode.js';
import { concatVideo, crossfadeVideo } from '../../helpers/lavfi.js';
import { testDevice } from '../../helpers/gpu.js';

const run = (d: { process(f: number, v: number): number[]; finish(l: number): number[] }, vals: number[]) => {
  const cuts: number[] = [];
  vals.forEach((v, f) => cuts.push(...d.process(f, v)));
  cuts.push(...d.finish(vals.length - 1));
  return cuts;
};
const series = (n: number, at: Record<number, number>, base = 0) => Array.from({ length: n }, (_, i) => at[i] ?? base);

describe('detectors (hand-worked sequences)', () => {
  it('content: score >= threshold and >= min_scene_len frames since the last cut (the first frame counts as one)', () => {
    const s = series(60, { 2: 50, 20: 30, 30: 40, 35: 27, 49: 26.99 });
    expect(run(new ContentDetector(), s)).toEqual([20, 35]);
    expect(run(new ContentDetector({ threshold: 26.99, minSceneLen: 5 }), s)).toEqual([20, 30, 35, 49]);
  });

  it('content in merge mode (PySceneDetect 0.6.4+): a run of close cuts becomes one cut at its last flash', () => {
    const s = series(90, { 20: 50, 30: 50, 40: 50, 50: 50 }); // flashes every 10 frames after a first cut
    expect(run(new ContentDetector(), s)).toEqual([20, 40]);
    expect(run(new ContentDetector({ flashMode: 'merge' }), s)).toEqual([20, 50]); // emitted at 65, 15 quiet frames on
    // A merged run shorter than min_scene_len is not emitted; before the first cut nothing merges.
    expect(run(new ContentDetector({ flashMode: 'merge' }), series(90, { 20: 50, 25: 50, 28: 50 }))).toEqual([20]);
    expect(run(new ContentDetector({ flashMode: 'merge' }), series(40, { 5: 50, 9: 50 }))).toEqual([]);
    const f = new FlashFilter('suppress', 0);
    expect([f.process(3, true), f.process(4, true)]).toEqual([[3], [4]]);
  });

  it('adaptive: ratio to the mean of the 2w neighbours, min_content_val, cap 255; paper threshold 21 vs default 3', () => {
    expect(AdaptiveDetector.ratio([2, 2, 40, 2, 2], 2, 15)).toBe(20);
    expect(AdaptiveDetector.ratio([0, 0, 20, 0, 0], 2, 15)).toBe(255);
    expect(AdaptiveDetector.ratio([0, 0, 10, 0, 0], 2, 15)).toBe(0);
    expect(AdaptiveDetector.ratio([0.001, 0, 9999, 0, 0], 2, 15)).toBe(255);
    const s = series(60, { 20: 40, 40: 14 }, 2);
    expect(run(new AdaptiveDetector(), s)).toEqual([20]); // 40: ratio 7 but score < 15
    expect(run(new AdaptiveDetector({ adaptiveThreshold: 21 }), s)).toEqual([]); // ratio exactly 20
    expect(run(new AdaptiveDetector({ adaptiveThreshold: 20 }), s)).toEqual([20]);
    // PySceneDetect tests min_scene_len on the newest frame of the window (t + w), not on the cut frame.
    expect(run(new AdaptiveDetector(), series(30, { 13: 40 }, 2))).toEqual([13]);
    expect(run(new AdaptiveDetector(), series(30, { 12: 40 }, 2))).toEqual([]);
  });

  it('threshold: cut midway through the black stretch (int()), bias moves it, min_scene_len, final fade-out', () => {
    const s = series(60, { 20: 5, 21: 5, 22: 5, 23: 5 }, 100);
    expect(run(new ThresholdDetector(), s)).toEqual([22]); // out at 20, in at 24
    expect(run(new ThresholdDetector({ fadeBias: -1 }), s)).toEqual([20]);
    expect(run(new ThresholdDetector({ fadeBias: 1 }), s)).toEqual([24]);
    const odd = series(60, { 20: 5, 21: 5, 22: 5 }, 100); // (23 + 20) / 2 = 21.5 -> 21
    expect(run(new ThresholdDetector(), odd)).toEqual([21]);
    expect(run(new ThresholdDetector(), series(30, { 5: 0, 6: 0 }, 100))).toEqual([]); // fade-in at 7 < 15
    const end = series(40, { 35: 0, 36: 0, 37: 0, 38: 0, 39: 0 }, 100);
    expect(run(new ThresholdDetector(), end)).toEqual([]);
    expect(run(new ThresholdDetector({ addFinalScene: true }), end)).toEqual([35]);
    // Starts black: the fade-in at 2 is too early for a cut; a one-frame dip at 20 is a fade (cut at int(41 / 2)).
    expect(run(new ThresholdDetector(), series(40, { 0: 0, 1: 0, 20: 0 }, 100))).toEqual([20]);
  });

  it('scenes are [cut_i, cut_i+1); forced splits of long shots; cut scoring matches one to one within +-1', () => {
    expect(scenesFromCuts([30, 10], 40)).toEqual([[0, 10], [10, 30], [30, 40]]);
    expect(scenesFromCuts([], 7)).toEqual([[0, 7]]);
    expect(scenesFromCuts([20], 60, { maxShotFrames: 35, forceCutFrames: 20 })).toEqual([[0, 20], [20, 40], [40, 60]]);
    expect(cutScores([10, 11, 31], [10, 30, 50])).toMatchObject({ tp: 2, fp: 1, fn: 1 });
    expect(cutScores([12], [10]).tp).toBe(0);
    expect(cutScores([], [])).toMatchObject({ precision: 1, recall: 1 });
  });

  it('PySceneDetect downscale: width/256 when >= 256, rounding halves to even', () => {
    expect(analysisSize(1920, 1080)).toEqual({ width: 256, height: 144 });
    expect(analysisSize(640, 362)).toEqual({ width: 256, height: 145 }); // 144.8
    expect(analysisSize(512, 289)).toEqual({ width: 256, height: 144 }); // 144.5 -> 144
    expect(analysisSize(200, 100)).toEqual({ width: 200, height: 100 });
    expect([roundHalfEven(2.5), roundHalfEven(3.5), roundHalfEven(4.5), roundHalfEven(4.51)]).toEqual([2, 4, 4, 5]);
  });
});

describe('shots on videos with known cuts', () => {
  let dir = '';
  let video = '';
  let truth: number[] = [];
  const fps = 8;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parallax-shots-'));
    video = join(dir, 'cuts.mp4');
    truth = concatVideo(video, [
      { src: 'testsrc2', frames: 20 }, { src: 'mandelbrot', frames: 17 }, { src: 'life=seed=3:mold=10', frames: 22 },
      { src: 'smptehdbars', frames: 18 }, { src: 'testsrc2', frames: 16, vf: 'hue=h=120' }, { src: 'color=c=0x336699', frames: 15 },
    ], { width: 64, height: 48, fps });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('GPU and CPU statistics are identical, whatever the chunk size', async () => {
    const device = await testDevice();
    const gpu = await analyzeVideo(video, { width: 64, height: 48, backend: 'gpu', device, chunkFrames: 7 });
    const cpu = await analyzeVideo(video, { width: 64, height: 48, backend: 'cpu', chunkFrames: 64 });
    expect(gpu.frames).toBe(108);
    for (const k of ['dh', 'ds', 'dv', 'dgray', 'sumRgb', 'sumGray'] as const) expect([...gpu[k]], k).toEqual([...cpu[k]]);
  });

  it('edge channel: delta_edges across chunk borders equals one pass over all frames; weighted into content_val', async () => {
    const device = await testDevice();
    const gpu = await analyzeVideo(video, { width: 64, height: 48, backend: 'gpu', device, chunkFrames: 7, edges: true });
    const plain = await analyzeVideo(video, { width: 64, height: 48, backend: 'cpu', chunkFrames: 64 });
    const frames = await readVideoFrames(video, { width: 64, height: 48, scaleFlags: 'bilinear' });
    const all = new Uint8Array(frames.length * 64 * 48 * 3);
    frames.forEach((f, t) => all.set(f, t * 64 * 48 * 3));
    const want = edgeDiffSums(all, frames.length, 64, 48).sums;
    expect([...gpu.dedges!]).toEqual([...want]);
    expect(plain.dedges).toBeUndefined();
    // Default weights (edges 0) leave content_val as it was; an edge weight mixes delta_edges in over sum |w|.
    expect([...contentScores(gpu)]).toEqual([...contentScores(plain)]);
    const P = 64 * 48;
    const w = { hue: 1, sat: 0.5, lum: 1, edges: 2 };
    const sc = contentScores(gpu, w);
    for (const t of [1, 19, 20, 60]) expect(sc[t]).toBeCloseTo((gpu.dh[t]! / P + 0.5 * gpu.ds[t]! / P + gpu.dv[t]! / P + 2 * want[t]! / P) / 4.5, 10);
    for (const c of truth.slice(0, 3)) expect(want[c]! / P, `cut ${c}`).toBeGreaterThan(20); // new edges at a cut
    expect(() => contentScores(plain, w)).toThrow('an edge weight needs the edge channel');
    expect(frameStatsRows(gpu, fps, { weights: w })[20]!.delta_edges).toBe(want[20]! / P);
    expect('delta_edges' in frameStatsRows(plain, fps)[20]!).toBe(false);
  });

  it('content and adaptive find every cut within +-1 frame; ffmpeg scene score on the same video for comparison', async () => {
    const s = await analyzeVideo(video, { width: 64, height: 48, backend: 'cpu' });
    const content = cutScores(detectCuts(s, { detector: 'content' }), truth);
    const adaptive = cutScores(detectCuts(s, { detector: 'adaptive' }), truth);
    const ff = cutScores(cutsAbove(await ffmpegSceneScores(video, fps), 0.3), truth);
    expect(content.f1).toBe(1);
    expect(adaptive.f1).toBe(1);
    expect(ff.recall).toBeGreaterThan(0.5); // the baseline runs and finds cuts; its precision is what it is
    const sc = contentScores(s);
    for (const c of truth) expect(sc[c]).toBeGreaterThan(27);
  });

  it('threshold finds a fade through black within the black stretch', async () => {
    const fades = join(dir, 'fades.mp4');
    // testsrc2 fading out over its last 6 frames, 4 black frames (20..23), smptebars fading in over 6.
    concatVideo(fades, [
      { src: 'testsrc2', frames: 20, vf: 'fade=t=out:st=1.75:d=0.75' }, { src: 'color=c=black', frames: 4 },
      { src: 'smptebars', frames: 20, vf: 'fade=t=in:st=0:d=0.75' },
    ], { width: 64, height: 48, fps });
    const s = await analyzeVideo(fades, { width: 64, height: 48, backend: 'cpu' });
    const cuts = detectCuts(s, { detector: 'threshold' });
    expect(cuts.length).toBe(1);
    expect(cuts[0]).toBeGreaterThanOrEqual(19);
    expect(cuts[0]).toBeLessThanOrEqual(24);
  });

  it('a slow crossfade escapes content; adaptive at most marks its end (gradual transitions are scored separately)', async () => {
    const xf = join(dir, 'xfade.mp4');
    crossfadeVideo(xf, 'testsrc2', 'smptebars', 30, 30, 16, { width: 64, height: 48, fps });
    const s = await analyzeVideo(xf, { width: 64, height: 48, backend: 'cpu' });
    expect(s.frames).toBe(44);
    expect(detectCuts(s, { detector: 'content' })).toEqual([]);
    // xfade's last blended frame is not quite the new source: a small jump (score ~17) that adaptive may take.
    const a = detectCuts(s, { detector: 'adaptive' });
    expect(a.length).toBeLessThanOrEqual(1);
    for (const c of a) expect(c).toBeGreaterThanOrEqual(14), expect(c).toBeLessThanOrEqual(31);
  });
});
