// Rough compute cost of one generation (FLOP counts from the configs and parameter counts), used to warn before
// a run that would take hours on a slow backend. An estimate only: constant factors are approximate.
import type { Checkpoint } from '../io/checkpoint.js';
import type { WeightStore } from '../io/sharded.js';
import { DEFAULT_TEXT_LENGTHS, textTokenCount } from '../text/text-lengths.js';
import { numel } from '../io/safetensors-reader.js';
import type { GenerateSettings } from './generate-options.js';
import { vaeScaleFactor } from './reference-configs.js';

function params(w: WeightStore | undefined): number {
  if (!w) return 0;
  return w.keys().reduce((a, k) => a + numel(w.info(k).shape), 0);
}

export interface GenerationCost {
  textEncodeFlops: number;
  /** One transformer forward (one CFG branch). */
  velocityFlops: number;
  velocityCalls: number;
  decodeFlops: number;
  totalFlops: number;
}

/**
 * Transformer: every token passes through about half of the parameters (its stream's projections and FF),
 * plus spatial attention per frame (4*S^2*D per layer, S = L + T). Text encoders: 2*params*tokens.
 * VAE decode: 2*params*(pixels at the decoder's mean resolution), per frame. Text lengths: the checkpoint's
 * (ckpt.textLengths, 77 + 256 = 333 tokens for real checkpoints); `textTokens` overrides the transformer's count.
 */
export function estimateGenerationCost(ckpt: Checkpoint, s: Pick<GenerateSettings, 'frames' | 'width' | 'height' | 'steps' | 'guidance'>, textTokens?: number): GenerationCost {
  const lengths = ckpt.textLengths ?? DEFAULT_TEXT_LENGTHS;
  textTokens ??= textTokenCount(lengths);
  const t = ckpt.transformer.config;
  const scale = vaeScaleFactor(ckpt.vae.config);
  const L = (s.height / scale / t.patch_size) * (s.width / scale / t.patch_size);
  const S = L + textTokens;
  const D = t.num_attention_heads * t.attention_head_dim;
  const velocityFlops = params(ckpt.transformer.weights) * s.frames * S + t.num_layers * s.frames * 4 * S * S * D;
  const cfg = s.guidance > 1 ? 2 : 1;
  const textEncodeFlops = cfg * 2 * (params(ckpt.textEncoder?.weights) * lengths.clip + params(ckpt.textEncoder2?.weights) * lengths.clip + params(ckpt.textEncoder3?.weights) * lengths.t5);
  const decodeFlops = s.frames * 2 * (params(ckpt.vae.weights) / 2) * ((s.width * s.height) / 16);
  const velocityCalls = cfg * s.steps;
  return { textEncodeFlops, velocityFlops, velocityCalls, decodeFlops, totalFlops: textEncodeFlops + velocityFlops * velocityCalls + decodeFlops };
}
