// Event stitching: head/tail frame choice (repeats for short shots), the colour-histogram embedder (normalised,
// colour-sensitive), and on a lavfi video: a brightness flash and a skip inside one source (false cuts of the
// content detector) are merged into their shots' events while true cuts between sources stay apart.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeVideo } from '../../../engine/data/analyze.js';
import { ColourHistogramEmbedder, cosine, edgeFrames, shotEdgeEmbeddings, stitchEvents } from '../../../engine/data/events.js';
import { detectCuts, scenesFromCuts } from '../../../engine/data/shots.js';
import { concatVideo } from '../../helpers/lavfi.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-events-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('events', () => {
  it('takes the first and last 8 frames, repeating frames of short shots', () => {
    expect(edgeFrames(10, 30, 'head')).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(edgeFrames(10, 30, 'tail')).toEqual([22, 23, 24, 25, 26, 27, 28, 29]);
    expect(edgeFrames(5, 8, 'head')).toEqual([5, 5, 5, 6, 6, 6, 7, 7]);
    expect(edgeFrames(5, 8, 'tail')).toEqual(edgeFrames(5, 8, 'head'));
  });

  it('colour histograms: unit length, 1 for the same colours, 0 for disjoint ones', async () => {
    const e = new ColourHistogramEmbedder(2, 2, 4);
    const red = Uint8Array.from([255, 0, 0, 255, 0, 0, 250, 10, 10, 255, 0, 0]);
    const blue = Uint8Array.from([0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255]);
    const r = await e.embed([red]);
    expect(r.reduce((a, v) => a + v * v, 0)).toBeCloseTo(1, 6);
    expect(cosine(r, await e.embed([red, red]))).toBeCloseTo(1, 6);
    expect(cosine(r, await e.embed([blue]))).toBe(0);
    expect(cosine(await e.embed([red, blue]), r)).toBeCloseTo(Math.SQRT1_2, 6);
  });

  it('merges a flash and a skip inside one source, keeps true cuts apart', async () => {
    const v = join(dir, 'events.mp4');
    concatVideo(v, [
      { src: 'testsrc2', frames: 40, vf: "eq=brightness=0.9:enable='between(n,20,20)'" }, // flash at frame 20
      { src: 'smptehdbars', frames: 20 },
      { src: 'mandelbrot', frames: 80, vf: "select='not(between(n,20,59))',setpts=N/8/TB" }, // skip at frame 80
    ], { width: 64, height: 48, fps: 8 });
    const s = await analyzeVideo(v, { width: 64, height: 48, backend: 'cpu' });
    const shots = scenesFromCuts(detectCuts(s, {}), s.frames);
    expect(shots).toEqual([[0, 20], [20, 40], [40, 60], [60, 80], [80, 100]]); // 20 (flash) and 80 (skip) are false cuts
    const { head, tail } = await shotEdgeEmbeddings(v, shots, new ColourHistogramEmbedder(), 7);
    const { events, similarity } = stitchEvents(shots, head, tail);
    expect(events).toEqual([0, 0, 1, 2, 2]);
    expect(similarity[1]).toBeGreaterThan(0.8);
    expect(similarity[4]).toBeGreaterThan(0.8);
    expect(similarity[2]).toBeLessThan(0.4);
    expect(similarity[3]).toBeLessThan(0.4);
    // Shots that do not touch never join, however similar.
    expect(stitchEvents([[0, 20], [25, 40]], [head[0]!, head[0]!], [head[0]!, head[0]!]).events).toEqual([0, 1]);
  });
});
