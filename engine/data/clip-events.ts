// A CLIP image embedder for event stitching (events.ts VideoEmbedder): the 8 head or tail frames of a shot go through
// the CLIP ViT image tower (engine/model/clip-vision.ts) in one batch, each embedding is L2-normalised, and the
// shot's embedding is their mean, normalised again (the spec's ViCLIP input is 8 frames; Panda-70M compares image
// embeddings). Frames are scaled by the decoder straight to image_size x image_size without a crop (as ViCLIP and
// Panda-70M do: the whole frame counts for the comparison) and normalised with CLIP's mean and std.
// `--event-embedder clip --clip-model DIR`: DIR is a CLIPVisionModelWithProjection folder (an --aesthetic-model
// folder works too: its aesthetic.safetensors is not read here).
import type { Device } from '../gpu/device.js';
import { ClipVisionModel } from '../model/clip-vision.js';
import { l2Normalize } from './aesthetic-model.js';
import { clipPreprocess } from './clip-preprocess.js';
import type { VideoEmbedder } from './events.js';

export class ClipVideoEmbedder implements VideoEmbedder {
  readonly name: string;
  readonly width: number;
  readonly height: number;

  constructor(readonly model: ClipVisionModel) {
    this.name = `clip-mean8(${model.name})`;
    this.width = this.height = model.config.image_size;
  }

  static async load(device: Device, dir: string): Promise<ClipVideoEmbedder> {
    return new ClipVideoEmbedder(await ClipVisionModel.load(device, dir));
  }

  /** normalise(mean of the normalised CLIP embeddings of the frames), frames at image_size x image_size. */
  async embed(frames: readonly Uint8Array[]): Promise<Float32Array> {
    const S = this.width;
    if (!frames.length) throw new Error(`${this.name}: no frames to embed`);
    const embs = await this.model.embedBatch(frames.map((f) => clipPreprocess(f, S, S, S)));
    const mean = new Float32Array(this.model.config.projection_dim);
    for (const e of embs) {
      const u = l2Normalize(e);
      for (let i = 0; i < mean.length; i++) mean[i]! += u[i]! / embs.length;
    }
    return l2Normalize(mean);
  }

  dispose(): void {
    this.model.dispose();
  }
}
