// Pieces shared by the one-device GPU backend and the parallel backend: the dtype check, the per-prompt device copies
// of the conditioning, the lazily loaded f32 VAE, and the sum of weight-load reports.
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { requirePart, type PartialCheckpoint } from '../io/checkpoint.js';
import { VaeModel } from '../model/vae.js';
import type { GpuWeights } from '../model/weights.js';
import { Tensor } from '../tensor.js';
import type { TextConditioning } from './backend.js';

/** Throws when f16 compute is asked of a device without shader-f16 (`who` prefixes the message, e.g. "rank 2: "). */
export function requireComputeDtype(device: Device, dtype: DType, who = ''): void {
  if (dtype === 'f16' && !device.f16) {
    throw new Error(`${who}--dtype f16 needs shader-f16, which ${device.adapter.description || device.adapter.vendor} does not offer; use --dtype f32`);
  }
}

/** Device copies of each prompt's conditioning (prompt_embeds [1, T, J], pooled_projections [1, P]), uploaded once. */
export class TextTensorCache {
  private readonly cache = new Map<TextConditioning, { context: Tensor; pooled: Tensor }>();

  constructor(
    private readonly device: Device,
    private readonly dtype: DType,
  ) {}

  get(text: TextConditioning): { context: Tensor; pooled: Tensor } {
    let t = this.cache.get(text);
    if (!t) {
      t = {
        context: Tensor.from(this.device, text.promptEmbeds, [1, text.tokens, text.jointDim], this.dtype, 'prompt_embeds'),
        pooled: Tensor.from(this.device, text.pooled, [1, text.pooled.length], this.dtype, 'pooled_projections'),
      };
      this.cache.set(text, t);
    }
    return t;
  }

  dispose(): void {
    for (const t of this.cache.values()) {
      t.context.dispose();
      t.pooled.dispose();
    }
    this.cache.clear();
  }
}

/** The VAE decoder, loaded in f32 on first use (the SD3 VAE needs f32: its config sets force_upcast). */
export class LazyVae {
  private loading?: Promise<VaeModel>;
  /** Its weights once loaded (for load reports). */
  readonly weights: GpuWeights[] = [];

  constructor(
    private readonly device: Device,
    private readonly ckpt: PartialCheckpoint,
  ) {}

  get(): Promise<VaeModel> {
    this.loading ??= VaeModel.load(this.device, requirePart(this.ckpt, 'vae', this.ckpt.vae), { dtype: 'f32' }).then((v) => {
      this.weights.push(v.weights);
      return v;
    });
    return this.loading;
  }

  async dispose(): Promise<void> {
    (await this.loading?.catch(() => null))?.dispose();
  }
}

/** Sum of the load reports of several weight sets (bytes read, tensors, ms). */
export function sumLoadReports(all: readonly GpuWeights[]): { bytes: number; tensors: number; ms: number } {
  return all.reduce((a, w) => ({ bytes: a.bytes + w.report.fileBytes, tensors: a.tensors + w.report.tensors, ms: a.ms + w.report.ms }), { bytes: 0, tensors: 0, ms: 0 });
}

/** Reads a tensor back to the host and releases it. */
export async function readAndDispose(t: Tensor): Promise<Float32Array> {
  try {
    return await t.read();
  } finally {
    t.dispose();
  }
}
