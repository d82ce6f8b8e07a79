// Checks of the float64 primitive ops against closed forms and independently written naive formulas.
import { describe, expect, it } from 'vitest';
import {
  type Tensor64,
  conv2d64,
  cropPosEmbed64,
  embedding64,
  erf,
  geluErfScalar,
  geluTanhScalar,
  groupNorm64,
  layerNorm64,
  linear64,
  matmul64,
  patchify64,
  posEmbed2dTable64,
  quickGeluScalar,
  reshape64,
  rmsNorm64,
  ropeInterleaved64,
  sdpa64,
  siluScalar,
  softmax64,
  timestepEmbedding64,
  transpose2d64,
  unpatchify64,
  upsampleNearest2x64,
} from '../../../engine/reference/tensor64.js';
import { expectClose, makeRng, randn64 } from './fixtures.js';

const rng = makeRng(1234);

/** Generic permute of a row-major array (einsum-style reference for layout tests). */
function permute(data: Float64Array, shape: number[], perm: number[]): { shape: number[]; data: Float64Array } {
  const outShape = perm.map((p) => shape[p]);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float64Array(data.length);
  const idx = new Array(outShape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += idx[k] * strides[perm[k]];
    out[o] = data[src];
    for (let k = outShape.length - 1; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return { shape: outShape, data: out };
}

describe('linear algebra', () => {
  it('linear64 equals x @ W^T + b via matmul and a transpose', () => {
    const x = randn64(rng, [2, 3, 5]);
    const w = randn64(rng, [7, 5]);
    const b = randn64(rng, [7]);
    const y = linear64(x, w, b);
    expect(y.shape).toEqual([2, 3, 7]);
    const ref = matmul64(reshape64(x, [6, 5]), transpose2d64(w));
    for (let r = 0; r < 6; r++) for (let o = 0; o < 7; o++) ref.data[r * 7 + o] += b.data[o];
    expectClose(y.data, ref.data, 1e-12);
  });

  it('matmul64 with identity returns the input and rejects bad shapes', () => {
    const a = randn64(rng, [3, 4]);
    const eye: Tensor64 = { shape: [4, 4], data: new Float64Array(16) };
    for (let i = 0; i < 4; i++) eye.data[i * 5] = 1;
    expectClose(matmul64(a, eye), a, 0);
    expect(() => matmul64(a, a)).toThrow(/cannot multiply/);
  });

  it('linear64 names the mismatch', () => {
    expect(() => linear64(randn64(rng, [2, 3]), randn64(rng, [4, 5]))).toThrow(/in-features 5/);
  });
});

describe('normalisation', () => {
  it('layerNorm64 rows have mean 0 and variance 1; affine is w*n+b', () => {
    const x = randn64(rng, [4, 9], 3);
    const n = layerNorm64(x, 1e-12);
    for (let r = 0; r < 4; r++) {
      const row = n.data.subarray(r * 9, r * 9 + 9);
      const mean = row.reduce((a, b) => a + b, 0) / 9;
      const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 9;
      expect(Math.abs(mean)).toBeLessThan(1e-12);
      expect(v).toBeCloseTo(1, 10);
    }
    const w = randn64(rng, [9]);
    const b = randn64(rng, [9]);
    const a = layerNorm64(x, 1e-12, w, b);
    for (let i = 0; i < a.data.length; i++) expect(a.data[i]).toBeCloseTo(n.data[i] * w.data[i % 9] + b.data[i % 9], 12);
  });

  it('rmsNorm64: unit weight gives rows of RMS 1, no mean removal, weight scales channels', () => {
    const x = randn64(rng, [3, 6]);
    for (let i = 0; i < 6; i++) x.data[i] += 5; // mean far from 0 must survive
    const ones: Tensor64 = { shape: [6], data: new Float64Array(6).fill(1) };
    const y = rmsNorm64(x, ones, 0);
    for (let r = 0; r < 3; r++) {
      const ms = y.data.subarray(r * 6, r * 6 + 6).reduce((a, b) => a + b * b, 0) / 6;
      expect(ms).toBeCloseTo(1, 12);
      // direction is unchanged: y is a positive multiple of x
      const k = y.data[r * 6] / x.data[r * 6];
      for (let i = 0; i < 6; i++) expect(y.data[r * 6 + i]).toBeCloseTo(k * x.data[r * 6 + i], 12);
    }
    const eps = 0.5;
    const y2 = rmsNorm64(x, ones, eps);
    const row0 = x.data.subarray(0, 6);
    const inv = 1 / Math.sqrt(row0.reduce((a, b) => a + b * b, 0) / 6 + eps);
    expect(y2.data[2]).toBeCloseTo(x.data[2] * inv, 12);
  });

  it('groupNorm64 with one group equals layerNorm over everything; with C groups normalises each channel', () => {
    const x = randn64(rng, [4, 3, 5], 2);
    const g1 = groupNorm64(x, 1, 1e-6);
    expectClose(g1.data, layerNorm64(reshape64(x, [60]), 1e-6).data, 1e-12);
    const g4 = groupNorm64(x, 4, 1e-6);
    for (let c = 0; c < 4; c++) {
      const ln = layerNorm64({ shape: [15], data: x.data.slice(c * 15, c * 15 + 15) }, 1e-6);
      expectClose(g4.data.subarray(c * 15, c * 15 + 15), ln.data, 1e-12);
    }
    const w = randn64(rng, [4]);
    const b = randn64(rng, [4]);
    const g2 = groupNorm64(x, 2, 1e-6, w, b);
    const plain = groupNorm64(x, 2, 1e-6);
    for (let i = 0; i < 60; i++) {
      const c = Math.floor(i / 15);
      expect(g2.data[i]).toBeCloseTo(plain.data[i] * w.data[c] + b.data[c], 12);
    }
  });
});

describe('activations', () => {
  it('erf and exact GELU match tabulated values', () => {
    expect(erf(0)).toBe(0);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 13);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 13);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 13);
    expect(erf(3)).toBeCloseTo(0.9999779095030014, 13);
    expect(geluErfScalar(1)).toBeCloseTo(0.8413447460685429, 12);
    expect(geluErfScalar(-1)).toBeCloseTo(-0.15865525393145707, 12);
  });

  it('tanh GELU is the published formula and close to exact GELU', () => {
    const x = 0.7;
    expect(geluTanhScalar(x)).toBeCloseTo(0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))), 15);
    for (let v = -4; v <= 4; v += 0.25) expect(Math.abs(geluTanhScalar(v) - geluErfScalar(v))).toBeLessThan(1e-3);
  });

  it('quick_gelu and silu', () => {
    expect(quickGeluScalar(0)).toBe(0);
    expect(quickGeluScalar(2)).toBeCloseTo(2 / (1 + Math.exp(-3.404)), 15);
    expect(siluScalar(1)).toBeCloseTo(1 / (1 + Math.exp(-1)), 15);
    expect(siluScalar(-30)).toBeCloseTo(0, 10);
  });
});

