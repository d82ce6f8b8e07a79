// The three text encoders (CLIP-L, CLIP-bigG, T5) on one GPU device, loaded on first use, producing the host-side
// TextConditioning of a prompt. Used by the one-device GPU backend and by the rank that encodes text in a
// parallel world (engine/parallel/parallel-backend.ts).
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import type { PartialCheckpoint } from '../io/checkpoint.js';
import { ClipTextModel } from '../model/clip.js';
import { T5Encoder } from '../model/t5.js';
import { encodePrompt, type TextEncoders } from '../model/text-conditioning.js';
import type { GpuWeights } from '../model/weights.js';
import { loadCheckpointTokenizers, type Sd3Tokenizers } from '../text/tokenizers.js';
import type { TextConditioning } from './backend.js';

export class GpuTextEncoders {
  private loading?: Promise<{ models: TextEncoders; tokenizers: Sd3Tokenizers }>;
  /** Weights streamed so far (for load reports). */
  readonly weights: GpuWeights[] = [];

  constructor(
    private readonly device: Device,
    private readonly ckpt: PartialCheckpoint,
    private readonly dtype: DType,
    private readonly jointDim: number,
  ) {
    GpuTextEncoders.check(ckpt);
  }

  /** Throws when the checkpoint lacks the CLIP encoders (T5 is optional, as in SD3). */
  static check(ckpt: PartialCheckpoint): void {
    if (!ckpt.textEncoder || !ckpt.textEncoder2) throw new Error(`${ckpt.root}: the CLIP text encoders (text_encoder/, text_encoder_2/) are required`);
  }

  private load(): Promise<{ models: TextEncoders; tokenizers: Sd3Tokenizers }> {
    this.loading ??= (async () => {
      const ck = this.ckpt;
      const dtype = this.dtype;
      const models: TextEncoders = {
        clipL: await ClipTextModel.load(this.device, ck.textEncoder!, { dtype }),
        clipG: await ClipTextModel.load(this.device, ck.textEncoder2!, { dtype }),
        t5: ck.textEncoder3 ? await T5Encoder.load(this.device, ck.textEncoder3, { dtype }) : undefined,
      };
      this.weights.push(models.clipL.weights, models.clipG.weights, ...(models.t5 ? [models.t5.weights] : []));
      return { models, tokenizers: await loadCheckpointTokenizers(ck) };
    })();
    return this.loading;
  }

  /** prompt -> prompt_embeds [T, J] and pooled_projections (read back to the host). */
  async encode(prompt: string): Promise<TextConditioning> {
    const { models, tokenizers } = await this.load();
    const e = encodePrompt(models, tokenizers, prompt, { jointDim: this.jointDim, dtype: 'f32' });
    try {
      const [promptEmbeds, pooled] = await Promise.all([e.promptEmbeds.read(), e.pooled.read()]);
      const [tokens, jointDim] = e.promptEmbeds.shape as [number, number];
      return { promptEmbeds, tokens, jointDim, pooled };
    } finally {
      e.promptEmbeds.dispose();
      e.pooled.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (!this.loading) return;
    const { models } = await this.loading.catch(() => ({ models: null }));
    models?.clipL.dispose();
    models?.clipG.dispose();
    models?.t5?.dispose();
  }
}
