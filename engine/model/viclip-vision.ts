// ViCLIP's video encoder (OpenGVLab InternVideo, `viclip_vision.py`; checkpoint ViClip-InternVid-10M-FLT.pth converted
// to safetensors with its own key names) on the GPU, composed of engine ops and the CLIP encoder layer: T frames
// [T, 3, S, S] -> patchify + linear (the Conv3d with temporal kernel 1, no bias) -> T*N patch tokens, each plus its
// spatial positional embedding and its frame's temporal embedding, the class token (class_embedding + positional[0],
// no temporal term) in front, ln_pre, pre-LN blocks with joint space-time self-attention over all 1 + T*N tokens
// (nn.MultiheadAttention's packed in_proj split into q/k/v at load), QuickGELU MLP, ln_post of the class token,
// @ proj. ViCLIP orders the patch tokens patch-major ((n t)); this orders them frame-major ((t n)): without a mask
// or a position-dependent op inside the blocks, the class token's output does not depend on the order of the others
// (the float64 reference, engine/reference/viclip-vision.ts, keeps ViCLIP's order and the test compares them).
// A folder holds model.safetensors (or a sharded index) and optionally config.json (ViclipVisionConfig fields); the
// config is read off the weight shapes, the head count is hidden_size / 64 unless config.json sets it.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { CheckpointValidationError, checkKeys, countIndexed } from '../io/checkpoint.js';
import { parseViclipConfig, type ViclipVisionConfig } from '../io/configs.js';
import { VICLIP_VISION_PREFIX, viclipVisionKeys } from '../io/keys.js';
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

/** nn.LayerNorm's default eps (ViCLIP never changes it). */
export const VICLIP_LN_EPS = 1e-5;
/** Channels per head of both released ViCLIPs (ViT-L/14: 1024 / 16, ViT-B/16: 768 / 12). */
export const VICLIP_HEAD_DIM = 64;

/** ViT-L/14 (ViClip-InternVid-10M-FLT): the fallbacks when a key to read a size from is missing. */
const VIT_L14: ViclipVisionConfig = { hidden_size: 1024, num_hidden_layers: 24, num_attention_heads: 16, image_size: 224, patch_size: 14, num_frames: 8, projection_dim: 768 };

/**
 * The encoder's config from the weight shapes (a size whose key is missing or misshapen falls back to ViT-L/14, so
 * the key check names the key), overridden by `given` (config.json). Throws when the head count cannot be derived.
 */
export function inferViclipConfig(w: WeightStore, given: Partial<ViclipVisionConfig> = {}, where = w.name): ViclipVisionConfig {
  const v = VICLIP_VISION_PREFIX;
  const shape = (k: string, rank: number) => (w.has(`${v}${k}`) && w.info(`${v}${k}`).shape.length === rank ? w.info(`${v}${k}`).shape : undefined);
  const hidden = shape('class_embedding', 1)?.[0] ?? VIT_L14.hidden_size;
  const patch = shape('conv1.weight', 5)?.[4] ?? VIT_L14.patch_size;
  const posRows = shape('positional_embedding', 2)?.[0];
  const grid = posRows === undefined ? undefined : Math.round(Math.sqrt(posRows - 1));
  const image = grid !== undefined && grid * grid === posRows! - 1 ? grid * patch : VIT_L14.image_size;
  const layers = countIndexed(w, `${v}transformer.resblocks`) || VIT_L14.num_hidden_layers;
  const cfg: ViclipVisionConfig = {
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: hidden / VICLIP_HEAD_DIM,
    image_size: image,
    patch_size: patch,
    num_frames: shape('temporal_positional_embedding', 3)?.[1] ?? VIT_L14.num_frames,
    projection_dim: shape('proj', 2)?.[1] ?? VIT_L14.projection_dim,
    ...given,
  };
  const H = cfg.num_attention_heads;
  if (!Number.isInteger(H) || H < 1 || cfg.hidden_size % H !== 0) {
    throw new Error(`${where}: cannot tell the attention head count (hidden_size ${cfg.hidden_size}${given.num_attention_heads === undefined ? ` is not a multiple of ${VICLIP_HEAD_DIM}, the head size of the released ViCLIPs` : ` is not divisible by num_attention_heads ${H}`}): put {"num_attention_heads": N} in config.json beside the weights`);
  }
  if (cfg.image_size % cfg.patch_size !== 0) throw new Error(`${where}: image_size ${cfg.image_size} is not a multiple of patch_size ${cfg.patch_size}`);
  return cfg;
}

