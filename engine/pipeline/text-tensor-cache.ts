// Device copies of each prompt's conditioning (prompt_embeds [1, T, J], pooled_projections [1, P]), uploaded once
// per TextConditioning and reused at every denoising step; weights-report helper shared by the GPU backends.
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import type { GpuWeights } from '../model/weights.js';
import { Tensor } from '../tensor.js';
import type { TextConditioning } from './backend.js';

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

/** Sum of the load reports of several weight sets (bytes read, tensors, ms). */
export function sumLoadReports(all: readonly GpuWeights[]): { bytes: number; tensors: number; ms: number } {
  return all.reduce((a, w) => ({ bytes: a.bytes + w.report.fileBytes, tensors: a.tensors + w.report.tensors, ms: a.ms + w.report.ms }), { bytes: 0, tensors: 0, ms: 0 });
}
