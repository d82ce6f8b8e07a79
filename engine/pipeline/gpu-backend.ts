// ModelBackend on WebGPU: text encoders (CLIP-L, CLIP-bigG, T5), the Vchitect transformer and the VAE decoder all
// run on one GPU device through the engine's models (engine/model/). The text encoders load on first use; the VAE
// stays f32 (the SD3 VAE needs it: its config sets force_upcast).

import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { hostSpan, type Profiler } from '../gpu/profiler.js';
import { requirePart, validateCheckpoint, validateCheckpointParts, type Checkpoint, type CheckpointPart, type PartialCheckpoint } from '../io/checkpoint.js';
import { guideVelocity } from '../model/guidance.js';
import { VchitectTransformer } from '../model/vchitect.js';
import { Tensor } from '../tensor.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { backendInfoFromCheckpoint, partialBackendInfo } from './backend-info.js';
import { GpuTextEncoders } from './gpu-text-encoders.js';
import { LazyVae, readAndDispose, requireComputeDtype, sumLoadReports, TextTensorCache } from './gpu-backend-parts.js';
import type { VaeModel } from '../model/vae.js';

export interface GpuBackendOptions {
  dtype?: DType;
  /** Use this device (default: a new one on adapter `adapterIndex`, or the first adapter). */
  device?: Device;
  /** Adapter for the backend's own device (parallax doctor --list shows the indices). */
  adapterIndex?: number;
  /** Profile the backend's own device (per-dispatch times) into this profiler; collected on dispose. */
  profiler?: Profiler;
}

export class GpuBackend implements ModelBackend {
  readonly info: BackendModelInfo;
  private readonly textTensors: TextTensorCache;
  /** Absent when the backend was made for parts without the text encoders (GpuBackend.forParts). */
  private readonly text?: GpuTextEncoders;
  private readonly vae: LazyVae;

  private constructor(
    readonly device: Device,
    private readonly model: VchitectTransformer | undefined,
    private readonly ckpt: PartialCheckpoint,
    readonly dtype: DType,
    info: (ckpt: PartialCheckpoint, name: string) => BackendModelInfo,
    private readonly ownsDevice: boolean,
    private readonly profiler?: Profiler,
  ) {
    this.info = info(ckpt, `webgpu-${dtype}`);
    this.text = ckpt.textEncoder && ckpt.textEncoder2 ? new GpuTextEncoders(device, ckpt, dtype, this.info.jointDim) : undefined;
    this.textTensors = new TextTensorCache(device, dtype);
    this.vae = new LazyVae(device, ckpt);
  }

  /** The transformer (every backend from create() has it; one from forParts() only when 'transformer' was asked for). */
  get transformer(): VchitectTransformer {
    return requirePart(this.ckpt, 'transformer', this.model);
  }

  static async create(ckpt: Checkpoint, opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    validateCheckpoint(ckpt, { allowUnexpected: true });
    GpuTextEncoders.check(ckpt);
    return GpuBackend.build(ckpt, true, opts, (c, n) => backendInfoFromCheckpoint(c as Checkpoint, n));
  }

  /**
   * A backend over the opened parts only (single-stage commands): validates just those parts and loads the
   * transformer only when 'transformer' is among them; a method whose part is absent throws. Info: partialBackendInfo.
   */
  static async forParts(ckpt: PartialCheckpoint, parts: readonly CheckpointPart[], opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    validateCheckpointParts(ckpt, parts, { allowUnexpected: true });
    if (parts.includes('text')) GpuTextEncoders.check(ckpt);
    return GpuBackend.build(ckpt, parts.includes('transformer'), opts, partialBackendInfo);
  }

  private static async build(ckpt: PartialCheckpoint, withTransformer: boolean, opts: GpuBackendOptions, info: (c: PartialCheckpoint, n: string) => BackendModelInfo): Promise<GpuBackend> {
    if (opts.profiler && opts.device) throw new Error('GpuBackend: profiler is for the backend\'s own device; create the given device with { profile: true } and collect it yourself');
    const device = opts.device ?? (await Device.create({ label: 'parallax', adapterIndex: opts.adapterIndex, profile: !!opts.profiler }));
    const dtype = opts.dtype ?? 'f32';
    try {
      requireComputeDtype(device, dtype);
      const transformer = withTransformer ? await VchitectTransformer.load(device, requirePart(ckpt, 'transformer', ckpt.transformer), { dtype }) : undefined;
      return new GpuBackend(device, transformer, ckpt, dtype, info, !opts.device, opts.profiler);
    } catch (e) {
      if (!opts.device) device.destroy();
      throw e;
    }
  }

  async encodeText(prompt: string): Promise<TextConditioning> {
    return requirePart(this.ckpt, 'text', this.text).encode(prompt);
  }

  async velocity(latents: Tensor32, timestep: number, text: TextConditioning): Promise<Float32Array> {
    const hidden = this.upload(latents);
    const end = hostSpan('transformer forward (record)', 'forward');
    const v = this.forward(hidden, timestep, text);
    end();
    hidden.dispose();
    return readAndDispose(v);
  }

  /** Both branches, combined on the device (one readback per step). */
  async guidedVelocity(latents: Tensor32, timestep: number, cond: TextConditioning, uncond: TextConditioning, weight: number): Promise<Float32Array> {
    const hidden = this.upload(latents);
    const end = hostSpan('transformer forward x2 + guidance (record)', 'forward');
    const vc = this.forward(hidden, timestep, cond);
    const vu = this.forward(hidden, timestep, uncond);
    hidden.dispose();
    const v = guideVelocity(vc, vu, weight);
    end();
    vc.dispose();
    vu.dispose();
    return readAndDispose(v);
  }

  private upload(latents: Tensor32): Tensor {
    return Tensor.from(this.device, latents.data, latents.shape, this.dtype, 'latents');
  }

  private forward(hidden: Tensor, timestep: number, text: TextConditioning): Tensor {
    const { context, pooled } = this.textTensors.get(text);
    return this.transformer.forward({ hidden, timestep, context, pooled });
  }

  /** The VAE (loaded on first use and owned by the backend), for tools that encode frames as well as decode them. */
  vaeModel(): Promise<VaeModel> {
    return this.vae.get();
  }

  async decode(latents: Tensor32): Promise<DecodedVideo> {
    const vae = await this.vae.get();
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

  weightsLoaded(): { bytes: number; tensors: number; ms: number } {
    const all = [...(this.model ? [this.model.weights] : []), ...(this.text?.weights ?? []), ...this.vae.weights];
    return sumLoadReports(all);
  }

  async dispose(): Promise<void> {
    this.textTensors.dispose();
    this.model?.dispose();
    await this.text?.dispose();
    await this.vae.dispose();
    if (this.profiler) await this.profiler.collect(this.device);
    if (this.ownsDevice) this.device.destroy();
  }
}
