// ModelBackend over the float64 reference models (engine/reference/) and the checkpoint loader: exact but slow,
// meant for tiny checkpoints and as ground truth. Each sub-model's weights are read (widened to f64) on first use.
import type { Checkpoint, CheckpointPart, PartialCheckpoint, SubModel } from '../io/checkpoint.js';
import type { ClipTextConfig } from '../io/configs.js';
import { requirePart, validateCheckpoint, validateCheckpointParts } from '../io/checkpoint.js';
import type { WeightStore } from '../io/sharded.js';
import { FLOAT_DTYPES } from '../io/dtype.js';
import { T5_DEFAULT_LENGTH } from '../text/text-lengths.js';
import { loadCheckpointTokenizers, type Sd3Tokenizers } from '../text/tokenizers.js';
import type { Tensor64 } from '../reference/tensor64.js';
import { clipTextForward64 } from '../reference/clip.js';
import { t5EncoderForward64 } from '../reference/t5.js';
import { decodeLatents64, toUint8Image64 } from '../reference/vae.js';
import { vchitectForward64 } from '../reference/vchitect.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { backendInfoFromCheckpoint, partialBackendInfo } from './backend-info.js';
import { assembleTextConditioning } from './text-conditioning.js';
import { clipConfig64, t5Config64, vaeConfig64, vchitectConfig64 } from './reference-configs.js';
import { planarToInterleaved } from './frames.js';

/** Reads every float tensor of a weight store into a float64 Map (integer buffers such as position_ids are skipped). */
export async function loadWeights64(w: WeightStore): Promise<Map<string, Tensor64>> {
  const out = new Map<string, Tensor64>();
  for (const key of w.keys()) {
    const info = w.info(key);
    if (!FLOAT_DTYPES.includes(info.dtype)) continue;
    out.set(key, { shape: [...info.shape], data: Float64Array.from(await w.readFloat32(key)) });
  }
  return out;
}

function to64(t: Tensor32): Tensor64 {
  return { shape: [...t.shape], data: Float64Array.from(t.data) };
}

export class ReferenceBackend implements ModelBackend {
  readonly info: BackendModelInfo;
  private readonly cache = new Map<string, Promise<Map<string, Tensor64>>>();
  private tokenizers?: Promise<Sd3Tokenizers>;

  private constructor(
    private readonly ckpt: PartialCheckpoint,
    info: BackendModelInfo,
  ) {
    this.info = info;
  }

  /** Validates the checkpoint (every key and shape) and returns a backend over it; weights load lazily. */
  static async create(ckpt: Checkpoint): Promise<ReferenceBackend> {
    validateCheckpoint(ckpt, { allowUnexpected: true });
    if (!ckpt.textEncoder || !ckpt.textEncoder2) throw new Error(`${ckpt.root}: the CLIP text encoders (text_encoder/, text_encoder_2/) are required`);
    return new ReferenceBackend(ckpt, backendInfoFromCheckpoint(ckpt, 'reference-f64'));
  }

  /**
   * A backend over the opened parts only (single-stage commands): validates just those parts; a method whose part
   * is absent throws (encodeText needs 'text', velocity 'transformer', decode 'vae'). Info sizes: partialBackendInfo.
   */
  static async forParts(ckpt: PartialCheckpoint, parts: readonly CheckpointPart[]): Promise<ReferenceBackend> {
    validateCheckpointParts(ckpt, parts, { allowUnexpected: true });
    return new ReferenceBackend(ckpt, partialBackendInfo(ckpt, 'reference-f64'));
  }

  private weights(sub: SubModel<unknown>): Promise<Map<string, Tensor64>> {
    let p = this.cache.get(sub.name);
    if (!p) {
      p = loadWeights64(sub.weights);
      this.cache.set(sub.name, p);
    }
    return p;
  }

  async encodeText(prompt: string): Promise<TextConditioning> {
    const ck = this.ckpt;
    this.tokenizers ??= loadCheckpointTokenizers(ck);
    const tok = await this.tokenizers;
    const run = async (sub: SubModel<ClipTextConfig>, ids: number[]) => {
      const out = clipTextForward64(await this.weights(sub), clipConfig64(sub.config, sub.configFile), ids);
      const hs = out.hiddenStates[out.hiddenStates.length - 2];
      return { hidden: { rows: hs.shape[0], cols: hs.shape[1], data: hs.data }, pooled: out.textEmbeds.data };
    };
    const l = await run(requirePart(ck, 'text', ck.textEncoder), tok.clipL.encode(prompt));
    const g = await run(requirePart(ck, 'text', ck.textEncoder2), tok.clipG.encode(prompt));
    let t5 = null;
    if (ck.textEncoder3 && tok.t5) {
      const sub = ck.textEncoder3;
      const h = t5EncoderForward64(await this.weights(sub), t5Config64(sub.config, sub.configFile), tok.t5.encode(prompt));
      t5 = { rows: h.shape[0], cols: h.shape[1], data: h.data };
    }
    return assembleTextConditioning(
      { clipL: l.hidden, clipG: g.hidden, t5, t5Tokens: tok.t5?.maxLength ?? ck.textLengths?.t5 ?? T5_DEFAULT_LENGTH, clipLPooled: l.pooled, clipGPooled: g.pooled },
      this.info.jointDim, this.info.pooledDim,
    );
  }

  async velocity(latents: Tensor32, timestep: number, text: TextConditioning): Promise<Float32Array> {
    const t = requirePart(this.ckpt, 'transformer', this.ckpt.transformer);
    const w = await this.weights(t);
    const v = vchitectForward64(w, vchitectConfig64(t.config), {
      hiddenStates: to64(latents),
      timestep,
      encoderHiddenStates: { shape: [1, text.tokens, text.jointDim], data: Float64Array.from(text.promptEmbeds) },
      pooledProjections: { shape: [1, text.pooled.length], data: Float64Array.from(text.pooled) },
    });
    return Float32Array.from(v.data);
  }

  async decode(latents: Tensor32): Promise<DecodedVideo> {
    const vae = requirePart(this.ckpt, 'vae', this.ckpt.vae);
    const x = decodeLatents64(await this.weights(vae), vaeConfig64(vae.config), to64(latents));
    const [nf, c, h, wd] = x.shape;
    if (c !== 3) throw new Error(`VAE decoder produced ${c} channels; RGB output needs out_channels 3 (vae/config.json)`);
    const bytes = toUint8Image64(x);
    const frames: Uint8Array[] = [];
    for (let f = 0; f < nf; f++) frames.push(planarToInterleaved(bytes.subarray(f * 3 * h * wd, (f + 1) * 3 * h * wd), 3, h, wd));
    return { width: wd, height: h, frames };
  }

  async dispose(): Promise<void> {
    this.cache.clear();
  }
}
