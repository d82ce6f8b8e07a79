// ModelBackend on WebGPU: the Vchitect transformer runs on the GPU (engine/model/vchitect.ts). Text encoding and
// VAE decoding run once per generation; until their GPU versions land they use the float64 reference models.

import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { validateCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { VchitectTransformer } from '../model/vchitect.js';
import { Tensor } from '../tensor.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { backendInfoFromCheckpoint } from './backend-info.js';
import { ReferenceBackend } from './reference-backend.js';

export interface GpuBackendOptions {
  dtype?: DType;
  /** Use this device (default: a new one on the first adapter). */
  device?: Device;
}

export class GpuBackend implements ModelBackend {
  readonly info: BackendModelInfo;
  private textCache = new Map<TextConditioning, { context: Tensor; pooled: Tensor }>();

  private constructor(
    readonly device: Device,
    readonly transformer: VchitectTransformer,
    private readonly stages: ReferenceBackend,
    ckpt: Checkpoint,
    private readonly ownsDevice: boolean,
  ) {
    this.info = backendInfoFromCheckpoint(ckpt, `webgpu-${transformer.dtype}`);
  }

  static async create(ckpt: Checkpoint, opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    validateCheckpoint(ckpt, { allowUnexpected: true });
    const device = opts.device ?? (await Device.create({ label: 'parallax' }));
    const dtype = opts.dtype ?? 'f32';
    if (dtype === 'f16' && !device.f16) {
      throw new Error(`--dtype f16 needs shader-f16, which ${device.adapter.description || device.adapter.vendor} does not offer; use --dtype f32`);
    }
    const transformer = await VchitectTransformer.load(device, ckpt.transformer, { dtype });
    const stages = await ReferenceBackend.create(ckpt);
    return new GpuBackend(device, transformer, stages, ckpt, !opts.device);
  }

  encodeText(prompt: string): Promise<TextConditioning> {
    return this.stages.encodeText(prompt);
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

  decode(latents: Tensor32): Promise<DecodedVideo> {
    return this.stages.decode(latents);
  }

  peakMemoryBytes(): number {
    return this.device.pool.stats.peakBytes;
  }

  async dispose(): Promise<void> {
    for (const t of this.textCache.values()) {
      t.context.dispose();
      t.pooled.dispose();
    }
    this.textCache.clear();
    this.transformer.dispose();
    await this.stages.dispose();
    if (this.ownsDevice) this.device.destroy();
  }
}
