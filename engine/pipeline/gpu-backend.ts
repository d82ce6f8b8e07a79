// ModelBackend on WebGPU: text encoders (CLIP-L, CLIP-bigG, T5), the Vchitect transformer and the VAE decoder all
// run on one GPU device through the engine's models (engine/model/). The text encoders load on first use; the VAE
// stays f32 (the SD3 VAE needs it: its config sets force_upcast).

import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { hostSpan, type Profiler } from '../gpu/profiler.js';
import { validateCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { guideVelocity } from '../model/guidance.js';
import { VchitectTransformer } from '../model/vchitect.js';
import { Tensor } from '../tensor.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { backendInfoFromCheckpoint } from './backend-info.js';
import { GpuTextEncoders } from './gpu-text-encoders.js';
import { LazyVae, readAndDispose, requireComputeDtype, sumLoadReports, TextTensorCache } from './gpu-backend-parts.js';

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
  private readonly text: GpuTextEncoders;
  private readonly vae: LazyVae;

  private constructor(
    readonly device: Device,
    readonly transformer: VchitectTransformer,
    ckpt: Checkpoint,
    private readonly ownsDevice: boolean,
    private readonly profiler?: Profiler,
  ) {
    this.info = backendInfoFromCheckpoint(ckpt, `webgpu-${transformer.dtype}`);
    this.text = new GpuTextEncoders(device, ckpt, transformer.dtype, transformer.dims.jointAttentionDim);
    this.textTensors = new TextTensorCache(device, transformer.dtype);
    this.vae = new LazyVae(device, ckpt);
  }

  static async create(ckpt: Checkpoint, opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    validateCheckpoint(ckpt, { allowUnexpected: true });
    GpuTextEncoders.check(ckpt);
    if (opts.profiler && opts.device) throw new Error('GpuBackend: profiler is for the backend\'s own device; create the given device with { profile: true } and collect it yourself');
    const device = opts.device ?? (await Device.create({ label: 'parallax', adapterIndex: opts.adapterIndex, profile: !!opts.profiler }));
    const dtype = opts.dtype ?? 'f32';
    requireComputeDtype(device, dtype);
    const transformer = await VchitectTransformer.load(device, ckpt.transformer, { dtype });
    return new GpuBackend(device, transformer, ckpt, !opts.device, opts.profiler);
  }

  async encodeText(prompt: string): Promise<TextConditioning> {
    return this.text.encode(prompt);
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
    return Tensor.from(this.device, latents.data, latents.shape, this.transformer.dtype, 'latents');
  }

  private forward(hidden: Tensor, timestep: number, text: TextConditioning): Tensor {
    const { context, pooled } = this.textTensors.get(text);
    return this.transformer.forward({ hidden, timestep, context, pooled });
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
    const all = [this.transformer.weights, ...this.text.weights, ...this.vae.weights];
    return sumLoadReports(all);
  }

  async dispose(): Promise<void> {
    this.textTensors.dispose();
    this.transformer.dispose();
    await this.text.dispose();
    await this.vae.dispose();
    if (this.profiler) await this.profiler.collect(this.device);
    if (this.ownsDevice) this.device.destroy();
  }
}
