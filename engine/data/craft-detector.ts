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
import { resizeLinear } from './resize-linear.js';
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

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

/** The network input [3, padH, padW] (planar, normalised) of an RGB frame, and the resize ratio. */
export function craftInput(frame: Uint8Array, width: number, height: number, o: CraftDetectorOptions = {}): { data: Float32Array; ratio: number; padWidth: number; padHeight: number } {
  if (frame.length !== width * height * 3) throw new Error(`CRAFT: a ${width}x${height} RGB frame has ${width * height * 3} bytes, got ${frame.length}`);
  const g = craftGeometry(width, height, o.canvasSize, o.magRatio);
  const img = g.width === width && g.height === height ? frame : resizeLinear(frame, width, height, g.width, g.height);
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
