// Event stitching (../shared/spec/data.md section 3): adjacent shots belong to one event when the embedding of the
// previous shot's last 8 frames and the next shot's first 8 are similar (cosine > 0.6 in the paper, with ViCLIP).
// Embedders plug in behind VideoEmbedder (ViCLIP, viclip-events.ts: 8 frames decoded at the display size and resized
// by the embedder (frameSize); CLIP, clip-events.ts: 8 frames at its image size); the weightless
// default is a colour histogram (Hellinger-normalised, so the cosine is the Bhattacharyya coefficient of the mean
// histograms). Frames come from a second streamed decode that keeps only the head/tail frames still waiting to be
// embedded, so memory stays at a few frames whatever the video's length. Panda-70M's rules on the same embeddings
// (options, off by default): transition shots (head far from tail) and still or too short events are flagged.
import { forEachFrameGroup } from './frame-groups.js';

export interface VideoEmbedder {
  readonly name: string;
  /** The frame size it wants (the decoder scales to it). */
  readonly width: number;
  readonly height: number;
  /**
   * The decode size it wants for a video of this display size, when it resizes frames itself (ViCLIP: cv2's
   * bilinear from the full frame); without it frames come at width x height.
   */
  frameSize?(width: number, height: number): { width: number; height: number };
  /** An L2-normalised embedding of 8 RGB frames (width*height*3 bytes each, or `size` when frameSize was asked). */
  embed(frames: readonly Uint8Array[], size?: { width: number; height: number }): Promise<Float32Array>;
}

/** Joint RGB histogram with `bins` levels per channel, averaged over the frames, square-rooted, L2-normalised. */
export class ColourHistogramEmbedder implements VideoEmbedder {
  readonly name = 'colour-histogram';
  constructor(readonly width = 64, readonly height = 64, readonly bins = 8) {}
  async embed(frames: readonly Uint8Array[]): Promise<Float32Array> {
    const b = this.bins;
    const h = new Float64Array(b * b * b);
    for (const f of frames) for (let i = 0; i + 2 < f.length; i += 3) h[(((f[i]! * b) >> 8) * b + ((f[i + 1]! * b) >> 8)) * b + ((f[i + 2]! * b) >> 8)]! += 1;
    let n = 0;
    for (let i = 0; i < h.length; i++) n += (h[i] = Math.sqrt(h[i]!)) ** 2;
    const out = new Float32Array(h.length);
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let i = 0; i < h.length; i++) out[i] = h[i]! * inv;
    return out;
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i]! * b[i]!;
    na += a[i]! ** 2;
    nb += b[i]! ** 2;
  }
  return na > 0 && nb > 0 ? d / Math.sqrt(na * nb) : 0;
}

/** The 8 frame indices of a shot's head or tail; shots shorter than 8 repeat frames. */
export function edgeFrames(start: number, end: number, part: 'head' | 'tail', k = 8): number[] {
  const len = end - start;
  if (len >= k) return Array.from({ length: k }, (_, i) => (part === 'head' ? start + i : end - k + i));
  return Array.from({ length: k }, (_, i) => start + Math.floor((i * len) / k));
}

/**
 * Head and tail embeddings of every shot, from one streamed pass over the video. `source` is the video's display size
 * (probe): an embedder with frameSize picks its decode size from it.
 */
export async function shotEdgeEmbeddings(path: string, shots: readonly [number, number][], e: VideoEmbedder, chunkFrames = 16, source?: { width: number; height: number }): Promise<{ head: Float32Array[]; tail: Float32Array[] }> {
  const head: Float32Array[] = [];
  const tail: Float32Array[] = [];
  const groups = shots.flatMap(([s, t]) => [edgeFrames(s, t, 'head'), edgeFrames(s, t, 'tail')]);
  const size = source && e.frameSize ? e.frameSize(source.width, source.height) : { width: e.width, height: e.height };
  await forEachFrameGroup(path, groups, { ...size, chunkFrames }, async (g, frames) => {
    (g % 2 ? tail : head)[g >> 1] = await e.embed(frames, size);
  });
  return { head, tail };
}

/** Euclidean distance (Panda-70M's measure; for unit vectors sqrt(2 - 2 cos)). */
export function distance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(d);
}

export interface StitchOptions {
  /**
   * Panda-70M's transition-shot rule: a shot whose head and tail embeddings are farther apart than this (Euclidean;
   * Panda-70M 1.0) holds a transition effect. It is flagged, is an event of its own, and the shots on either side
   * do not join across it (Panda-70M removes it before stitching, so they no longer touch). Off when undefined.
   */
  transitionDistance?: number;
}

/**
 * Event id per shot: shot i joins shot i-1's event when they touch and cos(tail[i-1], head[i]) > threshold.
 * `similarity[i]` is that cosine (NaN for the first shot); `transition[i]` marks transition shots (options).
 */
export function stitchEvents(shots: readonly [number, number][], head: readonly Float32Array[], tail: readonly Float32Array[], threshold = 0.6, opts: StitchOptions = {}): { events: number[]; similarity: number[]; transition: boolean[] } {
  const events: number[] = [];
  const similarity: number[] = [];
  const td = opts.transitionDistance;
  const transition = shots.map((_, i) => td !== undefined && distance(head[i]!, tail[i]!) > td);
  shots.forEach(([s], i) => {
    if (i === 0) {
      events.push(0);
      similarity.push(NaN);
      return;
    }
    const sim = cosine(tail[i - 1]!, head[i]!);
    similarity.push(sim);
    const join = shots[i - 1]![1] === s && sim > threshold && !transition[i] && !transition[i - 1];
    events.push(join ? events[i - 1]! : events[i - 1]! + 1);
  });
  return { events, similarity, transition };
}

export interface EventRuleOptions {
  /** Panda-70M's still-event rule: drop an event when |head of its first shot - tail of its last| < this (0.15). */
  stillDistance?: number;
  /** Panda-70M's length rule: drop an event when its last frame - first frame < this many frames (2 s there). */
  minEventFrames?: number;
}

/**
 * Panda-70M's event rules, per shot: 'still_event' when the shot's event hardly changes from its first frames to its
 * last (embedding distance below stillDistance), 'short_event' when the event spans fewer than minEventFrames;
 * undefined otherwise. Transition shots (stitchEvents) are left to their own rule and get undefined here.
 */
export function eventRules(shots: readonly [number, number][], stitched: { events: readonly number[]; transition: readonly boolean[] }, head: readonly Float32Array[], tail: readonly Float32Array[], opts: EventRuleOptions): ('still_event' | 'short_event' | undefined)[] {
  const span = new Map<number, { first: number; last: number }>();
  shots.forEach((_, i) => {
    if (stitched.transition[i]) return;
    const e = stitched.events[i]!;
    const g = span.get(e);
    if (g) g.last = i;
    else span.set(e, { first: i, last: i });
  });
  const verdict = new Map<number, 'still_event' | 'short_event' | undefined>();
  for (const [e, { first, last }] of span) {
    const still = opts.stillDistance !== undefined && distance(head[first]!, tail[last]!) < opts.stillDistance;
    const short = opts.minEventFrames !== undefined && shots[last]![1] - shots[first]![0] < opts.minEventFrames;
    verdict.set(e, still ? 'still_event' : short ? 'short_event' : undefined);
  }
  return shots.map((_, i) => (stitched.transition[i] ? undefined : verdict.get(stitched.events[i]!)));
}