describe('attention', () => {
  it('softmax64 rows sum to 1 and are shift invariant', () => {
    const x = randn64(rng, [3, 7], 4);
    const s = softmax64(x);
    for (let r = 0; r < 3; r++) expect(s.data.subarray(r * 7, r * 7 + 7).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    const shifted = softmax64({ shape: x.shape, data: x.data.map((v) => v + 100) });
    expectClose(shifted, s, 1e-14);
  });

  it('sdpa64 with identical keys returns the mean of the values', () => {
    const q = randn64(rng, [4, 6]);
    const key = randn64(rng, [1, 6]);
    const k: Tensor64 = { shape: [5, 6], data: new Float64Array(30) };
    for (let j = 0; j < 5; j++) k.data.set(key.data, j * 6);
    const v = randn64(rng, [5, 4]);
    const o = sdpa64(q, k, v, 2);
    for (let i = 0; i < 4; i++) {
      for (let c = 0; c < 4; c++) {
        let m = 0;
        for (let j = 0; j < 5; j++) m += v.data[j * 4 + c] / 5;
        expect(o.data[i * 4 + c]).toBeCloseTo(m, 13);
      }
    }
  });

  it('sdpa64 matches a per-head naive formula with scale, bias and causal mask', () => {
    const heads = 3;
    const hd = 2;
    const q = randn64(rng, [4, heads * hd]);
    const k = randn64(rng, [4, heads * hd]);
    const v = randn64(rng, [4, heads * hd]);
    const bias = randn64(rng, [heads, 4, 4]);
    const scale = 0.37;
    const o = sdpa64(q, k, v, heads, { scale, bias, causal: true });
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < 4; i++) {
        const w: number[] = [];
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q.data[i * 6 + h * hd + d] * k.data[j * 6 + h * hd + d];
          w.push(Math.exp(dot * scale + bias.data[(h * 4 + i) * 4 + j]));
        }
        const z = w.reduce((a, b) => a + b, 0);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += (w[j] / z) * v.data[j * 6 + h * hd + d];
          expect(o.data[i * 6 + h * hd + d]).toBeCloseTo(acc, 12);
        }
      }
    }
    // first causal query sees only the first value
    expectClose(o.data.subarray(0, 6), v.data.subarray(0, 6), 1e-14);
  });

  it('sdpa64 default scale is 1/sqrt(head dim)', () => {
    const q = randn64(rng, [2, 8]);
    const k = randn64(rng, [3, 8]);
    const v = randn64(rng, [3, 8]);
    expectClose(sdpa64(q, k, v, 2), sdpa64(q, k, v, 2, { scale: 0.5 }), 1e-15);
  });
});

