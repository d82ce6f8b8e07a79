// ModelBackend for one rank of a parallel world (parallel.md section 1): every rank runs the same
// TextToVideoPipeline code (SPMD). The text encoders live on one rank, which broadcasts each prompt's conditioning;
// the transformer runs under a { sp, cfg } layout (ParallelTransformer) and every rank gets the full guided
// velocity, so every rank's sampler takes bit-identical Euler steps; the VAE decodes a contiguous share of the
// frames on each rank, then an all-gather gives every rank the whole video. Any local failure aborts the world so
// the other ranks fail at once instead of waiting in a collective.
import { concat, evenSplit, type ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure, DistError } from '../distributed/errors.js';
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import type { BackendModelInfo, DecodedVideo, ModelBackend, Tensor32, TextConditioning } from '../pipeline/backend.js';
import { backendInfoFromCheckpoint } from '../pipeline/backend-info.js';
import type { GenerateSettings } from '../pipeline/generate-options.js';
import type { InitLatentsInfo } from '../pipeline/init-latents.js';
import { GpuTextEncoders } from '../pipeline/gpu-text-encoders.js';
import { LazyVae, readAndDispose, requireComputeDtype, sumLoadReports, TextTensorCache } from '../pipeline/gpu-backend-parts.js';
import { Tensor } from '../tensor.js';
import { ClipParallelTransformer } from './clip-transformer.js';
import { ParallelTransformer, type ParallelLayout } from './parallel-transformer.js';

export interface ParallelBackendOptions {
  layout: ParallelLayout;
  /** Transformer and text-encoder dtype (the VAE stays f32). Default f32. */
  dtype?: DType;
  /** World rank that holds the text encoders and broadcasts the conditioning (default 0). */
  textRank?: number;
}

/** Layout name used in backend names and logs, e.g. "sp2-cfg2". */
export const layoutName = (l: ParallelLayout): string => (l.clip ? `clip${l.clip.clips}` : `sp${l.sp}-cfg${l.cfg}`);

export class ParallelBackend implements ModelBackend {
  readonly info: BackendModelInfo;
  private readonly text: GpuTextEncoders | null;
  private readonly textTensors: TextTensorCache;
  private readonly vae: LazyVae;

  private constructor(
    readonly world: ProcessGroup,
    readonly device: Device,
    readonly transformer: ParallelTransformer | ClipParallelTransformer,
    ckpt: Checkpoint,
    readonly textRank: number,
  ) {
    const m = transformer.model;
    this.info = backendInfoFromCheckpoint(ckpt, `webgpu-${m.dtype}-${layoutName(transformer.layout)}`);
    this.text = world.rank === textRank ? new GpuTextEncoders(device, ckpt, m.dtype, m.dims.jointAttentionDim) : null;
    this.textTensors = new TextTensorCache(device, m.dtype);
    this.vae = new LazyVae(device, ckpt);
  }

  /** Collective over `world`: every rank calls it with its own device and an open handle on the same checkpoint. */
  static async create(world: ProcessGroup, device: Device, ckpt: Checkpoint, opts: ParallelBackendOptions): Promise<ParallelBackend> {
    const textRank = opts.textRank ?? 0;
    if (!Number.isInteger(textRank) || textRank < 0 || textRank >= world.size) throw new Error(`parallel backend: textRank ${textRank} is not a rank of the ${world.size}-rank world`);
    validateCheckpoint(ckpt, { allowUnexpected: true });
    GpuTextEncoders.check(ckpt);
    const dtype = opts.dtype ?? 'f32';
    requireComputeDtype(device, dtype, `rank ${world.rank}: `);
    const transformer = opts.layout.clip
      ? await ClipParallelTransformer.create(world, device, ckpt.transformer, opts.layout, { dtype })
      : await ParallelTransformer.create(world, device, ckpt.transformer, opts.layout, { dtype });
    return new ParallelBackend(world, device, transformer, ckpt, textRank);
  }

  get rank(): number {
    return this.world.rank;
  }

  async beginGeneration(settings: GenerateSettings, init: InitLatentsInfo): Promise<void> {
    // the initial latents are agreed by the hash of their float32 values (a file's path may differ between hosts)
    const mine = JSON.stringify({ ...settings, initLatents: init.source === 'seed' ? 'seed' : `sha256 ${init.sha256}` });
    const all = await this.world.allGather(new TextEncoder().encode(mine));
    const dec = new TextDecoder();
    const base = JSON.parse(dec.decode(all[0])) as Record<string, unknown>;
    for (let r = 1; r < all.length; r++) {
      const other = JSON.parse(dec.decode(all[r])) as Record<string, unknown>;
      const diff = Object.keys({ ...base, ...other }).filter((k) => JSON.stringify(base[k]) !== JSON.stringify(other[k]));
      if (diff.length) {
        throw new DistError(`parallel generation: rank ${r} got different settings than rank 0 (${diff.map((k) => `${k}: ${JSON.stringify(other[k])} vs ${JSON.stringify(base[k])}`).join(', ')}); every rank must get the same prompt, sizes, seed (pass --seed explicitly) and initial latents (the same --init-latents file contents)`);
      }
    }
  }

