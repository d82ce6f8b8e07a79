// The CRAFT text detector behind the TextDetector interface (scores.ts), as CRAFT-pytorch's test.py runs it:
// resize_aspect_ratio (longer side to mag_ratio x itself, at most canvas_size; cv2.INTER_LINEAR's fixed-point
// bilinear), zero padding to multiples of 32, normalizeMeanVariance (ImageNet mean/std
// x 255), the network (engine/model/craft.ts), getDetBoxes_core (craft-boxes.ts) and adjustResultCoordinates (x 2 /
// ratio). Boxes are clamped to the frame (ours: the padding can carry a box past the edge). CRAFT does not read
// the text, so boxes have no `text` and their confidence is the component's peak region score.

import type { Device } from '../gpu/device.js';
import { CraftModel } from '../model/craft.js';
import { Tensor } from '../tensor.js';
import { craftBoxes, type CraftBoxOptions } from './craft-boxes.js';
import type { FrameSize, TextBox, TextDetector } from './scores.js';

export interface CraftDetectorOptions extends CraftBoxOptions {
  /** The longest side the image is resized to at most (test.py: 1280; EasyOCR: 2560). */
  canvasSize?: number;
  /** Magnification of the longer side before the canvas cap (test.py: 1.5; EasyOCR: 1). */
  magRatio?: number;
}

/** resize_aspect_ratio's geometry: the resized size, the padded (multiple of 32) size and the ratio. */
export function craftGeometry(width: number, height: number, canvasSize = 1280, magRatio = 1.5) {
  const target = Math.min(magRatio * Math.max(height, width), canvasSize);
  const ratio = target / Math.max(height, width);
  const th = Math.trunc(height * ratio), tw = Math.trunc(width * ratio);
  if (th < 1 || tw < 1) throw new Error(`CRAFT: a ${width}x${height} frame resizes to ${tw}x${th} (canvas ${canvasSize}, mag ${magRatio}); nothing to detect on`);
  const pad = (n: number) => (n % 32 ? n + 32 - (n % 32) : n);
  return { ratio, width: tw, height: th, padWidth: pad(tw), padHeight: pad(th) };
}

/** cvRound: round half to even (lrint). */
const cvRound = (v: number) => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/**
 * One axis of cv2.resize(INTER_LINEAR)'s tables: source index and the two 11-bit fixed-point weights per output
 * position (the source position is computed in float32, as OpenCV does; out-of-range positions clamp to the edge).
 */
function linearTable(n: number, m: number, clampEdges: boolean): { i: Int32Array; a0: Int32Array; a1: Int32Array } {
  const scale = 1 / (m / n);
  const i = new Int32Array(m), a0 = new Int32Array(m), a1 = new Int32Array(m);
  for (let d = 0; d < m; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampEdges && s < 0) (f = 0), (s = 0);
    if (clampEdges && s >= n - 1) (f = 0), (s = n - 1);
    i[d] = s;
    a0[d] = cvRound(Math.fround(1 - f) * 2048);
    a1[d] = cvRound(f * 2048);
  }
  return { i, a0, a1 };
}

/**
 * cv2.resize(INTER_LINEAR) of an 8-bit RGB image as OpenCV 4 computes it: float32 source positions, 11-bit weights,
 * a horizontal pass in integers, then the vertical mix in 16-bit fixed point (tested equal to opencv-js 4.5).
 */