describe('rope', () => {
  it('preserves pair norms, is identity at position 0 and rotates pair j by pos*theta^(-2j/hd)', () => {
    const heads = 2;
    const hd = 6;
    const theta = 1e6;
    const x = randn64(rng, [4, heads * hd]);
    const pos = [0, 1, 5, 17];
    const y = ropeInterleaved64(x, heads, pos, theta);
    expectClose(y.data.subarray(0, 12), x.data.subarray(0, 12), 0);
    for (let r = 0; r < 4; r++) {
      for (let h = 0; h < heads; h++) {
        for (let j = 0; j < hd / 2; j++) {
          const i0 = r * 12 + h * hd + 2 * j;
          const a = [x.data[i0], x.data[i0 + 1]];
          const b = [y.data[i0], y.data[i0 + 1]];
          expect(Math.hypot(b[0], b[1])).toBeCloseTo(Math.hypot(a[0], a[1]), 13);
          const rot = Math.atan2(b[1], b[0]) - Math.atan2(a[1], a[0]);
          const want = pos[r] * theta ** ((-2 * j) / hd);
          const diff = Math.atan2(Math.sin(rot - want), Math.cos(rot - want));
          expect(Math.abs(diff)).toBeLessThan(1e-12);
        }
      }
    }
  });

  it('q.k after RoPE depends only on the position difference', () => {
    const q = randn64(rng, [1, 8]);
    const k = randn64(rng, [1, 8]);
    const dot = (m: number, n: number) => {
      const a = ropeInterleaved64(q, 1, [m], 100);
      const b = ropeInterleaved64(k, 1, [n], 100);
      return a.data.reduce((s, v, i) => s + v * b.data[i], 0);
    };
    expect(dot(3, 1)).toBeCloseTo(dot(7, 5), 12);
    expect(Math.abs(dot(3, 1) - dot(1, 3))).toBeGreaterThan(1e-6);
  });
});

