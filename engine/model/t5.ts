// T5 encoder (HF T5EncoderModel, v1.1 gated-GELU or original ReLU) on the GPU, composed of engine ops: shared
// embedding, RMSNorm, unscaled attention with the bucketed relative position bias of block 0 (built on the host,
// heads run as attention batches), feed-forward, final RMSNorm. Activations stay f32 whatever the weights dtype
// (T5 overflows in f16); f16 weights are read by mixed-precision matmuls.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { validateT5, type SubModel } from '../io/checkpoint.js';
import type { T5EncoderConfig } from '../io/configs.js';
import { t5EmbeddingKey } from '../io/keys.js';
import { attention, type SeqView } from '../ops/attention.js';
import { cast, mul, relu } from '../ops/elementwise.js';
import { gatherRows } from '../ops/layout.js';
import { linear, type LinearOptions } from '../ops/linear.js';
import { rmsNorm } from '../ops/norm.js';
import { Tensor } from '../tensor.js';
import { Scratch } from './scratch.js';
import { GpuWeights, type LoadProgress } from './weights.js';

const REL_BIAS_KEY = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';

export interface T5LoadOptions {
  /** Weights dtype (f16 needs shader-f16). Activations are always f32. Default f32. */
  dtype?: DType;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * Bidirectional T5 relative-position bucket of (key - query): half the buckets per sign, exact below maxExact =
 * half/2, logarithmic above up to maxDistance (the log ratio in float32, as torch evaluates it).
 */
export function t5Bucket(relative: number, numBuckets: number, maxDistance: number): number {
  const half = Math.floor(numBuckets / 2);
  const base = relative > 0 ? half : 0;
  const n = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return base + n;
  const f = Math.fround;
  const logRatio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  return base + Math.min(maxExact + Math.trunc(f(logRatio * (half - maxExact))), half - 1);
}

/** Position bias [heads, S, S] (f32) from the bucket table [numBuckets, heads]. */
export function t5PositionBias(table: Float32Array, cfg: T5EncoderConfig, S: number): Float32Array {
  const H = cfg.num_heads;
  const out = new Float32Array(H * S * S);
  const byDelta = new Int32Array(2 * S - 1);
  for (let dlt = -(S - 1); dlt <= S - 1; dlt++) byDelta[dlt + S - 1] = t5Bucket(dlt, cfg.relative_attention_num_buckets, cfg.relative_attention_max_distance);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < S; i++) {
      const row = (h * S + i) * S;
      for (let j = 0; j < S; j++) out[row + j] = table[byDelta[j - i + S - 1]! * H + h]!;
    }
  }
  return out;
}

export class T5Encoder {
  private biasCache = new Map<number, Tensor>();

  constructor(
    readonly device: Device,
    readonly config: T5EncoderConfig,
    readonly weights: GpuWeights,
    /** relative_attention_bias [numBuckets, heads] kept on the host. */
    private readonly biasTable: Float32Array,
    private readonly embeddingKey: string,
  ) {
    if (config.feed_forward_proj !== 'gated-gelu' && config.feed_forward_proj !== 'relu') {
      throw new Error(`text_encoder_3/config.json: feed_forward_proj "${config.feed_forward_proj}" is not supported (gated-gelu, relu)`);
    }
  }

  /** Validates the sub-model against its config, then streams its weights to the GPU. */
  static async load(device: Device, sub: SubModel<T5EncoderConfig>, opts: T5LoadOptions = {}): Promise<T5Encoder> {
    const config = validateT5(sub);
    const embeddingKey = t5EmbeddingKey(sub.weights)!;
    const weights = await GpuWeights.load(device, sub.weights, opts.dtype ?? 'f32', opts.onProgress);
    const biasTable = await sub.weights.readFloat32(REL_BIAS_KEY);
    return new T5Encoder(device, config, weights, biasTable, embeddingKey);
  }