export function resizeRgbLinear(src: Uint8Array, w: number, h: number, tw: number, th: number): Uint8Array {
  const out = new Uint8Array(tw * th * 3);
  // Columns clamp the position at the edges; rows keep it and clamp the row index (so edge rows mix a row with itself).
  const ys = linearTable(h, th, false), xs = linearTable(w, tw, true);
  // Horizontally resized rows, computed once per source row.
  const rows = new Map<number, Int32Array>();
  const row = (y: number) => {
    let r = rows.get(y);
    if (!r) {
      r = new Int32Array(tw * 3);
      for (let x = 0; x < tw; x++) {
        const s = xs.i[x]!, s1 = Math.min(s + 1, w - 1);
        for (let c = 0; c < 3; c++) r[x * 3 + c] = src[(y * w + s) * 3 + c]! * xs.a0[x]! + src[(y * w + s1) * 3 + c]! * xs.a1[x]!;
      }
      rows.set(y, r);
    }
    return r;
  };
  for (let y = 0; y < th; y++) {
    const s = ys.i[y]!;
    const r0 = row(Math.min(Math.max(s, 0), h - 1)), r1 = row(Math.min(Math.max(s + 1, 0), h - 1));
    const b0 = ys.a0[y]!, b1 = ys.a1[y]!;
    const n = tw * 3;
    // OpenCV's vector formula: (hi16((S0 >> 4) b0) + hi16((S1 >> 4) b1) + 2) >> 2 (equal to opencv-js on every byte;
    // a native build's scalar tail, (S0 b0 + S1 b1 + 2^21) >> 22 on the last < 16 bytes of a row, can be one level off).
    for (let k = 0; k < n; k++) out[y * n + k] = Math.min(255, Math.max(0, ((((r0[k]! >> 4) * b0) >> 16) + (((r1[k]! >> 4) * b1) >> 16) + 2) >> 2));
    if (s > 1) rows.delete(s - 2);
  }
  return out;
}

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** The network input [3, padH, padW] (planar, normalised) of an RGB frame, and the resize ratio. */
export function craftInput(frame: Uint8Array, width: number, height: number, o: CraftDetectorOptions = {}): { data: Float32Array; ratio: number; padWidth: number; padHeight: number } {
  if (frame.length !== width * height * 3) throw new Error(`CRAFT: a ${width}x${height} RGB frame has ${width * height * 3} bytes, got ${frame.length}`);
  const g = craftGeometry(width, height, o.canvasSize, o.magRatio);
  const img = g.width === width && g.height === height ? frame : resizeRgbLinear(frame, width, height, g.width, g.height);
  const n = g.padWidth * g.padHeight;
  const data = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(MEAN[c]! * 255), s = Math.fround(STD[c]! * 255);
    for (let y = 0; y < g.padHeight; y++)
      for (let x = 0; x < g.padWidth; x++) {
        const v = y < g.height && x < g.width ? img[(y * g.width + x) * 3 + c]! : 0;
        data[c * n + y * g.padWidth + x] = (v - m) / s;
      }
  }
  return { data, ratio: g.ratio, padWidth: g.padWidth, padHeight: g.padHeight };
}

export class CraftTextDetector implements TextDetector {
  readonly name: string;
  /** Nominal size (frames are asked for at the video's own size, see frameSize). */
  readonly width: number;
  readonly height: number;

  constructor(readonly model: CraftModel, readonly options: CraftDetectorOptions = {}) {
    // The options are in the name, which keys curate's resumable state.
    const t = [options.textThreshold ?? 0.7, options.linkThreshold ?? 0.4, options.lowText ?? 0.4];
    this.name = `craft(${model.name}, canvas ${options.canvasSize ?? 1280}, mag ${options.magRatio ?? 1.5}${t.join() === '0.7,0.4,0.4' ? '' : `, thresholds ${t.join('/')}`})`;
    this.width = this.height = options.canvasSize ?? 1280;
  }

  /** Frames are wanted at the video's own size (the detector resizes them as CRAFT does). */
  frameSize(width: number, height: number): FrameSize {
    return { width, height };
  }

  async detect(frame: Uint8Array, size: FrameSize = { width: this.width, height: this.height }): Promise<TextBox[]> {
    const inp = craftInput(frame, size.width, size.height, this.options);
    const x = Tensor.from(this.model.device, inp.data, [1, 3, inp.padHeight, inp.padWidth], 'f32', 'craft input');
    let s: Awaited<ReturnType<CraftModel['scores']>>;
    try {
      s = await this.model.scores(x);
    } finally {
      x.dispose();
    }
    const k = 2 / inp.ratio;
    const clamp = (v: number, hi: number) => Math.min(hi, Math.max(0, v));
    return craftBoxes(s.region, s.affinity, s.width, s.height, this.options).map((b) => ({
      quad: b.quad.map(([px, py]) => [clamp(px * k, size.width), clamp(py * k, size.height)] as [number, number]),
      confidence: b.score,
    }));
  }
}

/** `curate --text-detector FILE`: CRAFT weights (safetensors, see docs/data.md) on the GPU. */
export async function loadCraftDetector(device: Device, path: string, o: CraftDetectorOptions = {}): Promise<CraftTextDetector> {
  return new CraftTextDetector(await CraftModel.load(device, path), o);
}