describe('images', () => {
  function naiveConv(x: Tensor64, w: Tensor64, b: Tensor64, stride: number, pad: [number, number, number, number]): Tensor64 {
    // pad explicitly, then accumulate kernel-tap-major (different loop order from conv2d64)
    const [cin, h, wd] = x.shape;
    const [cout, , kh, kw] = w.shape;
    const [pt, pb, pl, pr] = pad;
    const hp = h + pt + pb;
    const wp = wd + pl + pr;
    const xp = new Float64Array(cin * hp * wp);
    for (let c = 0; c < cin; c++) for (let y = 0; y < h; y++) for (let z = 0; z < wd; z++) xp[(c * hp + y + pt) * wp + z + pl] = x.data[(c * h + y) * wd + z];
    const ho = Math.floor((hp - kh) / stride) + 1;
    const wo = Math.floor((wp - kw) / stride) + 1;
    const out = new Float64Array(cout * ho * wo);
    for (let ky = 0; ky < kh; ky++)
      for (let kx = 0; kx < kw; kx++)
        for (let ci = 0; ci < cin; ci++)
          for (let co = 0; co < cout; co++)
            for (let oy = 0; oy < ho; oy++)
              for (let ox = 0; ox < wo; ox++)
                out[(co * ho + oy) * wo + ox] += w.data[((co * cin + ci) * kh + ky) * kw + kx] * xp[(ci * hp + oy * stride + ky) * wp + ox * stride + kx];
    for (let co = 0; co < cout; co++) for (let i = 0; i < ho * wo; i++) out[co * ho * wo + i] += b.data[co];
    return { shape: [cout, ho, wo], data: out };
  }

  it('conv2d64 matches a padded naive convolution (3x3 pad 1, stride 2 asymmetric, 1x1)', () => {
    const x = randn64(rng, [3, 7, 6]);
    const cases: { k: number; stride: number; pad: [number, number, number, number] }[] = [
      { k: 3, stride: 1, pad: [1, 1, 1, 1] },
      { k: 3, stride: 2, pad: [0, 1, 0, 1] },
      { k: 1, stride: 1, pad: [0, 0, 0, 0] },
      { k: 2, stride: 2, pad: [0, 0, 0, 0] },
    ];
    for (const c of cases) {
      const w = randn64(rng, [4, 3, c.k, c.k]);
      const b = randn64(rng, [4]);
      const got = conv2d64(x, w, b, { stride: c.stride, padding: c.pad });
      const want = naiveConv(x, w, b, c.stride, c.pad);
      expect(got.shape).toEqual(want.shape);
      expectClose(got, want, 1e-12);
    }
  });

  it('upsampleNearest2x64 copies each pixel into a 2x2 block', () => {
    const x = randn64(rng, [2, 3, 4]);
    const y = upsampleNearest2x64(x);
    expect(y.shape).toEqual([2, 6, 8]);
    for (let c = 0; c < 2; c++) for (let i = 0; i < 6; i++) for (let j = 0; j < 8; j++) expect(y.data[(c * 6 + i) * 8 + j]).toBe(x.data[(c * 3 + Math.floor(i / 2)) * 4 + Math.floor(j / 2)]);
  });

  it('unpatchify(patchify(x)) is the identity for both channel orders', () => {
    const x = randn64(rng, [5, 4, 6]);
    for (const order of ['cpq', 'pqc'] as const) {
      const t = patchify64(x, 2, order);
      expect(t.shape).toEqual([6, 20]);
      expectClose(unpatchify64(t, 2, 3, 5, 2, order), x, 0);
    }
  });

  it("unpatchify64 'pqc' is reshape [h,w,p,q,c] + einsum nhwpqc->nchpwq", () => {
    const h = 2;
    const w = 3;
    const c = 4;
    const tok = randn64(rng, [h * w, 4 * c]);
    const ref = permute(tok.data, [h, w, 2, 2, c], [4, 0, 2, 1, 3]); // c h p w q
    expectClose(unpatchify64(tok, h, w, c, 2, 'pqc').data, ref.data, 0);
  });

  it("patchify64 'cpq' tokens times the flattened conv weight equal the stride-2 conv", () => {
    const x = randn64(rng, [3, 4, 6]);
    const w = randn64(rng, [5, 3, 2, 2]);
    const b = randn64(rng, [5]);
    const viaLinear = linear64(patchify64(x, 2, 'cpq'), reshape64(w, [5, 12]), b); // [6, 5]
    const conv = conv2d64(x, w, b, { stride: 2 }); // [5, 2, 3]
    expectClose(viaLinear, transpose2d64(reshape64(conv, [5, 6])), 1e-12);
  });
});

