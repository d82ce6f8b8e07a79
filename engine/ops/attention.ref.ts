// Float64 CPU reference of attention (engine/ops/attention.ts), written from the math: per-head scaled dot-product
// attention over strided views, with causal, additive bias and mask; a fully masked query row gives 0.

/** Host data seen through a strided view (elements, as in SeqView). */
export interface RefView {
  data: ArrayLike<number>;
  batch: number;
  seq: number;
  batchStride: number;
  seqStride: number;
  offset?: number;
}

export interface RefOptions {
  heads: number;
  headDim: number;
  scale?: number;
  causal?: boolean;
  /** [Sk] or [B, Sk] */
  bias?: ArrayLike<number>;
  /** [Sq, Sk] or [B, Sq, Sk] */
  mask?: ArrayLike<number>;
}

const at = (v: RefView, b: number, s: number, c: number): number =>
  v.data[(v.offset ?? 0) + (v.batch === 1 ? 0 : b) * v.batchStride + s * v.seqStride + c]!;

/** Returns the output in the standard layout [B, Sq, heads*headDim]. */
export function attentionRef(q: RefView, k: RefView, v: RefView, o: RefOptions): Float64Array {
  const { heads: H, headDim: hd } = o;
  const B = q.batch;
  const Sq = q.seq;
  const Sk = k.seq;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const out = new Float64Array(B * Sq * H * hd);
  const logits = new Float64Array(Sk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Sq; i++) {
        let max = -Infinity;
        for (let j = 0; j < Sk; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += at(q, b, i, h * hd + d) * at(k, b, j, h * hd + d);
          s *= scale;
          if (o.bias) s += o.bias.length === Sk ? o.bias[j]! : o.bias[b * Sk + j]!;
          if (o.mask) s += o.mask.length === Sq * Sk ? o.mask[i * Sk + j]! : o.mask[(b * Sq + i) * Sk + j]!;
          if (o.causal && j > i) s = -Infinity;
          logits[j] = s;
          if (s > max) max = s;
        }
        const row = ((b * Sq + i) * H + h) * hd;
        if (max === -Infinity) continue; // fully masked: output 0
        let sum = 0;
        for (let j = 0; j < Sk; j++) {
          const p = Math.exp(logits[j]! - max);
          logits[j] = p;
          sum += p;
        }
        for (let j = 0; j < Sk; j++) {
          const p = logits[j]! / sum;
          if (p === 0) continue;
          for (let d = 0; d < hd; d++) out[row + d] += p * at(v, b, j, h * hd + d);
        }
      }
    }
  }
  return out;
}
