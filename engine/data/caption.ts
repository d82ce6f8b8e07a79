// Captioner interface of the curation pipeline. A real video captioner (a video LLM on 16 frames) plugs in behind
// the same interface; the one that ships reads captions from known segments of the sources (the synthetic
// generator's metadata: raw videos built from captioned clips), giving each clip the text of the segment that
// overlaps it most. Openers such as "The video shows" are stripped, as the spec's pipelines do.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

export interface ClipRef {
  /** Path of the source video. */
  source: string;
  startFrame: number;
  endFrame: number;
  fps: number;
}

export interface Captioner {
  readonly name: string;
  /** The clip's caption, or null when there is none. */
  caption(clip: ClipRef): Promise<string | null>;
}

/** A captioned span of a source video (one line of a captions JSONL file). */
export interface CaptionSegment {
  /** Source file name or path (matched by base name when it has no directory part). */
  source: string;
  start_frame: number;
  end_frame: number;
  text: string;
}

const OPENERS = /^\s*(the|this)\s+(video|clip|footage|scene)\s+(shows|depicts|features|captures|presents)\s*:?\s*/i;

/** Removes openers such as "The video shows" and capitalises nothing else. */
export function stripOpeners(text: string): string {
  return text.replace(OPENERS, '').trim();
}

/** Captions from known segments: the segment of the same source with the largest overlap (ties: the first). */
export function segmentCaptioner(segments: readonly CaptionSegment[]): Captioner {
  const same = (seg: CaptionSegment, source: string) => (seg.source.includes('/') ? seg.source === source : seg.source === basename(source));
  return {
    name: 'segments',
    async caption(c) {
      let best: CaptionSegment | null = null;
      let bestOverlap = 0;
      for (const s of segments) {
        if (!same(s, c.source)) continue;
        const ov = Math.min(s.end_frame, c.endFrame) - Math.max(s.start_frame, c.startFrame);
        if (ov > bestOverlap) {
          best = s;
          bestOverlap = ov;
        }
      }
      return best ? stripOpeners(best.text) : null;
    },
  };
}

/** Reads a captions JSONL file (CaptionSegment per line); names the line of a bad entry. */
export async function readCaptionSegments(path: string): Promise<CaptionSegment[]> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  const out: CaptionSegment[] = [];
  lines.forEach((l, i) => {
    if (!l.trim()) return;
    let j: Partial<CaptionSegment>;
    try {
      j = JSON.parse(l);
    } catch {
      throw new Error(`${path}:${i + 1}: not JSON`);
    }
    if (typeof j.source !== 'string' || typeof j.text !== 'string' || !Number.isInteger(j.start_frame) || !Number.isInteger(j.end_frame)) {
      throw new Error(`${path}:${i + 1}: a caption segment needs source (string), start_frame, end_frame (integers) and text`);
    }
    out.push(j as CaptionSegment);
  });
  return out;
}
