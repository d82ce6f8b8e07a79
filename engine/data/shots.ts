// Shot detection state machines (PySceneDetect semantics, ../shared/spec/data.md section 2) over per-frame
// statistics: ContentDetector (weighted HSV difference >= threshold), AdaptiveDetector (the score against the mean
// of its neighbours), ThresholdDetector (fades through black). The per-pixel work happens before, in
// engine/ops/scene.ts (GPU) or its CPU reference; these classes only see one number per frame.

/** Per-frame statistics of a video, in frame order (engine/data/analyze.ts builds them). */
export interface FrameSeries {
  frames: number;
  /** Pixels per analysed frame. */
  pixels: number;
  width: number;
  height: number;
  /** Sums over the pixels of |dH|, |dS|, |dV|, |dGray| against the previous frame (0 for frame 0). */
  dh: Float64Array;
  ds: Float64Array;
  dv: Float64Array;
  dgray: Float64Array;
  /** Sums over the pixels of R+G+B and of gray. */
  sumRgb: Float64Array;
  sumGray: Float64Array;
  /** Sums over the pixels of |dEdges| (0/255 edge maps, engine/data/edges.ts); only when analysed with edges. */
  dedges?: Float64Array;
}

export interface ContentWeights {
  hue: number;
  sat: number;
  lum: number;
  /** PySceneDetect's delta_edges weight (default 0: the edge channel is not computed). */
  edges?: number;
}

export const DEFAULT_WEIGHTS: ContentWeights = { hue: 1, sat: 1, lum: 1, edges: 0 };

/** Whether these weights need the edge channel (analyzeVideo's `edges`). */
export const needsEdges = (w: ContentWeights | undefined) => (w?.edges ?? 0) !== 0;

/** PySceneDetect's content_val of frame t: per-channel mean |x_t - x_{t-1}|, weighted, over the sum of |weights|. */
export function contentScores(s: FrameSeries, w: ContentWeights = DEFAULT_WEIGHTS): Float64Array {
  const we = w.edges ?? 0;
  const norm = Math.abs(w.hue) + Math.abs(w.sat) + Math.abs(w.lum) + Math.abs(we);
  if (!(norm > 0)) throw new Error('content weights: at least one of hue, sat, lum, edges must be non-zero');
  if (we !== 0 && !s.dedges) throw new Error('content weights: an edge weight needs the edge channel (analyzeVideo with edges: true)');
  const out = new Float64Array(s.frames);
  for (let t = 1; t < s.frames; t++) {
    const e = we !== 0 ? (s.dedges![t]! / s.pixels) * we : 0;
    out[t] = (s.dh[t]! / s.pixels * w.hue + s.ds[t]! / s.pixels * w.sat + s.dv[t]! / s.pixels * w.lum + e) / norm;
  }
  return out;
}

/** ThresholdDetector's frame average: the mean of all R, G, B values. */
export function frameAverages(s: FrameSeries): Float64Array {
  return Float64Array.from(s.sumRgb, (v) => v / (3 * s.pixels));
}

export interface Detector {
  /** Feeds frame `frameNum` (sequential); returns cut frames found (each cut starts a new scene). */
  process(frameNum: number, value: number): number[];
  /** Called once after the last frame (number `lastFrame`); may return final cuts. */
  finish(lastFrame: number): number[];
}

export type FlashMode = 'suppress' | 'merge';

/**
 * PySceneDetect's minimum-scene-length filter over "above threshold" frames. suppress (the spec's rule, PySceneDetect
 * before 0.6.4): a cut needs minSceneLen frames since the last cut. merge (PySceneDetect 0.6.4+'s default): a run of
 * cuts closer than minSceneLen after the first cut is merged into one cut at the run's last frame above the
 * threshold, emitted once minSceneLen quiet frames follow and the run itself spans >= minSceneLen frames.
 */
export class FlashFilter {
  private lastAbove: number | null = null;
  private mergeEnabled = false;
  private merging = false;
  private mergeStart = 0;
  constructor(readonly mode: FlashMode, readonly length: number) {}
  process(frameNum: number, above: boolean): number[] {
    if (!(this.length > 0)) return above ? [frameNum] : [];
    this.lastAbove ??= frameNum;
    const longEnough = frameNum - this.lastAbove >= this.length;
    if (this.mode === 'suppress') {
      if (!(above && longEnough)) return [];
      this.lastAbove = frameNum;
      return [frameNum];
    }
    if (above) this.lastAbove = frameNum;
    if (this.merging) {
      if (longEnough && !above && this.lastAbove - this.mergeStart >= this.length) {
        this.merging = false;
        return [this.lastAbove];
      }
      return [];
    }
    if (!above) return [];
    if (longEnough) {
      this.mergeEnabled = true;
      return [frameNum];
    }
    if (this.mergeEnabled) {
      this.merging = true;
      this.mergeStart = frameNum;
    }
    return [];
  }
}

export interface ContentOptions {
  threshold?: number;
  minSceneLen?: number;
  /** How minSceneLen is enforced (default 'suppress', the spec's rule; PySceneDetect 0.6.4+ defaults to 'merge'). */
  flashMode?: FlashMode;
}

