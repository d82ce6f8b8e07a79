// Float64 CPU reference of attention (engine/ops/attention.ts), written from the math: per-head scaled dot-product
// attention over strided views, with causal, additive bias and mask; a fully masked query row gives 0. And its backward.

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

/** Writes query row i's logits (scaled q.k + bias + mask, causal -Infinity) for batch b, head h; returns their max. */
function rowLogits(q: RefView, k: RefView, o: RefOptions, b: number, h: number, i: number, scale: number, out: Float64Array): number {
  const hd = o.headDim;
  const Sq = q.seq;
  const Sk = k.seq;
  let max = -Infinity;
  for (let j = 0; j < Sk; j++) {
    let s = 0;
    for (let d = 0; d < hd; d++) s += at(q, b, i, h * hd + d) * at(k, b, j, h * hd + d);
    s *= scale;
    if (o.bias) s += o.bias.length === Sk ? o.bias[j]! : o.bias[b * Sk + j]!;
    if (o.mask) s += o.mask.length === Sq * Sk ? o.mask[i * Sk + j]! : o.mask[(b * Sq + i) * Sk + j]!;
    if (o.causal && j > i) s = -Infinity;
    out[j] = s;
    if (s > max) max = s;
  }
  return max;
}

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
        const max = rowLogits(q, k, o, b, h, i, scale, logits);
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

export interface AttentionGradsRef {
  /** [B, Sq, heads*headDim] */
  dq: Float64Array;
  /** [k.batch, Sk, heads*headDim] (summed over the query batches when K is shared) */
  dk: Float64Array;
  /** [v.batch, Sk, heads*headDim] */
  dv: Float64Array;
  /** Log-sum-exp of each query row's logits, [B, heads, Sq] (-Infinity for a fully masked row). */
  lse: Float64Array;
}

/**
 * Backward of attentionRef for dO in the standard layout [B, Sq, heads*headDim], written from the math (training.md
 * section 2): P = softmax(S), D_i = sum_d dO_i,d O_i,d, dV = P^T dO, dS = P * (dO V^T - D), dQ = scale dS K,
 * dK = scale dS^T Q. Masks and biases enter P as in the forward; a fully masked row has zero gradient.
 */
export function attentionBackwardRef(q: RefView, k: RefView, v: RefView, dO: ArrayLike<number>, o: RefOptions): AttentionGradsRef {
  const { heads: H, headDim: hd } = o;
  const B = q.batch;
  const Sq = q.seq;
  const Sk = k.seq;
  const C = H * hd;
  const scale = o.scale ?? 1 / Math.sqrt(hd);
  const dq = new Float64Array(B * Sq * C);
  const dk = new Float64Array(k.batch * Sk * C);
  const dv = new Float64Array(v.batch * Sk * C);
  const lse = new Float64Array(B * H * Sq);
  const p = new Float64Array(Sk);
  for (let b = 0; b < B; b++) {
    const kb = k.batch === 1 ? 0 : b;
    const vb = v.batch === 1 ? 0 : b;
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Sq; i++) {
        const max = rowLogits(q, k, o, b, h, i, scale, p);
        if (max === -Infinity) {
          lse[(b * H + h) * Sq + i] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Sk; j++) sum += Math.exp(p[j]! - max);
        lse[(b * H + h) * Sq + i] = max + Math.log(sum);
        for (let j = 0; j < Sk; j++) p[j] = Math.exp(p[j]! - max) / sum;
        const row = (b * Sq + i) * C + h * hd;
        // D = dO . O with O = P V.
        let D = 0;
        for (let d = 0; d < hd; d++) {
          let od = 0;
          for (let j = 0; j < Sk; j++) od += p[j]! * at(v, b, j, h * hd + d);
          D += dO[row + d]! * od;
        }
        for (let j = 0; j < Sk; j++) {
          if (p[j] === 0) continue;
          let dp = 0;
          for (let d = 0; d < hd; d++) dp += dO[row + d]! * at(v, b, j, h * hd + d);
          const ds = p[j]! * (dp - D);
          for (let d = 0; d < hd; d++) {
            dq[row + d] += scale * ds * at(k, b, j, h * hd + d);
            dk[(kb * Sk + j) * C + h * hd + d] += scale * ds * at(q, b, i, h * hd + d);
            dv[(vb * Sk + j) * C + h * hd + d] += p[j]! * dO[row + d]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv, lse };
}
