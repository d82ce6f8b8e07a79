// Event stitching: head/tail frame choice (repeats for short shots), the colour-histogram embedder (normalised,
// colour-sensitive), and on a lavfi video: a brightness flash and a skip inside one source (false cuts of the
// content detector) are merged into their shots' events while true cuts between sources stay apart. Panda-70M's rules
// on constructed embeddings: transition shots, still events and short events.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeVideo } from '../../../engine/data/analyze.js';
import { ColourHistogramEmbedder, cosine, distance, edgeFrames, eventRules, shotEdgeEmbeddings, stitchEvents } from '../../../engine/data/events.js';
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

  // Unit vectors on a circle: at(deg) . at(deg') = cos(deg - deg'), |at(a) - at(b)| = 2 sin(|a - b| / 2).
  const at = (deg: number) => Float32Array.from([Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]);

  it('Panda-70M transition shots: flagged, their own event, never joined across', () => {
    expect(distance(at(0), at(60))).toBeCloseTo(1, 6);
    const shots: [number, number][] = [[0, 10], [10, 20], [20, 30], [30, 40], [40, 50]];
    // Shot 2 turns by 90 degrees from head to tail (distance 1.414): a transition at 1.0. Every junction is similar.
    const head = [at(0), at(5), at(10), at(100), at(105)];
    const tail = [at(3), at(8), at(100), at(103), at(108)];
    const plain = stitchEvents(shots, head, tail, 0.6);
    expect(plain.events).toEqual([0, 0, 0, 0, 0]);
    expect(plain.transition).toEqual([false, false, false, false, false]);
    const panda = stitchEvents(shots, head, tail, 0.6, { transitionDistance: 1 });
    expect(panda.transition).toEqual([false, false, true, false, false]);
    expect(panda.events).toEqual([0, 0, 1, 2, 2]);
    // Just under the shot's own distance: still a transition; just over: not.
    expect(stitchEvents(shots, head, tail, 0.6, { transitionDistance: 1.41 }).transition[2]).toBe(true);
    expect(stitchEvents(shots, head, tail, 0.6, { transitionDistance: 1.42 }).transition[2]).toBe(false);
  });

  it('Panda-70M still and short events: judged on the first head and last tail of each event', () => {
    const shots: [number, number][] = [[0, 10], [10, 20], [20, 26], [26, 40], [40, 44], [44, 60]];
    // Events: {0, 1} turns 40 degrees over its two shots (not still); {2} only 5 (still at 0.15: distance 0.087);
    // {3} is a transition; {4} turns 20 degrees in 4 frames (short at 8 frames); {5} turns 30 degrees in 16 frames.
    const head = [at(0), at(20), at(90), at(200), at(300), at(350)];
    const tail = [at(19), at(40), at(95), at(290), at(320), at(20)];
    const st = stitchEvents(shots, head, tail, 0.9, { transitionDistance: 1 });
    expect(st.events).toEqual([0, 0, 1, 2, 3, 4]);
    expect(st.transition).toEqual([false, false, false, true, false, false]);
    expect(eventRules(shots, st, head, tail, {})).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(eventRules(shots, st, head, tail, { stillDistance: 0.15 })).toEqual([undefined, undefined, 'still_event', undefined, undefined, undefined]);
    expect(eventRules(shots, st, head, tail, { stillDistance: 0.15, minEventFrames: 8 })).toEqual([undefined, undefined, 'still_event', undefined, 'short_event', undefined]);
    // An event is short when last end - first start < minEventFrames: {0, 1} spans 20 frames.
    expect(eventRules(shots, st, head, tail, { minEventFrames: 20 })[0]).toBeUndefined();
    expect(eventRules(shots, st, head, tail, { minEventFrames: 20.5 }).slice(0, 2)).toEqual(['short_event', 'short_event']);
    // The still rule compares the event's ends, not each shot: shot 0 alone (19 degrees) and shot 1 alone (20) are
    // not still at 0.4, the event from 0 to 40 degrees (0.684) is not either, but at 0.7 it is.
    expect(eventRules(shots, st, head, tail, { stillDistance: 0.4 }).slice(0, 2)).toEqual([undefined, undefined]);
    expect(eventRules(shots, st, head, tail, { stillDistance: 0.7 }).slice(0, 2)).toEqual(['still_event', 'still_event']);
  });
});