/** Cut at frame t when content_val >= threshold (default 27) and the flash filter (minSceneLen 15) lets it through. */
export class ContentDetector implements Detector {
  readonly threshold: number;
  readonly minSceneLen: number;
  private readonly filter: FlashFilter;
  constructor(o: ContentOptions = {}) {
    this.threshold = o.threshold ?? 27;
    this.minSceneLen = o.minSceneLen ?? 15;
    this.filter = new FlashFilter(o.flashMode ?? 'suppress', this.minSceneLen);
  }
  process(frameNum: number, score: number): number[] {
    return this.filter.process(frameNum, score >= this.threshold);
  }
  finish(): number[] {
    return [];
  }
}

export interface AdaptiveOptions {
  /** Ratio threshold: PySceneDetect's default 3.0; the Vchitect paper states 21.0. */
  adaptiveThreshold?: number;
  minContentVal?: number;
  windowWidth?: number;
  minSceneLen?: number;
}

/**
 * For the middle frame of a window of 2w+1 content scores: ratio = score / mean(other 2w) capped at 255 (255 when
 * that mean is ~0 and score >= minContentVal); cut there when ratio >= adaptiveThreshold, score >= minContentVal
 * and the newest frame is >= minSceneLen past the last cut (PySceneDetect checks the newest frame, not the middle).
 */
export class AdaptiveDetector implements Detector {
  readonly adaptiveThreshold: number;
  readonly minContentVal: number;
  readonly windowWidth: number;
  readonly minSceneLen: number;
  private lastCut: number | null = null;
  private buf: [number, number][] = [];
  constructor(o: AdaptiveOptions = {}) {
    this.adaptiveThreshold = o.adaptiveThreshold ?? 3.0;
    this.minContentVal = o.minContentVal ?? 15.0;
    this.windowWidth = o.windowWidth ?? 2;
    this.minSceneLen = o.minSceneLen ?? 15;
    if (!Number.isInteger(this.windowWidth) || this.windowWidth < 1) throw new Error(`adaptive window width must be a positive integer, got ${this.windowWidth}`);
  }
  /** The ratio of the window's middle frame (exported for tests and stats). */
  static ratio(window: readonly number[], w: number, minContentVal: number): number {
    const target = window[w]!;
    let sum = 0;
    window.forEach((v, i) => {
      if (i !== w) sum += v;
    });
    const avg = sum / (2 * w);
    if (Math.abs(avg) >= 0.00001) return Math.min(target / avg, 255.0);
    return target >= minContentVal ? 255.0 : 0.0;
  }
  process(frameNum: number, score: number): number[] {
    this.lastCut ??= frameNum;
    const need = 1 + 2 * this.windowWidth;
    this.buf.push([frameNum, score]);
    if (this.buf.length < need) return [];
    if (this.buf.length > need) this.buf.shift();
    const [target, targetScore] = this.buf[this.windowWidth]!;
    const ratio = AdaptiveDetector.ratio(this.buf.map((b) => b[1]), this.windowWidth, this.minContentVal);
    if (ratio >= this.adaptiveThreshold && targetScore >= this.minContentVal && frameNum - this.lastCut >= this.minSceneLen) {
      this.lastCut = target;
      return [target];
    }
    return [];
  }
  finish(): number[] {
    return [];
  }
}

export interface ThresholdOptions {
  /** 8-bit level: a frame whose mean R, G, B is below it is black (default 12). */
  threshold?: number;
  minSceneLen?: number;
  /** -1: cut at the fade-out, 0: midway, +1: at the fade-in (default 0). */
  fadeBias?: number;
  /** Also cut where the video ends on a fade-out. */
  addFinalScene?: boolean;
}

/**
 * Fades to black: a frame is "out" when its mean is below the threshold. On a fade-in after a fade-out (and
 * minSceneLen frames since the last cut) the cut goes to int((in + out + int(bias * (in - out))) / 2), as
 * PySceneDetect's threshold_detector.py computes it (int() truncates; all values are >= 0 here).
 */
export class ThresholdDetector implements Detector {
  readonly threshold: number;
  readonly minSceneLen: number;
  readonly fadeBias: number;
  readonly addFinalScene: boolean;
  private lastCut: number | null = null;
  private fade: { frame: number; type: 'in' | 'out' } | null = null;
  constructor(o: ThresholdOptions = {}) {
    this.threshold = Math.trunc(o.threshold ?? 12);
    this.minSceneLen = o.minSceneLen ?? 15;
    this.fadeBias = o.fadeBias ?? 0;
    this.addFinalScene = o.addFinalScene ?? false;
    if (!(this.fadeBias >= -1 && this.fadeBias <= 1)) throw new Error(`fade bias must be in [-1, 1], got ${this.fadeBias}`);
  }
  process(frameNum: number, avg: number): number[] {
    this.lastCut ??= frameNum;
    if (!this.fade) {
      this.fade = { frame: 0, type: avg < this.threshold ? 'out' : 'in' };
      return [];
    }
    if (this.fade.type === 'in' && avg < this.threshold) {
      this.fade = { frame: frameNum, type: 'out' };
    } else if (this.fade.type === 'out' && avg >= this.threshold) {
      const out: number[] = [];
      if (frameNum - this.lastCut >= this.minSceneLen) {
        const f = this.fade.frame;
        out.push(Math.trunc((frameNum + f + Math.trunc(this.fadeBias * (frameNum - f))) / 2));
        this.lastCut = frameNum;
      }
      this.fade = { frame: frameNum, type: 'in' };
      return out;
    }
    return [];
  }
  finish(lastFrame: number): number[] {
    if (this.addFinalScene && this.fade?.type === 'out' && this.lastCut !== null && lastFrame - this.lastCut >= this.minSceneLen) return [this.fade.frame];
    return [];
  }
}