describe('embeddings', () => {
  it('timestepEmbedding64: cos first, frequencies exp(-ln(1e4) i/128)', () => {
    const z = timestepEmbedding64(0);
    expect(z.shape).toEqual([256]);
    for (let i = 0; i < 128; i++) {
      expect(z.data[i]).toBe(1);
      expect(z.data[128 + i]).toBe(0);
    }
    const t = 537.25;
    const e = timestepEmbedding64(t);
    expect(e.data[0]).toBeCloseTo(Math.cos(t), 12);
    expect(e.data[128]).toBeCloseTo(Math.sin(t), 12);
    expect(e.data[64]).toBeCloseTo(Math.cos(t / 100), 12); // 10000^(-64/128) = 1/100
    expect(e.data[128 + 64]).toBeCloseTo(Math.sin(t / 100), 12);
  });

  it('posEmbed2dTable64: first half varies only along columns, second half only along rows', () => {
    const dim = 8;
    const m = 5;
    const base = 2;
    const t = posEmbed2dTable64(dim, m, base);
    expect(t.shape).toEqual([25, 8]);
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < m; c++) {
        for (let j = 0; j < dim / 2; j++) {
          expect(t.data[(r * m + c) * dim + j]).toBe(t.data[(0 * m + c) * dim + j]);
          expect(t.data[(r * m + c) * dim + dim / 2 + j]).toBe(t.data[(r * m + 0) * dim + dim / 2 + j]);
        }
      }
    }
    // spot value: column 3 -> coordinate 3/(5/2) = 1.2; j=1 -> w = 10000^(-1/2) = 0.01
    const o = (0 * m + 3) * dim;
    expect(t.data[o + 0]).toBeCloseTo(Math.sin(1.2), 14);
    expect(t.data[o + 1]).toBeCloseTo(Math.sin(0.012), 14);
    expect(t.data[o + 2]).toBeCloseTo(Math.cos(1.2), 14);
    expect(t.data[o + 3]).toBeCloseTo(Math.cos(0.012), 14);
    // row 4 -> coordinate 1.6 in the second half
    const o2 = (4 * m + 0) * dim;
    expect(t.data[o2 + 4]).toBeCloseTo(Math.sin(1.6), 14);
    expect(t.data[o2 + 6]).toBeCloseTo(Math.cos(1.6), 14);
  });

  it('cropPosEmbed64 takes the centred window top=(M-h)//2, left=(M-w)//2', () => {
    const m = 7;
    const table: Tensor64 = { shape: [1, m * m, 2], data: new Float64Array(m * m * 2) };
    for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) { table.data[(r * m + c) * 2] = r; table.data[(r * m + c) * 2 + 1] = c; }
    const crop = cropPosEmbed64(table, m, 2, 4); // top 2, left 1
    expect(crop.shape).toEqual([8, 2]);
    expect(Array.from(crop.data)).toEqual([2, 1, 2, 2, 2, 3, 2, 4, 3, 1, 3, 2, 3, 3, 3, 4]);
    expect(() => cropPosEmbed64(table, m, 8, 2)).toThrow(/exceeds pos_embed_max_size/);
  });

  it('embedding64 gathers rows and rejects out-of-range ids', () => {
    const table = randn64(rng, [4, 3]);
    const e = embedding64(table, [2, 0, 2]);
    expectClose(e.data.subarray(0, 3), table.data.subarray(6, 9), 0);
    expectClose(e.data.subarray(3, 6), table.data.subarray(0, 3), 0);
    expect(() => embedding64(table, [4])).toThrow(/outside vocabulary/);
  });
});
