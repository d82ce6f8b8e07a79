// The LAION aesthetic predictor with real weights (../shared/spec/data.md section 5): a CLIP ViT image tower on the
// GPU (engine/model/clip-vision.ts) behind the ImageEmbedder interface, then LAION's MLP head (scores.ts collapses
// it). A model folder (`curate --aesthetic-model DIR`) holds:
//   config.json                 CLIPVisionModelWithProjection config (or a CLIPModel config with vision_config)
//   model.safetensors           the HF weights (vision_model.*, visual_projection.weight; text_model.* is ignored)
//   aesthetic.safetensors       improved-aesthetic-predictor's MLP: layers.{0,2,4,6,7}.{weight,bias},
//                               projection_dim -> 1024 -> 128 -> 64 -> 16 -> 1 (convert the .pth with safetensors)
// Frames are decoded at the video's display size and preprocessed as CLIPImageProcessor does (clip-preprocess.ts)
// at the config's image_size (224 for ViT-L/14).

import { join } from 'node:path';
import type { Device } from '../gpu/device.js';
import { CheckpointValidationError, checkKeys } from '../io/checkpoint.js';
import { aestheticHeadKeys } from '../io/keys.js';
import { NodeFileStore } from '../io/node-files.js';
import { SingleFileWeights } from '../io/sharded.js';
import { ClipVisionModel } from '../model/clip-vision.js';
import { clipPreprocess } from './clip-preprocess.js';
import { laionAestheticScorer, loadAestheticHead, type FrameScorer, type FrameSize, type ImageEmbedder } from './scores.js';

export const AESTHETIC_HEAD_FILE = 'aesthetic.safetensors';

/** L2-normalised CLIP image embeddings of RGB frames (any size: resized and cropped here). */
export class ClipImageEmbedder implements ImageEmbedder {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly dim: number;

  constructor(readonly model: ClipVisionModel) {
    this.name = `clip-vision(${model.name})`;
    this.width = this.height = model.config.image_size;
    this.dim = model.config.projection_dim;
  }

  /** Frames are wanted at the video's own size (the preprocessing resizes them). */
  frameSize(width: number, height: number): FrameSize {
    return { width, height };
  }

  async embed(frames: readonly Uint8Array[], size: FrameSize = { width: this.width, height: this.height }): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const f of frames) {
      const e = await this.model.embed(clipPreprocess(f, size.width, size.height, this.model.config.image_size));
      let n = 0;
      for (const v of e) n += v * v;
      const inv = 1 / Math.max(Math.sqrt(n), 1e-12);
      out.push(Float32Array.from(e, (v) => v * inv));
    }
    return out;
  }
}

/** Checks the head file's keys and shapes against the embedding size (missing keys, wrong shapes named). */
async function checkHead(dir: string, dim: number): Promise<void> {
  const store = new NodeFileStore(dir);
  if (!(await store.exists(AESTHETIC_HEAD_FILE))) {
    throw new Error(`${dir}: no ${AESTHETIC_HEAD_FILE} (LAION's improved-aesthetic-predictor MLP, layers.{0,2,4,6,7}, converted to safetensors)`);
  }
  const w = await SingleFileWeights.open(store, AESTHETIC_HEAD_FILE);
  try {
    const problems = checkKeys(w, aestheticHeadKeys(dim), `the CLIP projection_dim is ${dim}`);
    if (problems.length) throw new CheckpointValidationError(problems.map((p) => `${dir}/${p}`));
  } finally {
    await w.close();
  }
}

/** Loads the CLIP tower and the head from `dir`; the FrameScorer that `curate` uses for `aes`. */
export async function loadLaionAesthetic(device: Device, dir: string): Promise<{ scorer: FrameScorer; model: ClipVisionModel }> {
  const model = await ClipVisionModel.load(device, dir);
  try {
    await checkHead(dir, model.config.projection_dim);
    const head = await loadAestheticHead(join(dir, AESTHETIC_HEAD_FILE));
    return { scorer: laionAestheticScorer(new ClipImageEmbedder(model), head), model };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