/** Opens and validates a ViCLIP folder without uploading anything: its config and weight store. */
export async function openViclip(dir: string): Promise<{ config: ViclipVisionConfig; weights: WeightStore }> {
  const store = new NodeFileStore(dir);
  const weights = await openWeights(store, '', ['model']);
  if (!weights) {
    throw new Error(`${dir}: no model.safetensors (or model.safetensors.index.json); convert ViClip-InternVid-10M-FLT.pth with safetensors (docs/data.md: "ViCLIP")`);
  }
  try {
    if (!weights.keys().some((k) => k.startsWith(VICLIP_VISION_PREFIX))) {
      throw new CheckpointValidationError([`${dir}/${weights.name}: no ${VICLIP_VISION_PREFIX}* keys: not a ViCLIP checkpoint (keys must keep the .pth's names, e.g. ${VICLIP_VISION_PREFIX}conv1.weight)`]);
    }
    const given = (await store.exists('config.json')) ? parseViclipConfig(JSON.parse(await store.readText('config.json')), `${dir}/config.json`) : {};
    const config = inferViclipConfig(weights, given, dir);
    const note = `ViCLIP ${config.hidden_size} wide, ${config.num_hidden_layers} blocks, ${config.num_frames} frames of ${config.image_size} px in ${config.patch_size} px patches, ${config.projection_dim}-d output`;
    // text_encoder.* and temp belong to the text tower: ignored; a stray vision_encoder.* key is an error.
    const problems = checkKeys(weights, viclipVisionKeys(config), note, { allowUnexpected: true });
    const want = new Set(viclipVisionKeys(config).map((k) => k.key));
    for (const k of weights.keys()) if (k.startsWith(VICLIP_VISION_PREFIX) && !want.has(k)) problems.push(`${weights.fileOf(k)}: unexpected key ${k} (not part of the ${note})`);
    if (problems.length) throw new CheckpointValidationError(problems.map((p) => `${dir}/${p}`));
    return { config, weights };
  } catch (e) {
    await weights.close();
    throw e;
  }
}

export interface ViclipLoadOptions {
  /** Weights and activations dtype (f16 needs shader-f16). Default f32. */
  dtype?: DType;
}

export class ViclipVisionModel {
  private readonly act: ClipActivation;

  private constructor(
    readonly device: Device,
    readonly config: ViclipVisionConfig,
    private readonly tensors: Map<string, Tensor>,
    readonly dtype: DType,
    readonly name: string,
  ) {
    this.act = activationOf('quick_gelu', name);
  }

