// ModelBackend on WebGPU: text encoders (CLIP-L, CLIP-bigG, T5), the Vchitect transformer and the VAE decoder all
// run on one GPU device through the engine's models (engine/model/). The text encoders load on first use; the VAE
// stays f32 (the SD3 VAE needs it: its config sets force_upcast).

import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { validateCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { ClipTextModel } from '../model/clip.js';
import { T5Encoder } from '../model/t5.js';
import { encodePrompt, type TextEncoders } from '../model/text-conditioning.js';
import { VaeModel } from '../model/vae.js';
import { VchitectTransformer } from '../model/vchitect.js';
import type { GpuWeights } from '../model/weights.js';
import { loadCheckpointTokenizers, type Sd3Tokenizers } from '../text/tokenizers.js';
import { Tensor } from '../tensor.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { backendInfoFromCheckpoint } from './backend-info.js';

export interface GpuBackendOptions {
  dtype?: DType;
  /** Use this device (default: a new one on the first adapter). */
  device?: Device;
}

export class GpuBackend implements ModelBackend {
  readonly info: BackendModelInfo;
  private textCache = new Map<TextConditioning, { context: Tensor; pooled: Tensor }>();
  private encoders?: Promise<{ models: TextEncoders; tokenizers: Sd3Tokenizers }>;
  private vae?: Promise<VaeModel>;

  private constructor(
    readonly device: Device,
    readonly transformer: VchitectTransformer,
    private readonly ckpt: Checkpoint,
    private readonly ownsDevice: boolean,
  ) {
    this.info = backendInfoFromCheckpoint(ckpt, `webgpu-${transformer.dtype}`);
  }

  static async create(ckpt: Checkpoint, opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    validateCheckpoint(ckpt, { allowUnexpected: true });
    if (!ckpt.textEncoder || !ckpt.textEncoder2) throw new Error(`${ckpt.root}: the CLIP text encoders (text_encoder/, text_encoder_2/) are required`);
    const device = opts.device ?? (await Device.create({ label: 'parallax' }));
    const dtype = opts.dtype ?? 'f32';
    if (dtype === 'f16' && !device.f16) {
      throw new Error(`--dtype f16 needs shader-f16, which ${device.adapter.description || device.adapter.vendor} does not offer; use --dtype f32`);
    }
    const transformer = await VchitectTransformer.load(device, ckpt.transformer, { dtype });
    return new GpuBackend(device, transformer, ckpt, !opts.device);
  }

  private textEncoders(): Promise<{ models: TextEncoders; tokenizers: Sd3Tokenizers }> {
    this.encoders ??= (async () => {
      const ck = this.ckpt;
      const dtype = this.transformer.dtype;
      const models: TextEncoders = {
        clipL: await ClipTextModel.load(this.device, ck.textEncoder!, { dtype }),
        clipG: await ClipTextModel.load(this.device, ck.textEncoder2!, { dtype }),
        t5: ck.textEncoder3 ? await T5Encoder.load(this.device, ck.textEncoder3, { dtype }) : undefined,
      };
      this.loaded.push(models.clipL.weights, models.clipG.weights, ...(models.t5 ? [models.t5.weights] : []));
      return { models, tokenizers: await loadCheckpointTokenizers(ck) };
    })();
    return this.encoders;
  }

  async encodeText(prompt: string): Promise<TextConditioning> {
    const { models, tokenizers } = await this.textEncoders();
    const e = encodePrompt(models, tokenizers, prompt, { jointDim: this.transformer.dims.jointAttentionDim, dtype: 'f32' });
    const [promptEmbeds, pooled] = await Promise.all([e.promptEmbeds.read(), e.pooled.read()]);
    const [tokens, jointDim] = e.promptEmbeds.shape as [number, number];
    e.promptEmbeds.dispose();
    e.pooled.dispose();
    return { promptEmbeds, tokens, jointDim, pooled };
  }

  /** The conditioning uploaded once per prompt and reused at every step. */
  private textTensors(text: TextConditioning): { context: Tensor; pooled: Tensor } {
    let t = this.textCache.get(text);
    if (!t) {
      const dt = this.transformer.dtype;
      t = {
        context: Tensor.from(this.device, text.promptEmbeds, [1, text.tokens, text.jointDim], dt, 'prompt_embeds'),
        pooled: Tensor.from(this.device, text.pooled, [1, text.pooled.length], dt, 'pooled_projections'),
      };
      this.textCache.set(text, t);
    }
    return t;
  }

  async velocity(latents: Tensor32, timestep: number, text: TextConditioning): Promise<Float32Array> {
    const { context, pooled } = this.textTensors(text);
    const hidden = Tensor.from(this.device, latents.data, latents.shape, this.transformer.dtype, 'latents');
    const v = this.transformer.forward({ hidden, timestep, context, pooled });
    hidden.dispose();
    const out = await v.read();
    v.dispose();
    return out;
  }

  async velocityPair(latents: Tensor32, timestep: number, cond: TextConditioning, uncond: TextConditioning): Promise<[Float32Array, Float32Array]> {
    const c = await this.velocity(latents, timestep, cond);
    const u = await this.velocity(latents, timestep, uncond);
    return [c, u];
  }

  async decode(latents: Tensor32): Promise<DecodedVideo> {
    this.vae ??= VaeModel.load(this.device, this.ckpt.vae, { dtype: 'f32' }).then((v) => {
      this.loaded.push(v.weights);
      return v;
    });
    const vae = await this.vae;
    const z = Tensor.from(this.device, latents.data, latents.shape, 'f32', 'latents');
    try {
      return await vae.decodeFrames(z);
    } finally {
      z.dispose();
    }
  }

  peakMemoryBytes(): number {
    return this.device.pool.stats.peakBytes;
  }

  private loaded: GpuWeights[] = [];

  weightsLoaded(): { bytes: number; tensors: number; ms: number } {
    const all = [this.transformer.weights, ...this.loaded];
    return all.reduce((a, w) => ({ bytes: a.bytes + w.report.fileBytes, tensors: a.tensors + w.report.tensors, ms: a.ms + w.report.ms }), { bytes: 0, tensors: 0, ms: 0 });
  }

  async dispose(): Promise<void> {
    for (const t of this.textCache.values()) {
      t.context.dispose();
      t.pooled.dispose();
    }
    this.textCache.clear();
    this.transformer.dispose();
    if (this.encoders) {
      const { models } = await this.encoders;
      models.clipL.dispose();
      models.clipG.dispose();
      models.t5?.dispose();
    }
    if (this.vae) (await this.vae).dispose();
    if (this.ownsDevice) this.device.destroy();
  }
}
