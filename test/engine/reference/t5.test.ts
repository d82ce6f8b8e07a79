// Checks of the float64 T5 encoder reference: published bucket formula spot values, bias layout and reuse,
// unscaled attention, RMSNorm and the gated-GELU feed-forward.
import { describe, expect, it } from 'vitest';
import { type Tensor64, add64, embedding64, geluTanhScalar, linear64 } from '../../../engine/reference/tensor64.js';
import { t5EncoderBlock64, t5EncoderForward64, t5PositionBias64, t5RelativePositionBucket } from '../../../engine/reference/t5.js';
import { TINY_T5, expectClose, makeRng, randn64, randomWeights, t5WeightShapes, zerosLike } from './fixtures.js';

const cfg = TINY_T5;

describe('T5 relative position buckets (32 buckets, max distance 128, bidirectional)', () => {
  const b = (r: number) => t5RelativePositionBucket(r, 32, 128);
  it('exact region: |n| < 8 maps to n (key before query) or 16 + n (key after query)', () => {
    expect(b(0)).toBe(0);
    expect(b(-1)).toBe(1);
    expect(b(-7)).toBe(7);
    expect(b(1)).toBe(17);
    expect(b(7)).toBe(23);
  });
  it('log region: 8 + floor(log(n/8)/log(16)*8), capped at 15', () => {
    // hand values: n=8 -> 8; n=12 -> 8+floor(1.170) = 9; n=16 -> 8+2; n=20 -> 8+floor(2.644) = 10;
    // n=32 -> 12; n=64 -> 14; n=127 -> 8+floor(7.977) = 15; n=128 -> 16 capped 15; n=1000 -> 15
    expect(b(-8)).toBe(8);
    expect(b(-12)).toBe(9);
    expect(b(-16)).toBe(10);
    expect(b(-20)).toBe(10);
    expect(b(-32)).toBe(12);
    expect(b(-64)).toBe(14);
    expect(b(-127)).toBe(15);
    expect(b(-128)).toBe(15);
    expect(b(-1000)).toBe(15);
    expect(b(20)).toBe(26);
    expect(b(1000)).toBe(31);
  });
  it('position bias [h, q, k] reads table[bucket(k - q), h]', () => {
    const table = randn64(makeRng(1), [32, cfg.heads]);
    const bias = t5PositionBias64(table, cfg, 3, 20);
    expect(bias.shape).toEqual([cfg.heads, 3, 20]);
    expect(bias.data[(1 * 3 + 2) * 20 + 19]).toBe(table.data[t5RelativePositionBucket(17, 32, 128) * cfg.heads + 1]);
    expect(bias.data[(0 * 3 + 2) * 20 + 0]).toBe(table.data[2 * cfg.heads + 0]);
  });
});

describe('T5 encoder reference', () => {
  const w = randomWeights(t5WeightShapes(cfg), 5);
  const ids = [4, 17, 9, 1, 22];

  it('only block 0 holds the relative bias table, and it affects every layer', () => {
    expect(w.has('encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight')).toBe(false);
    const out = t5EncoderForward64(w, cfg, ids);
    expect(out.shape).toEqual([5, cfg.dModel]);
    const k = 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight';
    const w2 = new Map(w);
    w2.set(k, randn64(makeRng(9), w.get(k)!.shape));
    const other = t5EncoderForward64(w2, cfg, ids);
    expect(out.data.some((v, i) => Math.abs(v - other.data[i]) > 1e-9)).toBe(true);
  });

  it('one block matches a hand-written formula (RMSNorm, unscaled attention + bias, gated GELU)', () => {
    const rng = makeRng(7);
    const x = randn64(rng, [4, cfg.dModel]);
    const table = w.get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight')!;
    const bias = t5PositionBias64(table, cfg, 4, 4);
    const got = t5EncoderBlock64(w, cfg, 1, x, bias);
    const g = (n: string) => w.get(`encoder.block.1.layer.${n}`)!;
    const rms = (t: Tensor64, wt: Tensor64) => {
      const d = cfg.dModel;
      const out = new Float64Array(t.data.length);
      for (let r = 0; r < t.data.length / d; r++) {
        let ms = 0;
        for (let i = 0; i < d; i++) ms += t.data[r * d + i] ** 2 / d;
        for (let i = 0; i < d; i++) out[r * d + i] = (wt.data[i] * t.data[r * d + i]) / Math.sqrt(ms + cfg.layerNormEpsilon);
      }
      return { shape: t.shape, data: out };
    };
    const h = rms(x, g('0.layer_norm.weight'));
    const q = linear64(h, g('0.SelfAttention.q.weight'));
    const k = linear64(h, g('0.SelfAttention.k.weight'));
    const v = linear64(h, g('0.SelfAttention.v.weight'));
    const inner = cfg.heads * cfg.dKv;
    const att = new Float64Array(4 * inner);
    for (let hh = 0; hh < cfg.heads; hh++) {
      for (let i = 0; i < 4; i++) {
        const logit = [0, 1, 2, 3].map((j) => {
          let s = 0;
          for (let d = 0; d < cfg.dKv; d++) s += q.data[i * inner + hh * cfg.dKv + d] * k.data[j * inner + hh * cfg.dKv + d];
          return s + bias.data[(hh * 4 + i) * 4 + j]; // no 1/sqrt(d) scaling in T5
        });
        const e = logit.map((z) => Math.exp(z));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < cfg.dKv; d++) {
          for (let j = 0; j < 4; j++) att[i * inner + hh * cfg.dKv + d] += (e[j] / sum) * v.data[j * inner + hh * cfg.dKv + d];
        }
      }
    }
    const x1 = add64(x, linear64({ shape: [4, inner], data: att }, g('0.SelfAttention.o.weight')));
    const h2 = rms(x1, g('1.layer_norm.weight'));
    const a0 = linear64(h2, g('1.DenseReluDense.wi_0.weight'));
    const a1 = linear64(h2, g('1.DenseReluDense.wi_1.weight'));
    const hidden = { shape: a0.shape, data: a0.data.map((z, i) => geluTanhScalar(z) * a1.data[i]) };
    const want = add64(x1, linear64(hidden, g('1.DenseReluDense.wo.weight')));
    expectClose(got, want, 1e-12);
  });

  it('zero o and wo leave the embedding; output is the final RMSNorm of it', () => {
    const w0 = new Map(w);
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const k of [`encoder.block.${i}.layer.0.SelfAttention.o.weight`, `encoder.block.${i}.layer.1.DenseReluDense.wo.weight`]) w0.set(k, zerosLike(w.get(k)!));
    }
    const ones = { shape: [cfg.dModel], data: new Float64Array(cfg.dModel).fill(1) };
    w0.set('encoder.final_layer_norm.weight', ones);
    const out = t5EncoderForward64(w0, cfg, ids);
    const emb = embedding64(w.get('shared.weight')!, ids);
    for (let r = 0; r < ids.length; r++) {
      const row = emb.data.subarray(r * cfg.dModel, (r + 1) * cfg.dModel);
      const rmsv = Math.sqrt(row.reduce((a, b) => a + b * b, 0) / cfg.dModel + cfg.layerNormEpsilon);
      for (let i = 0; i < cfg.dModel; i++) expect(out.data[r * cfg.dModel + i]).toBeCloseTo(row[i] / rmsv, 12);
    }
  });
});
