// The ViCLIP video embedder for event stitching (events.ts VideoEmbedder; ../shared/spec/data.md section 3): the 8
// head or tail frames of a shot go through ViCLIP's video encoder (engine/model/viclip-vision.ts) together, as one
// clip, and the output is L2-normalised (ViCLIP's get_vid_features). Preprocessing as ViCLIP's frames2tensor (and
// Panda-70M's stitching): the whole frame, no crop, cv2.resize to image_size x image_size with INTER_LINEAR
// (resize-linear.ts) from the decoded display size, then ImageNet's mean and std. Frames larger than 1920x1080 are
// first scaled down by the decoder (area) to fit it, which bounds the frames held while a head/tail group waits.
// `--event-embedder viclip --viclip-model DIR`: DIR holds model.safetensors converted from ViClip-InternVid-10M-FLT.pth
// (docs/data.md).
import type { Device } from '../gpu/device.js';
import { ViclipVisionModel } from '../model/viclip-vision.js';
import { l2Normalize } from './aesthetic-model.js';
import type { VideoEmbedder } from './events.js';
import { resizeLinear } from './resize-linear.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** RGB frames (size x size x 3 bytes each) -> float32 [T, 3, size, size], (x / 255 - mean) / std per channel. */
export function viclipPixels(frames: readonly Uint8Array[], size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(frames.length * 3 * plane);
  frames.forEach((f, t) => {
    if (f.length !== plane * 3) throw new Error(`viclipPixels: frame ${t} has ${f.length} bytes; expected ${size} x ${size} x 3`);
    for (let c = 0; c < 3; c++) {
      const o = (t * 3 + c) * plane;
      for (let p = 0; p < plane; p++) out[o + p] = (f[p * 3 + c]! / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
    }
  });
  return out;
}

/** The model's num_frames frames out of `n`: all of them when n equals it, else evenly spread (floor(i * n / T)). */
export function pickFrames(n: number, T: number): number[] {
  return Array.from({ length: T }, (_, i) => Math.floor((i * n) / T));
}

/** Largest decode size (longer x shorter side) for the embedder's frames. */
export const MAX_DECODE = { width: 1920, height: 1080 } as const;

export class ViclipVideoEmbedder implements VideoEmbedder {
  readonly name: string;
  readonly width: number;
  readonly height: number;

  constructor(readonly model: ViclipVisionModel) {
    this.name = `viclip(${model.name})`;
    this.width = this.height = model.config.image_size;
  }

  static async load(device: Device, dir: string): Promise<ViclipVideoEmbedder> {
    return new ViclipVideoEmbedder(await ViclipVisionModel.load(device, dir));
  }

  /** The display size, scaled down (keeping the aspect) to fit 1920x1080 when larger. */
  frameSize(width: number, height: number): { width: number; height: number } {
    const f = Math.min(1, MAX_DECODE.width / Math.max(width, height), MAX_DECODE.height / Math.min(width, height));
    if (f >= 1) return { width, height };
    const even = (x: number) => Math.max(2, 2 * Math.round((x * f) / 2));
    return { width: even(width), height: even(height) };
  }

  /**
   * normalise(ViCLIP(frames)): frames of `size` (default image_size square) are resized with cv2's INTER_LINEAR to
   * image_size, and resampled to the model's frame count when there are not exactly that many.
   */
  async embed(frames: readonly Uint8Array[], size: { width: number; height: number } = { width: this.width, height: this.height }): Promise<Float32Array> {
    if (!frames.length) throw new Error(`${this.name}: no frames to embed`);
    const S = this.width;
    const picked = pickFrames(frames.length, this.model.config.num_frames).map((i) => resizeLinear(frames[i]!, size.width, size.height, S, S));
    return l2Normalize(await this.model.embed(viclipPixels(picked, S)));
  }

  dispose(): void {
    this.model.dispose();
  }
}