  /**
   * Uploads the encoder: the conv as a [width, 3*P*P] matrix, in_proj split into q/k/v (named as the CLIP encoder
   * layer wants them), proj transposed to a linear weight, and one [1 + T*N, width] table of the additive embeddings
   * (row 0: positional[0]; row 1 + t*N + n: positional[1 + n] + temporal[t]).
   */
  static async load(device: Device, dir: string, opts: ViclipLoadOptions = {}): Promise<ViclipVisionModel> {
    const { config: c, weights } = await openViclip(dir);
    const dtype = opts.dtype ?? 'f32';
    const t = new Map<string, Tensor>();
    const v = VICLIP_VISION_PREFIX;
    const W = c.hidden_size;
    const put = (name: string, data: Float32Array, shape: number[]) => t.set(name, Tensor.from(device, data, shape, dtype, `viclip ${name}`));
    try {
      const read = (k: string) => weights.readFloat32(`${v}${k}`);
      put('conv', await read('conv1.weight'), [W, 3 * c.patch_size ** 2]);
      put('cls', await read('class_embedding'), [1, 1, W]);
      const N = (c.image_size / c.patch_size) ** 2;
      const T = c.num_frames;
      const pos = await read('positional_embedding');
      const temp = await read('temporal_positional_embedding');
      const table = new Float32Array((1 + T * N) * W);
      table.set(pos.subarray(0, W), 0);
      for (let f = 0; f < T; f++) for (let n = 0; n < N; n++) for (let i = 0; i < W; i++) table[(1 + f * N + n) * W + i] = pos[(1 + n) * W + i]! + temp[f * W + i]!;
      put('pos', table, [1 + T * N, W]);
      for (const ln of ['ln_pre', 'ln_post']) for (const p of ['weight', 'bias']) put(`${ln}.${p}`, await read(`${ln}.${p}`), [W]);
      const proj = await read('proj'); // [W, D], used as x @ proj
      const D = c.projection_dim;
      const projT = new Float32Array(D * W);
      for (let i = 0; i < W; i++) for (let j = 0; j < D; j++) projT[j * W + i] = proj[i * D + j]!;
      put('proj', projT, [D, W]);
      for (let l = 0; l < c.num_hidden_layers; l++) {
        const b = `transformer.resblocks.${l}.`;
        const p = `L${l}.`;
        const inW = await read(`${b}attn.in_proj_weight`);
        const inB = await read(`${b}attn.in_proj_bias`);
        ['q_proj', 'k_proj', 'v_proj'].forEach((n, j) => {
          put(`${p}self_attn.${n}.weight`, inW.slice(j * W * W, (j + 1) * W * W), [W, W]);
          put(`${p}self_attn.${n}.bias`, inB.slice(j * W, (j + 1) * W), [W]);
        });
        const pairs: [string, string, number[], number[]][] = [
          ['attn.out_proj', 'self_attn.out_proj', [W, W], [W]],
          ['ln_1', 'layer_norm1', [W], [W]],
          ['mlp.c_fc', 'mlp.fc1', [4 * W, W], [4 * W]],
          ['mlp.c_proj', 'mlp.fc2', [W, 4 * W], [W]],
          ['ln_2', 'layer_norm2', [W], [W]],
        ];
        for (const [from, to, ws, bs] of pairs) {
          put(`${p}${to}.weight`, await read(`${b}${from}.weight`), ws);
          put(`${p}${to}.bias`, await read(`${b}${from}.bias`), bs);
        }
      }
    } catch (e) {
      for (const x of t.values()) x.dispose();
      throw e;
    } finally {
      await weights.close();
    }
    return new ViclipVisionModel(device, c, t, dtype, dir);
  }

  /**
   * The encoder's output (ln_post(class token) @ proj, not normalised) for one clip: num_frames frames
   * [T, 3, S, S], ImageNet-normalised, in time order.
   */
  async embed(video: Float32Array): Promise<Float32Array> {
    const c = this.config;
    const S = c.image_size;
    const T = c.num_frames;
    const W = c.hidden_size;
    const N = (S / c.patch_size) ** 2;
    if (video.length !== T * 3 * S * S) {
      throw new Error(`${this.name}: ${video.length} values; expected ${T} frames x 3 x ${S} x ${S} (this ViCLIP takes ${T} frames of ${S} x ${S})`);
    }
    const s = new Scratch();
    const px = s.t(Tensor.from(this.device, video, [T, 3, S, S], this.dtype, 'viclip frames'));
    const patches = s.t(patchify(px, { patch: c.patch_size })); // [T, N, 3*P*P], (c, i, j) = the conv weight's order
    const tokens = s.t(s.t(linear(patches, this.w('conv'))).reshape([1, T * N, W])); // (t n) order
    const x0 = s.t(concat([this.w('cls'), tokens], 1)); // [1, 1 + T*N, W]
    const x1 = s.t(add(x0, this.w('pos')));
    let x = layerNorm(x1, { eps: VICLIP_LN_EPS, weight: this.w('ln_pre.weight'), bias: this.w('ln_pre.bias') });
    for (let l = 0; l < c.num_hidden_layers; l++) {
      const next = clipEncoderLayer(x, (n) => this.w(n), `L${l}.`, { heads: c.num_attention_heads, eps: VICLIP_LN_EPS, act: this.act, causal: false });
      x.dispose();
      x = next;
    }
    s.t(x);
    const cls = s.t(slice(x, 1, 0, 1)); // [1, 1, W]
    const pooled = s.t(layerNorm(cls, { eps: VICLIP_LN_EPS, weight: this.w('ln_post.weight'), bias: this.w('ln_post.bias') }));
    const out = s.t(linear(pooled, this.w('proj')));
    const r = await out.read();
    s.release();
    return r;
  }

  private w(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.name}: weight '${name}' is missing`);
    return t;
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}