  /** last_hidden_state [S, d_model] (f32) for one token sequence (no attention mask, as SD3 uses it). */
  forward(ids: readonly number[]): Tensor {
    const cfg = this.config;
    const S = ids.length;
    if (S < 1) throw new Error('text_encoder_3: needs at least one token');
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab_size) throw new Error(`text_encoder_3: token id ${id} outside the vocabulary 0..${cfg.vocab_size - 1}`);
    }
    const s = new Scratch();
    const idT = s.t(Tensor.from(this.device, Uint32Array.from(ids), [S], 'u32', 't5 ids'));
    const emb = s.t(gatherRows(this.w(this.embeddingKey), idT));
    let x = emb.dtype === 'f32' ? emb.reshape([S, cfg.d_model]) : cast(emb, 'f32');
    s.release();
    const bias = this.positionBias(S);
    for (let i = 0; i < cfg.num_layers; i++) {
      const next = this.block(i, x, bias);
      x.dispose();
      x = next;
    }
    const out = rmsNorm(x, this.w('encoder.final_layer_norm.weight'), cfg.layer_norm_epsilon);
    x.dispose();
    return out;
  }

  /** Block i: x + o(attn(RMS x) + bias), then x + FF(RMS x). */
  private block(i: number, x: Tensor, bias: Tensor): Tensor {
    const cfg = this.config;
    const p = `encoder.block.${i}.layer.`;
    const S = x.shape[0]!;
    const H = cfg.num_heads;
    const dk = cfg.d_kv;
    const s = new Scratch();
    const h = s.t(rmsNorm(x, this.w(`${p}0.layer_norm.weight`), cfg.layer_norm_epsilon));
    const [q, k, v] = ['q', 'k', 'v'].map((n) => s.t(this.lin(h, `${p}0.SelfAttention.${n}`)));
    const att = s.t(Tensor.empty(this.device, [S, H * dk], 'f32', 't5 attention'));
    // Heads as batches: batch h reads columns h*dk .. h*dk+dk-1 of every row, so the [H, S, S] bias is a per-batch mask.
    const heads = (t: Tensor): SeqView => ({ tensor: t, batch: H, seq: S, batchStride: dk, seqStride: H * dk });
    attention(heads(q!), heads(k!), heads(v!), { heads: 1, headDim: dk, scale: 1, mask: bias, out: heads(att) });
    const x1 = s.t(this.lin(att, `${p}0.SelfAttention.o`, { residual: { x } }));
    const h2 = s.t(rmsNorm(x1, this.w(`${p}1.layer_norm.weight`), cfg.layer_norm_epsilon));
    const ff = `${p}1.DenseReluDense.`;
    let hidden: Tensor;
    if (cfg.feed_forward_proj === 'gated-gelu') {
      const g = s.t(this.lin(h2, `${ff}wi_0`, { epilogue: 'gelu_tanh' }));
      hidden = s.t(mul(g, s.t(this.lin(h2, `${ff}wi_1`))));
    } else {
      hidden = s.t(relu(s.t(this.lin(h2, `${ff}wi`))));
    }
    const out = this.lin(hidden, `${ff}wo`, { residual: { x: x1 } });
    s.release();
    return out;
  }

  /** The [H, S, S] f32 bias tensor for sequence length S (cached). */
  private positionBias(S: number): Tensor {
    let t = this.biasCache.get(S);
    if (!t) {
      t = Tensor.from(this.device, t5PositionBias(this.biasTable, this.config, S), [this.config.num_heads, S, S], 'f32', 't5 position bias');
      this.biasCache.set(S, t);
    }
    return t;
  }

  /** Bias-free linear (T5 has no biases), f32 output from f32 activations and f32/f16 weights. */
  private lin(x: Tensor, name: string, opts?: LinearOptions): Tensor {
    return linear(x, this.w(`${name}.weight`), undefined, { ...opts, dtype: 'f32' });
  }

  private w(name: string): Tensor {
    return this.weights.get(name);
  }

  dispose(): void {
    for (const t of this.biasCache.values()) t.dispose();
    this.biasCache.clear();
    this.weights.dispose();
  }
}
