// "Raw" footage for the curation pipeline from the synthetic generator (Node only): long videos made of captioned
// synthetic clips back to back (hard cuts: each clip on another background than the one before), with static
// stretches (a frame held still) and a too-short tail, plus captions.jsonl telling which caption covers which frames
// (what `parallax data curate --captions` reads). The expected outcome is known: every moving clip is kept with its
// caption, every still stretch is dropped as static, every tail as too short.

import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeMp4 } from '../video/mp4.js';
import type { CaptionSegment } from './caption.js';
import { rgbToGrayRef } from '../ops/scene.ref.js';
import { synthClips, type SynthClip } from './synth.js';

export interface SynthRawOptions {
  out: string;
  videos: number;
  /** Moving clips per video. */
  clips: number;
  /** Frames per clip and per still stretch (>= 16 so each survives the minimum scene length). */
  frames: number;
  width: number;
  height: number;
  fps: number;
  seed: number;
  /** Add a still stretch after every n-th clip (default 2; 0: none). */
  stillEvery?: number;
  /** Frames of a final too-short piece (default 8; 0: none). */
  tailFrames?: number;
}

export interface RawSegment extends CaptionSegment {
  kind: 'clip' | 'still' | 'tail';
}

/** Mean |gray difference| between consecutive frames (what the static filter measures). */
export function clipMotion(c: SynthClip): number {
  const px = c.width * c.height;
  let s = 0;
  for (let t = 1; t < c.frames.length; t++) {
    const [a, b] = [c.frames[t - 1]!, c.frames[t]!];
    for (let i = 0; i < px; i++) s += Math.abs(rgbToGrayRef(a[3 * i]!, a[3 * i + 1]!, a[3 * i + 2]!) - rgbToGrayRef(b[3 * i]!, b[3 * i + 1]!, b[3 * i + 2]!));
  }
  return s / (px * (c.frames.length - 1));
}

/** Clips that move clearly (mean gray change >= minMotion), each on another background than the one before. */
export function* movingClips(o: { width: number; height: number; frames: number; seed: number }, minMotion = 1.2): Generator<SynthClip> {
  let prev: string | null = null;
  for (const c of synthClips({ ...o, count: 1_000_000, split: 'train' })) {
    if (c.attributes.background === prev || clipMotion(c) < minMotion) continue;
    prev = c.attributes.background;
    yield c;
  }
}

/** Writes raw/{raw-i}.mp4 and captions.jsonl (with each segment's kind) under `out`; returns the segments. */
export async function writeSynthRaw(o: SynthRawOptions): Promise<RawSegment[]> {
  if (o.frames < 16) throw new Error(`--frames must be >= 16 (the curation drops shorter scenes), got ${o.frames}`);
  const dir = join(o.out, 'raw');
  await mkdir(dir, { recursive: true });
  const gen = movingClips(o);
  const segs: RawSegment[] = [];
  const stillEvery = o.stillEvery ?? 2;
  const tail = o.tailFrames ?? 8;
  for (let v = 0; v < o.videos; v++) {
    const file = join(dir, `raw-${v}.mp4`);
    const src = basename(file);
    const frames: Uint8Array[] = [];
    const push = (fs: Uint8Array[], text: string, kind: RawSegment['kind']) => {
      segs.push({ source: src, start_frame: frames.length, end_frame: frames.length + fs.length, text, kind });
      frames.push(...fs);
    };
    for (let k = 0; k < o.clips; k++) {
      const c = gen.next().value as SynthClip;
      push(c.frames, c.caption, 'clip');
      if (stillEvery && (k + 1) % stillEvery === 0 && k + 1 < o.clips) {
        const s = gen.next().value as SynthClip; // another background, so the still is a cut of its own
        push(Array(o.frames).fill(s.frames[0]!), `${s.caption} (still)`, 'still');
      }
    }
    if (tail) {
      const t = gen.next().value as SynthClip;
      push(t.frames.slice(0, tail), t.caption, 'tail');
    }
    await writeMp4(file, frames, { width: o.width, height: o.height, fps: o.fps, crf: 12 });
  }
  await writeFile(join(o.out, 'captions.jsonl'), segs.map((s) => JSON.stringify(s)).join('\n') + '\n');
  return segs;
}