export type DetectorKind = 'content' | 'adaptive' | 'threshold';

export interface ShotOptions extends ContentOptions, AdaptiveOptions, ThresholdOptions {
  detector?: DetectorKind;
  weights?: ContentWeights;
  /** Panda-70M style: split shots longer than this many frames into pieces of forceCutFrames (off by default). */
  maxShotFrames?: number;
  forceCutFrames?: number;
}

/** The detector's cut frames over a whole series. */
export function detectCuts(s: FrameSeries, o: ShotOptions = {}): number[] {
  const kind = o.detector ?? 'content';
  let det: Detector;
  let values: Float64Array;
  if (kind === 'content') {
    det = new ContentDetector(o);
    values = contentScores(s, o.weights);
  } else if (kind === 'adaptive') {
    det = new AdaptiveDetector(o);
    values = contentScores(s, o.weights);
  } else if (kind === 'threshold') {
    det = new ThresholdDetector(o);
    values = frameAverages(s);
  } else throw new Error(`unknown shot detector '${String(kind)}' (content, adaptive or threshold)`);
  const cuts: number[] = [];
  for (let t = 0; t < s.frames; t++) cuts.push(...det.process(t, values[t]!));
  if (s.frames) cuts.push(...det.finish(s.frames - 1));
  return cuts.filter((c) => c > 0 && c < s.frames);
}

/** Scenes [start, end) from sorted cut frames; a video without cuts is one scene. Optional forced splits. */
export function scenesFromCuts(cuts: readonly number[], frames: number, o: { maxShotFrames?: number; forceCutFrames?: number } = {}): [number, number][] {
  const edges = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < frames).sort((a, b) => a - b), frames];
  const scenes: [number, number][] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const [a, b] = [edges[i]!, edges[i + 1]!];
    if (o.maxShotFrames && b - a > o.maxShotFrames) {
      const step = o.forceCutFrames ?? o.maxShotFrames;
      for (let x = a; x < b; x += step) scenes.push([x, Math.min(b, x + step)]);
    } else scenes.push([a, b]);
  }
  return frames > 0 ? scenes : [];
}

/** Precision, recall and F1 of detected cuts against true cuts, one-to-one matching within +-tolerance frames. */
export function cutScores(found: readonly number[], truth: readonly number[], tolerance = 1): { tp: number; fp: number; fn: number; precision: number; recall: number; f1: number } {
  const used = new Set<number>();
  let tp = 0;
  for (const f of [...found].sort((a, b) => a - b)) {
    let best = -1;
    for (let i = 0; i < truth.length; i++) {
      if (used.has(i) || Math.abs(truth[i]! - f) > tolerance) continue;
      if (best < 0 || Math.abs(truth[i]! - f) < Math.abs(truth[best]! - f)) best = i;
    }
    if (best >= 0) {
      used.add(best);
      tp++;
    }
  }
  const fp = found.length - tp;
  const fn = truth.length - tp;
  const precision = found.length ? tp / found.length : truth.length ? 0 : 1;
  const recall = truth.length ? tp / truth.length : 1;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { tp, fp, fn, precision, recall, f1 };
}

/** Per-frame metrics in PySceneDetect's stats-file spirit (one row per frame) for tuning thresholds. */
export function frameStatsRows(s: FrameSeries, fps: number, o: { weights?: ContentWeights; windowWidth?: number; minContentVal?: number } = {}): Record<string, number>[] {
  const content = contentScores(s, o.weights);
  const avg = frameAverages(s);
  const w = o.windowWidth ?? 2;
  return Array.from({ length: s.frames }, (_, t) => {
    const win = t >= w && t + w < s.frames ? Array.from(content.subarray(t - w, t + w + 1)) : null;
    return {
      frame: t, time: t / fps, content_val: content[t]!, delta_hue: s.dh[t]! / s.pixels, delta_sat: s.ds[t]! / s.pixels, delta_lum: s.dv[t]! / s.pixels,
      adaptive_ratio: win ? AdaptiveDetector.ratio(win, w, o.minContentVal ?? 15) : NaN, delta_gray: s.dgray[t]! / s.pixels, average_rgb: avg[t]!,
      ...(s.dedges ? { delta_edges: s.dedges[t]! / s.pixels } : {}),
    };
  });
}