  /**
   * Encodes on the text rank; one broadcast of [tokens, jointDim, pooledLen, prompt_embeds..., pooled...] gives
   * every rank the same conditioning.
   */
  encodeText(prompt: string): Promise<TextConditioning> {
    return this.guard('text encoding', async () => {
      let packed: Float32Array = new Float32Array(0);
      if (this.text) {
        const c = await this.text.encode(prompt);
        packed = new Float32Array(3 + c.promptEmbeds.length + c.pooled.length);
        packed.set([c.tokens, c.jointDim, c.pooled.length]);
        packed.set(c.promptEmbeds, 3);
        packed.set(c.pooled, 3 + c.promptEmbeds.length);
      }
      const got = await this.world.broadcast(packed, this.textRank);
      const [tokens, jointDim, pooledLen] = [got[0]!, got[1]!, got[2]!];
      const n = tokens * jointDim;
      if (got.length !== 3 + n + pooledLen) throw new DistError(`text broadcast from rank ${this.textRank}: ${got.length} values do not match ${tokens} x ${jointDim} + ${pooledLen}`);
      return { tokens, jointDim, promptEmbeds: got.slice(3, 3 + n), pooled: got.slice(3 + n) };
    });
  }

  velocity(latents: Tensor32, timestep: number, text: TextConditioning): Promise<Float32Array> {
    return this.guard('velocity', async () => {
      const hidden = this.upload(latents);
      try {
        return await readAndDispose(await this.transformer.velocity({ hidden, timestep, cond: this.textTensors.get(text) }));
      } finally {
        hidden.dispose();
      }
    });
  }

  guidedVelocity(latents: Tensor32, timestep: number, cond: TextConditioning, uncond: TextConditioning, weight: number): Promise<Float32Array> {
    return this.guard('guided velocity', async () => {
      const hidden = this.upload(latents);
      try {
        const v = await this.transformer.guidedVelocity({ hidden, timestep, cond: this.textTensors.get(cond), uncond: this.textTensors.get(uncond), guidance: weight });
        return await readAndDispose(v);
      } finally {
        hidden.dispose();
      }
    });
  }

  /** Frame-parallel decode: rank r decodes frames evenSplit(F, N)[r] (in order), then an all-gather of the bytes. */
  decode(latents: Tensor32): Promise<DecodedVideo> {
    return this.guard('frame-parallel VAE decode', async () => {
      const [, F, C, h, w] = latents.shape as [number, number, number, number, number];
      const counts = evenSplit(F, this.world.size);
      const first = counts.slice(0, this.rank).reduce((a, b) => a + b, 0);
      const mine = counts[this.rank]!;
      const width = w * this.info.vaeScale;
      const height = h * this.info.vaeScale;
      const frameBytes = width * height * 3;
      let bytes: Uint8Array = new Uint8Array(0);
      if (mine > 0) {
        const vae = await this.vae.get();
        const per = C * h * w;
        const z = Tensor.from(this.device, latents.data.subarray(first * per, (first + mine) * per), [1, mine, C, h, w], 'f32', 'latents (this rank\'s frames)');
        try {
          const d = await vae.decodeFrames(z);
          if (d.width !== width || d.height !== height) throw new Error(`VAE decoded ${d.width}x${d.height} frames, expected ${width}x${height}`);
          bytes = concat(d.frames);
        } finally {
          z.dispose();
        }
      }
      const all = await this.world.allGather(bytes);
      const frames: Uint8Array[] = [];
      all.forEach((b, r) => {
        if (b.length !== counts[r]! * frameBytes) throw new DistError(`frame-parallel decode: rank ${r} sent ${b.length} bytes for ${counts[r]} frames of ${width}x${height}`);
        for (let f = 0; f < counts[r]!; f++) frames.push(b.slice(f * frameBytes, (f + 1) * frameBytes)); // own buffers: cheap to hand to a worker's postMessage
      });
      return { width, height, frames };
    });
  }

  /**
   * Collective agreement to stop: true on every rank when any rank asks to stop. Called at the same point on every
   * rank (the runner does it at each step boundary) so that a cancellation ends all ranks at the same step and the
   * world stays usable.
   */
  async agreeStop(stop: boolean): Promise<boolean> {
    const any = await this.world.allReduce(Float32Array.of(stop ? 1 : 0));
    return any[0]! > 0;
  }

  peakMemoryBytes(): number {
    return this.device.pool.stats.peakBytes;
  }

  weightsLoaded(): { bytes: number; tensors: number; ms: number } {
    const all = [this.transformer.model.weights, ...(this.text?.weights ?? []), ...this.vae.weights];
    return sumLoadReports(all);
  }

  async dispose(): Promise<void> {
    this.textTensors.dispose();
    this.transformer.dispose();
    await this.text?.dispose();
    await this.vae.dispose();
  }

  private upload(latents: Tensor32): Tensor {
    return Tensor.from(this.device, latents.data, latents.shape, this.transformer.model.dtype, 'latents');
  }

  /** Runs a collective stage; a local (non-distributed) failure aborts the world so no rank waits for this one. */
  private async guard<R>(what: string, f: () => Promise<R>): Promise<R> {
    try {
      return await f();
    } catch (e) {
      throw abortOnLocalFailure(this.world.transport, `${what} on rank ${this.rank}`, e);
    }
  }
}
