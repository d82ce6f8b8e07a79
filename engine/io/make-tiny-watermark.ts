// Writes a tiny LAION watermark detector (what `curate --watermark FILE` loads, engine/data/watermark-model.ts): a
// safetensors file with seeded random weights in the exact key layout of timm's efficientnet_b3a with LAION's
// classifier head (keys.ts: efficientNetKeys), BatchNorm running statistics included (variances positive) and the
// int64 num_batches_tracked counters a torch state dict has; the values keep the logits input-dependent. Widths and depths are reduced (the loader reads them
// from the shapes); the 7 stages, their strides, kernel sizes and block types are the real ones.
import type { EfficientNetBlockConfig, EfficientNetConfig } from './configs.js';
import { EFFICIENTNET_BN_EPS, EFFICIENTNET_STAGE_STRIDES } from './efficientnet-config.js';
import { efficientNetKeys } from './keys.js';
import { tensorsFor } from './make-tiny.js';
import { writeSafetensors } from './safetensors.js';
import { SeededRandom, hashString } from './tiny-random.js';

/** efficientnet_b3's kernel size per stage (timm arch_def k3, k3, k5, k3, k5, k5, k3). */
export const EFFICIENTNET_STAGE_KERNELS = [3, 3, 5, 3, 5, 5, 3] as const;

export interface EfficientNetShape {
  stem: number;
  /** Output width per stage (7). */
  widths: readonly number[];
  /** Blocks per stage (7). */
  depths: readonly number[];
  /** Expansion ratio of the inverted residual blocks (6 in EfficientNet). */
  expand: number;
  head: number;
  /** The classifier's widths after the head (LAION: 625, 256, 2): Sequential layers 0, 3, 5 when there are 3, `classifier` when 1. */
  classifier: readonly number[];
}

/** timm's efficientnet_b3 (channel x1.2, depth x1.4) with LAION's head 1536-625-256-2: the real watermark model. */
export const EFFICIENTNET_B3_WATERMARK: EfficientNetShape = {
  stem: 40, widths: [24, 32, 48, 96, 136, 232, 384], depths: [2, 3, 3, 5, 5, 6, 2], expand: 6, head: 1536, classifier: [625, 256, 2],
};

/** The tiny default: every stage present with 1-2 blocks, widths 4-16 (skips where stride 1 and in == out). */
export const TINY_EFFICIENTNET: EfficientNetShape = {
  stem: 8, widths: [4, 6, 8, 10, 12, 14, 16], depths: [2, 2, 1, 2, 1, 2, 1], expand: 6, head: 24, classifier: [10, 7, 2],
};

/** The config of a shape: SE width round(block input x 0.25) as timm computes it (at least 1). */
export function efficientNetConfigFor(s: EfficientNetShape): EfficientNetConfig {
  let prev = s.stem;
  const stages = s.widths.map((out, st) => Array.from({ length: s.depths[st]! }, (_, j): EfficientNetBlockConfig => {
    const ds = st === 0;
    const b: EfficientNetBlockConfig = {
      type: ds ? 'ds' : 'ir', in: prev, mid: ds ? prev : prev * s.expand, out, kernel: EFFICIENTNET_STAGE_KERNELS[st]!,
      stride: j === 0 ? EFFICIENTNET_STAGE_STRIDES[st]! : 1, se: Math.max(1, Math.round(prev * 0.25)),
    };
    prev = out;
    return b;
  }));
  // LAION's Sequential(Linear, ReLU, Dropout, Linear, ReLU, Linear): 0, 3, 5; one layer: timm's own classifier
  const seq = s.classifier.length === 3 ? [0, 3, 5] : s.classifier.map((_, i) => i);
  let inF = s.head;
  const classifier = s.classifier.map((out, i) => {
    const l = { key: s.classifier.length === 1 ? 'classifier' : `classifier.${seq[i]}`, in: inF, out };
    inF = out;
    return l;
  });
  return { stem: s.stem, stages, head: s.head, classifier, bnEps: EFFICIENTNET_BN_EPS };
}

/** Writes the tiny checkpoint to `path` (a .safetensors file); returns its config. */
export async function makeTinyWatermarkModel(path: string, opts: { seed?: number; shape?: EfficientNetShape } = {}): Promise<EfficientNetConfig> {
  const seed = opts.seed ?? 2468;
  const cfg = efficientNetConfigFor(opts.shape ?? TINY_EFFICIENTNET);
  const specs = efficientNetKeys(cfg);
  // Values chosen so that the input still matters at the logits of a random 16-block net (with plain 1/sqrt(fan_in)
  // weights and SE gates around sigmoid(0) = 0.5 it washes out to a constant): weights sqrt(2 / fan_in) (He),
  // SE expand biases around 1.5 (gates ~0.8), BatchNorm means around 0 and variances in [0.5, 1.5].
  const extra = new Map<string, Float32Array>();
  for (const s of specs) {
    if (s.integer) continue;
    const r = new SeededRandom((seed ^ hashString(`watermark/${s.key}`)) >>> 0);
    const n = s.shape.reduce((a, b) => a * b, 1);
    const k = s.key;
    let v: Float32Array;
    if (k.endsWith('.running_var')) v = Float32Array.from({ length: n }, () => 0.5 + r.uniform());
    else if (k.endsWith('.running_mean')) v = r.normals(n, 0.1);
    else if (k.endsWith('se.conv_expand.bias')) v = r.normals(n, 0.5, 1.5);
    else if (k.endsWith('.bias')) v = r.normals(n, 0.1);
    else if (s.shape.length === 1) v = r.normals(n, 0.1, 1); // BatchNorm gamma
    else v = r.normals(n, Math.SQRT2 / Math.sqrt(n / s.shape[0]!));
    extra.set(k, v);
  }
  await writeSafetensors(path, tensorsFor('watermark', specs, 'F32', seed, extra), { format: 'pt' });
  return cfg;
}
