// CLIPVisionModelWithProjection (HF image tower) on the GPU, composed of engine ops and the text tower's encoder
// layer: the patch conv as patchify + linear (kernel = stride = patch, no bias), the class token prepended (concat),
// position embedding, pre_layrnorm, pre-LN layers with full self-attention, post_layernorm of the class token and
// visual_projection. Loads a folder holding config.json (a CLIPVisionConfig, or a CLIPModel config's vision_config)
// and model.safetensors (or a sharded index), every key and shape checked before anything is uploaded.
// Float64 reference: engine/reference/clip-vision.ts.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { CheckpointValidationError, checkKeys } from '../io/checkpoint.js';
import { parseClipVisionConfig, type ClipVisionConfig } from '../io/configs.js';
import { clipVisionKeys } from '../io/keys.js';
import { NodeFileStore } from '../io/node-files.js';
import { openWeights, type WeightStore } from '../io/sharded.js';
import { add } from '../ops/elementwise.js';
import { concat, slice } from '../ops/layout.js';
import { linear } from '../ops/linear.js';
import { layerNorm } from '../ops/norm.js';
import { patchify } from '../ops/patch.js';
import { Tensor } from '../tensor.js';
import { activationOf, clipEncoderLayer, type ClipActivation } from './clip.js';
import { Scratch } from './scratch.js';
import { GpuWeights } from './weights.js';

export interface ClipVisionLoadOptions {
  /** Weights and activations dtype (f16 needs shader-f16). Default f32. */
  dtype?: DType;
  /** Ignore tensors that are not part of the vision tower (e.g. a whole CLIPModel's text_model.*). Default true. */
  allowUnexpected?: boolean;
}

/** Opens and validates a CLIP vision folder without uploading anything: its config and weight store. */
export async function openClipVision(dir: string, opts: { allowUnexpected?: boolean } = {}): Promise<{ config: ClipVisionConfig; weights: WeightStore }> {
  const store = new NodeFileStore(dir);
  if (!(await store.exists('config.json'))) throw new Error(`${dir}: no config.json (expected a Hugging Face CLIPVisionModelWithProjection folder: config.json + model.safetensors)`);
  const config = parseClipVisionConfig(JSON.parse(await store.readText('config.json')), `${dir}/config.json`);
  const weights = await openWeights(store, '', ['model']);
  if (!weights) throw new Error(`${dir}: no model.safetensors (or model.safetensors.index.json)`);
  const problems = checkKeys(weights, clipVisionKeys(config), `from ${dir}/config.json`, { allowUnexpected: opts.allowUnexpected ?? true });
  if (problems.length) {
    await weights.close();
    throw new CheckpointValidationError(problems.map((p) => `${dir}/${p}`));
  }
  return { config, weights };
}

export class ClipVisionModel {
  private readonly act: ClipActivation;

  constructor(
    readonly device: Device,
    readonly config: ClipVisionConfig,
    readonly weights: GpuWeights,
    readonly dtype: DType,
    readonly name = 'clip_vision',
  ) {
    this.act = activationOf(config.hidden_act, `${name}/config.json`);
  }

  static async load(device: Device, dir: string, opts: ClipVisionLoadOptions = {}): Promise<ClipVisionModel> {
    const { config, weights } = await openClipVision(dir, opts);
    try {
      const dtype = opts.dtype ?? 'f32';
      return new ClipVisionModel(device, config, await GpuWeights.load(device, weights, dtype), dtype, dir);
    } finally {
      await weights.close();
    }
  }

  /** image_embeds (visual_projection of the pooled class token, not normalised) of one image [3, S, S] (CLIP-normalised). */
  async embed(pixels: Float32Array): Promise<Float32Array> {
    const cfg = this.config;
    const S = cfg.image_size;
    const P = cfg.patch_size;
    const H = cfg.hidden_size;
    if (pixels.length !== 3 * S * S) throw new Error(`${this.name}: ${pixels.length} values; expected 3 x ${S} x ${S} (image_size ${S})`);
    const s = new Scratch();
    const img = s.t(Tensor.from(this.device, pixels, [1, 3, S, S], this.dtype, 'clip pixels'));
    const patches = s.t(patchify(img, { patch: P })); // [1, N, 3*P*P], channel order (c, i, j) = the conv weight's
    const convW = s.t(this.w('vision_model.embeddings.patch_embedding.weight').reshape([H, 3 * P * P]));
    const tokens3 = s.t(linear(patches, convW));
    const N = (S / P) ** 2;
    const tokens = s.t(tokens3.reshape([N, H]));
    const cls = s.t(this.w('vision_model.embeddings.class_embedding').reshape([1, H]));
    const withCls = s.t(concat([cls, tokens], 0));
    const x0 = s.t(add(withCls, this.w('vision_model.embeddings.position_embedding.weight')));
    let x = layerNorm(x0, { eps: cfg.layer_norm_eps, weight: this.w('vision_model.pre_layrnorm.weight'), bias: this.w('vision_model.pre_layrnorm.bias') });
    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      const next = clipEncoderLayer(x, (n) => this.w(n), `vision_model.encoder.layers.${i}.`, { heads: cfg.num_attention_heads, eps: cfg.layer_norm_eps, act: this.act, causal: false });
      x.dispose();
      x = next;
    }
    s.t(x);
    const row = s.t(slice(x, 0, 0, 1));
    const pooled = s.t(layerNorm(row, { eps: cfg.layer_norm_eps, weight: this.w('vision_model.post_layernorm.weight'), bias: this.w('vision_model.post_layernorm.bias') }));
    const proj = s.t(linear(pooled, this.w('visual_projection.weight')));
    const out = await proj.read();
    s.release();
    return out;
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  dispose(): void {
    this.weights.dispose();
  }
}
