// Model-based clip scores (../shared/spec/data.md section 5) behind interfaces; the weights are not reachable here,
// so each stage runs only when a model is configured and is otherwise skipped with a note.
//   aesthetic: an image embedder (CLIP ViT-L/14, L2-normalised) into LAION's MLP 768-1024-128-64-16-1, whose
//     activations are disabled so it is one affine map (collapsed here from the safetensors weights); the clip's
//     score is the mean over the frames at 10%, 50% and 90%.
//   watermark: a classifier's probability on the first, middle and last frame; the clip keeps the max (flag 0.5).
//   text (OCR): detector boxes (quads) with confidence >= 0.4 and, when the detector reads the text, >= 4 characters;
//     a frame's ratio is the boxes' area over the frame's; a frame is significant above 2%; the clip is dropped when
//     more than one frame is.
import { openSafetensors } from '../io/safetensors.js';

/** A frame size in pixels. */
export interface FrameSize {
  width: number;
  height: number;
}

/**
 * Something that maps RGB frames (width x height x 3 bytes) to one number each. A model that does its own resizing
 * (CLIP: shorter side, centre crop) gives `frameSize`: the size to decode a video of the given size at; `score`
 * then gets that size with the frames.
 */
export interface FrameScorer {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  frameSize?(width: number, height: number): FrameSize;
  score(frames: readonly Uint8Array[], size?: FrameSize): Promise<number[]>;
}

/** An image encoder: RGB frames -> L2-normalised embeddings (CLIP ViT-L/14: 768-d); frameSize as FrameScorer's. */
export interface ImageEmbedder {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly dim: number;
  frameSize?(width: number, height: number): FrameSize;
  embed(frames: readonly Uint8Array[], size?: FrameSize): Promise<Float32Array[]>;
}

export interface TextBox {
  /** Four corners [x, y] in pixels, in order around the box. */
  quad: [number, number][];
  confidence: number;
  /** The text read, from detectors that recognise it; absent from detection-only models (CRAFT). */
  text?: string;
}

/**
 * Frames (width x height x 3 RGB bytes) -> text boxes in that frame's pixels. A detector that resizes by itself
 * (CRAFT) gives `frameSize`, the size to decode a video of the given size at; `detect` then gets that size.
 */
export interface TextDetector {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  frameSize?(width: number, height: number): FrameSize;
  detect(frame: Uint8Array, size?: FrameSize): Promise<TextBox[]>;
}

const at = (start: number, end: number, f: number) => Math.min(end - 1, start + Math.floor(f * (end - start)));
/** Frames the aesthetic score reads: 10%, 50%, 90% of the clip. */
export const aestheticFrames = (start: number, end: number) => [at(start, end, 0.1), at(start, end, 0.5), at(start, end, 0.9)];
/** Frames the watermark and text scores read: first, middle, last. */
export const edgeMiddleFrames = (start: number, end: number) => [start, at(start, end, 0.5), end - 1];

/** Area of a polygon (shoelace), in square pixels. */
export function quadArea(q: readonly [number, number][]): number {
  let s = 0;
  for (let i = 0; i < q.length; i++) {
    const [x0, y0] = q[i]!;
    const [x1, y1] = q[(i + 1) % q.length]!;
    s += x0 * y1 - x1 * y0;
  }
  return Math.abs(s) / 2;
}

/** The fraction of the frame covered by boxes that count (confidence >= 0.4; >= 4 characters where text was read). */
export function textRatio(boxes: readonly TextBox[], width: number, height: number): number {
  let a = 0;
  for (const b of boxes) if (b.confidence >= 0.4 && (b.text === undefined || [...b.text.trim()].length >= 4)) a += quadArea(b.quad);
  return a / (width * height);
}

/** The OCR rule: [max frame ratio, drop?] (drop when more than one frame has ratio > 2%). */
export function ocrRule(ratios: readonly number[]): { ocr: number; drop: boolean } {
  return { ocr: Math.max(0, ...ratios), drop: ratios.filter((r) => r > 0.02).length > 1 };
}

/** LAION's aesthetic MLP with the activations off: w . e + b over the embedding. */
export interface AestheticHead {
  w: Float64Array;
  b: number;
}

/** Collapses the MLP layers (weights [out, in], biases [out], in order) into one affine map, in float64. */
export function collapseLinear(layers: readonly { weight: Float32Array; bias: Float32Array; out: number; in: number }[]): AestheticHead {
  // Start from the last layer (1 x in) and push back through the others: w <- w W_k, b <- b + w b_k.
  let last = layers[layers.length - 1]!;
  if (last.out !== 1) throw new Error(`aesthetic head: the last layer must have one output, got ${last.out}`);
  let w = Float64Array.from(last.weight);
  let b = last.bias[0]!;
  for (let k = layers.length - 2; k >= 0; k--) {
    const l = layers[k]!;
    if (l.out !== w.length) throw new Error(`aesthetic head: layer ${k} has ${l.out} outputs but the next layer takes ${w.length}`);
    const nw = new Float64Array(l.in);
    for (let o = 0; o < l.out; o++) {
      b += w[o]! * l.bias[o]!;
      for (let i = 0; i < l.in; i++) nw[i]! += w[o]! * l.weight[o * l.in + i]!;
    }
    w = nw;
    last = l;
  }
  return { w, b };
}

/** Reads LAION's improved-aesthetic-predictor weights (layers.{0,2,4,6,7}.{weight,bias}) from safetensors. */
export async function loadAestheticHead(path: string): Promise<AestheticHead> {
  const r = await openSafetensors(path);
  try {
    const ids = [...new Set(r.keys().map((k) => /^layers\.(\d+)\.weight$/.exec(k)?.[1]).filter((x): x is string => !!x).map(Number))].sort((a, b) => a - b);
    if (!ids.length) throw new Error(`${path}: no layers.N.weight tensors (expected LAION's aesthetic MLP: layers.0, .2, .4, .6, .7)`);
    const layers = [];
    for (const id of ids) {
      const info = r.info(`layers.${id}.weight`);
      if (info.shape.length !== 2) throw new Error(`${path}: layers.${id}.weight must be 2-D, got [${info.shape.join(', ')}]`);
      layers.push({ weight: await r.readFloat32(`layers.${id}.weight`), bias: await r.readFloat32(`layers.${id}.bias`), out: info.shape[0]!, in: info.shape[1]! });
    }
    return collapseLinear(layers);
  } finally {
    await r.close();
  }
}

/** The aesthetic FrameScorer: embed each frame, then the collapsed head. */
export function laionAestheticScorer(embedder: ImageEmbedder, head: AestheticHead): FrameScorer {
  if (head.w.length !== embedder.dim) throw new Error(`aesthetic head takes ${head.w.length}-d embeddings but ${embedder.name} gives ${embedder.dim}-d`);
  return {
    name: `laion-aesthetic(${embedder.name})`, width: embedder.width, height: embedder.height,
    ...(embedder.frameSize ? { frameSize: (w: number, h: number) => embedder.frameSize!(w, h) } : {}),
    async score(frames, size) {
      return (await embedder.embed(frames, size)).map((e) => e.reduce((s, v, i) => s + v * head.w[i]!, head.b));
    },
  };
}
