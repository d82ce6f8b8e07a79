// LAION's watermark detector with real weights (../shared/spec/data.md section 5; LAION-5B-WatermarkDetection):
// timm efficientnet_b3a whose classifier is Linear(1536, 625), ReLU, Dropout, Linear(625, 256), ReLU, Linear(256, 2)
// (engine/model/efficientnet.ts), behind the FrameScorer interface. `curate --watermark FILE` loads FILE, the state
// dict as safetensors with timm's key names. Preprocessing as their torchvision pipeline: Resize((256, 256)) of the
// PIL image (bilinear, antialiased, aspect not kept; PIL's two passes with 8-bit rounding between), ToTensor,
// Normalize with ImageNet's mean/std. The score is softmax(logits)[0]: class 0 is "watermark" in their labels
// (1 = "clear"). The clip keeps the max over its first, middle and last frame (scores.ts, curate.ts).

import type { Device } from '../gpu/device.js';
import { EfficientNet } from '../model/efficientnet.js';
import { PIL_BILINEAR, resizePil } from './clip-preprocess.js';
import type { FrameScorer, FrameSize } from './scores.js';

export const WATERMARK_INPUT = 256;
export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
/** Frames per pass through the network (the three frames of a clip fit in one). */
export const WATERMARK_BATCH = 4;

/** One RGB frame (width x height x 3 bytes) -> float32 [3, 256, 256] as LAION's preprocessing makes it. */
export function watermarkPreprocess(rgb: Uint8Array, width: number, height: number, size = WATERMARK_INPUT): Float32Array {
  if (rgb.length !== width * height * 3) throw new Error(`watermarkPreprocess: ${rgb.length} bytes for a ${width}x${height} RGB frame`);
  const r = width === size && height === size ? Float64Array.from(rgb) : resizePil(rgb, width, height, size, size, PIL_BILINEAR, true);
  const out = new Float32Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < size * size; i++) out[c * size * size + i] = (r[i * 3 + c]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
  }
  return out;
}

/** softmax(logits)[0], in float64. */
export function watermarkProbability(logits: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]!);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - m);
  return Math.exp(logits[0]! - m) / z;
}

/** The FrameScorer over a loaded network: frames at the video's display size, resized here. */
export function laionWatermarkScorer(model: EfficientNet, size = WATERMARK_INPUT): FrameScorer {
  return {
    name: `laion-watermark(${model.name})`, width: size, height: size,
    frameSize: (width: number, height: number): FrameSize => ({ width, height }),
    async score(frames, fs = { width: size, height: size }) {
      const out: number[] = [];
      for (let i = 0; i < frames.length; i += WATERMARK_BATCH) {
        const px = frames.slice(i, i + WATERMARK_BATCH).map((f) => watermarkPreprocess(f, fs.width, fs.height, size));
        for (const l of await model.logits(px, size, size)) out.push(watermarkProbability(l));
      }
      return out;
    },
  };
}

/** Loads the watermark model (safetensors, timm names) and checks that its head ends in the two LAION classes. */
export async function loadLaionWatermark(device: Device, path: string): Promise<{ scorer: FrameScorer; model: EfficientNet }> {
  const model = await EfficientNet.load(device, path);
  const cls = model.config.classifier;
  const classes = cls[cls.length - 1]?.out;
  if (classes !== 2) {
    model.dispose();
    throw new Error(`${path}: the classifier ends in ${classes} outputs; LAION's watermark head has 2 (watermark, clear): Linear(1536, 625), ReLU, Dropout, Linear(625, 256), ReLU, Linear(256, 2)`);
  }
  return { scorer: laionWatermarkScorer(model), model };
}
