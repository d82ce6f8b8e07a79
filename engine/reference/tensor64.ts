// Float64 CPU tensor and the primitive ops of the reference models (ground truth for GPU kernels).
// Every op is a plain loop over row-major Float64Array data; shapes are checked and errors say what was expected.
// Conventions: "rows" ops act on the last axis; image ops take one image [C, H, W] (no batch axis).

export interface Tensor64 {
  shape: number[];
  data: Float64Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor64(shape: readonly number[], data?: Float64Array | readonly number[]): Tensor64 {
  const n = numel(shape);
  const buf = data === undefined ? new Float64Array(n) : Float64Array.from(data);
  if (buf.length !== n) throw new Error(`tensor64: shape [${shape.join(',')}] needs ${n} values, got ${buf.length}`);
  return { shape: [...shape], data: buf };
}

export function zeros64(shape: readonly number[]): Tensor64 {
  return tensor64(shape);
}

/** Same data (shared, not copied) under a new shape with the same element count. */
export function reshape64(t: Tensor64, shape: readonly number[]): Tensor64 {
  if (numel(shape) !== t.data.length) {
    throw new Error(`reshape64: cannot view [${t.shape.join(',')}] as [${shape.join(',')}]`);
  }
  return { shape: [...shape], data: t.data };
}

export function clone64(t: Tensor64): Tensor64 {
  return { shape: [...t.shape], data: new Float64Array(t.data) };
}

/** Sub-tensor t[i] along the first axis, sharing memory. */
export function index0(t: Tensor64, i: number): Tensor64 {
  const inner = t.shape.slice(1);
  const n = numel(inner);
  if (i < 0 || i >= t.shape[0]) throw new Error(`index0: index ${i} out of range for axis of size ${t.shape[0]}`);
  return { shape: inner, data: t.data.subarray(i * n, (i + 1) * n) };
}

/** Stack equal-shaped tensors along a new first axis. */
export function stack64(ts: readonly Tensor64[]): Tensor64 {
  if (ts.length === 0) throw new Error('stack64: nothing to stack');
  const inner = ts[0].shape;
  const n = numel(inner);
  const out = new Float64Array(ts.length * n);
  ts.forEach((t, i) => {
    assertShape(t, inner, `stack64 item ${i}`);
    out.set(t.data, i * n);
  });
  return { shape: [ts.length, ...inner], data: out };
}

/** Concatenate 2-D tensors [Ri, C] along rows. */
export function concatRows64(ts: readonly Tensor64[]): Tensor64 {
  const cols = ts[0].shape[ts[0].shape.length - 1];
  let rows = 0;
  for (const t of ts) {
    if (t.shape.length !== 2 || t.shape[1] !== cols) {
      throw new Error(`concatRows64: expected [*, ${cols}], got [${t.shape.join(',')}]`);
    }
    rows += t.shape[0];
  }
  const out = new Float64Array(rows * cols);
  let off = 0;
  for (const t of ts) {
    out.set(t.data, off);
    off += t.data.length;
  }
  return { shape: [rows, cols], data: out };
}

/** Rows [start, end) of a 2-D tensor (copy). */
export function sliceRows64(t: Tensor64, start: number, end: number): Tensor64 {
  const cols = t.shape[1];
  return { shape: [end - start, cols], data: t.data.slice(start * cols, end * cols) };
}

/** Columns [start, end) of a 2-D tensor (copy); also used to split chunked projections. */
export function sliceCols64(t: Tensor64, start: number, end: number): Tensor64 {
  const [rows, cols] = t.shape;
  const w = end - start;
  const out = new Float64Array(rows * w);
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * cols + start, r * cols + end), r * w);
  return { shape: [rows, w], data: out };
}

/** Split a vector [n*k] into k equal chunks (torch.chunk on the last axis of a 1-D tensor). */
export function chunk64(v: Tensor64, k: number): Tensor64[] {
  const n = v.data.length;
  if (v.shape.length !== 1 || n % k !== 0) throw new Error(`chunk64: cannot split [${v.shape.join(',')}] into ${k}`);
  const m = n / k;
  return Array.from({ length: k }, (_, i) => ({ shape: [m], data: v.data.slice(i * m, (i + 1) * m) }));
}

export function assertShape(t: Tensor64, shape: readonly number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what}: expected shape [${shape.join(',')}], got [${t.shape.join(',')}]`);
  }
}

// ---------- elementwise ----------

export function map64(t: Tensor64, f: (x: number) => number): Tensor64 {
  const out = new Float64Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = f(t.data[i]);
  return { shape: [...t.shape], data: out };
}

export function add64(a: Tensor64, b: Tensor64): Tensor64 {
  assertShape(b, a.shape, 'add64');
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] + b.data[i];
  return { shape: [...a.shape], data: out };
}

export function mul64(a: Tensor64, b: Tensor64): Tensor64 {
  assertShape(b, a.shape, 'mul64');
  const out = new Float64Array(a.data.length);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * b.data[i];
  return { shape: [...a.shape], data: out };
}

export function scale64(a: Tensor64, s: number): Tensor64 {
  return map64(a, (x) => x * s);
}

/** x [..., C] times a per-channel vector v [C] (broadcast over rows). */
export function mulRows64(x: Tensor64, v: Tensor64): Tensor64 {
  const c = v.data.length;
  if (x.shape[x.shape.length - 1] !== c) throw new Error(`mulRows64: last axis ${x.shape.at(-1)} != ${c}`);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] * v.data[i % c];
  return { shape: [...x.shape], data: out };
}

/** x [..., C] plus a per-channel vector v [C] (broadcast over rows). */
export function addRows64(x: Tensor64, v: Tensor64): Tensor64 {
  const c = v.data.length;
  if (x.shape[x.shape.length - 1] !== c) throw new Error(`addRows64: last axis ${x.shape.at(-1)} != ${c}`);
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = x.data[i] + v.data[i % c];
  return { shape: [...x.shape], data: out };
}

export const GELU_TANH_C = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation (torch approximate='tanh', HF gelu_new / gelu_pytorch_tanh). */
export function geluTanhScalar(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_TANH_C * (x + 0.044715 * x * x * x)));
}

/** Error function in float64: Maclaurin series below 2.5, erfc continued fraction above (~1e-13 absolute). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    // Maclaurin series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    const x2 = ax * ax;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz), good for x >= 2.5
    const tiny = 1e-300;
    let f = ax;
    let c = ax;
    let d = 0;
    for (let n = 1; n < 300; n++) {
      const an = n / 2;
      d = ax + an * d;
      d = d === 0 ? tiny : d;
      c = ax + an / c;
      c = c === 0 ? tiny : c;
      d = 1 / d;
      const delta = c * d;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    const erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
    r = 1 - erfc;
  }
  return x < 0 ? -r : r;
}

/** GELU exact: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (torch default, HF "gelu"). */
export function geluErfScalar(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** quick_gelu (OpenAI CLIP): x * sigmoid(1.702 x). */
export function quickGeluScalar(x: number): number {
  return x / (1 + Math.exp(-1.702 * x));
}

export function siluScalar(x: number): number {
  return x / (1 + Math.exp(-x));
}

export const geluTanh64 = (t: Tensor64): Tensor64 => map64(t, geluTanhScalar);
export const geluErf64 = (t: Tensor64): Tensor64 => map64(t, geluErfScalar);
export const quickGelu64 = (t: Tensor64): Tensor64 => map64(t, quickGeluScalar);
export const silu64 = (t: Tensor64): Tensor64 => map64(t, siluScalar);
export const relu64 = (t: Tensor64): Tensor64 => map64(t, (x) => (x > 0 ? x : 0));

// ---------- linear algebra ----------

/** a [M, K] @ b [K, N] -> [M, N]. */
export function matmul64(a: Tensor64, b: Tensor64): Tensor64 {
  const [m, k] = a.shape;
  const [k2, n] = b.shape;
  if (a.shape.length !== 2 || b.shape.length !== 2 || k !== k2) {
    throw new Error(`matmul64: cannot multiply [${a.shape.join(',')}] by [${b.shape.join(',')}]`);
  }
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const av = a.data[i * k + p];
      if (av === 0) continue;
      const bo = p * n;
      const oo = i * n;
      for (let j = 0; j < n; j++) out[oo + j] += av * b.data[bo + j];
    }
  }
  return { shape: [m, n], data: out };
}

export function transpose2d64(a: Tensor64): Tensor64 {
  const [m, n] = a.shape;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a.data[i * n + j];
  return { shape: [n, m], data: out };
}

/** PyTorch nn.Linear: x [..., in] -> [..., out], y = x W^T + b with W [out, in], b [out] optional. */
export function linear64(x: Tensor64, weight: Tensor64, bias?: Tensor64): Tensor64 {
  const [outF, inF] = weight.shape;
  if (weight.shape.length !== 2) throw new Error(`linear64: weight must be [out,in], got [${weight.shape.join(',')}]`);
  if (x.shape[x.shape.length - 1] !== inF) {
    throw new Error(`linear64: input last axis ${x.shape.at(-1)} != weight in-features ${inF} (weight [${outF},${inF}])`);
  }
  if (bias && bias.data.length !== outF) throw new Error(`linear64: bias has ${bias.data.length} values, expected ${outF}`);
  const rows = x.data.length / inF;
  const out = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias.data[o] : 0;
      const xo = r * inF;
      const wo = o * inF;
      for (let i = 0; i < inF; i++) s += x.data[xo + i] * weight.data[wo + i];
      out[r * outF + o] = s;
    }
  }
  return { shape: [...x.shape.slice(0, -1), outF], data: out };
}

// ---------- normalisation ----------

/** LayerNorm over the last axis (biased variance, like torch); weight/bias optional (no affine if absent). */
export function layerNorm64(x: Tensor64, eps: number, weight?: Tensor64, bias?: Tensor64): Tensor64 {
  const c = x.shape[x.shape.length - 1];
  const rows = x.data.length / c;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let mean = 0;
    for (let i = 0; i < c; i++) mean += x.data[o + i];
    mean /= c;
    let v = 0;
    for (let i = 0; i < c; i++) v += (x.data[o + i] - mean) ** 2;
    v /= c;
    const inv = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < c; i++) {
      let y = (x.data[o + i] - mean) * inv;
      if (weight) y *= weight.data[i];
      if (bias) y += bias.data[i];
      out[o + i] = y;
    }
  }
  return { shape: [...x.shape], data: out };
}

/** T5-style RMSNorm over the last axis: x * rsqrt(mean(x^2) + eps) * w (no mean subtraction, no bias). */
export function rmsNorm64(x: Tensor64, weight: Tensor64, eps: number): Tensor64 {
  const c = x.shape[x.shape.length - 1];
  const rows = x.data.length / c;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let ms = 0;
    for (let i = 0; i < c; i++) ms += x.data[o + i] ** 2;
    ms /= c;
    const inv = 1 / Math.sqrt(ms + eps);
    for (let i = 0; i < c; i++) out[o + i] = x.data[o + i] * inv * weight.data[i];
  }
  return { shape: [...x.shape], data: out };
}

/** GroupNorm on one image x [C, ...spatial]: stats over (C/groups channels x spatial); affine per channel. */
export function groupNorm64(x: Tensor64, groups: number, eps: number, weight?: Tensor64, bias?: Tensor64): Tensor64 {
  const c = x.shape[0];
  if (c % groups !== 0) throw new Error(`groupNorm64: ${c} channels not divisible by ${groups} groups`);
  const per = x.data.length / c;
  const cg = c / groups;
  const out = new Float64Array(x.data.length);
  for (let g = 0; g < groups; g++) {
    const start = g * cg * per;
    const n = cg * per;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x.data[start + i];
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x.data[start + i] - mean) ** 2;
    v /= n;
    const inv = 1 / Math.sqrt(v + eps);
    for (let ch = g * cg; ch < (g + 1) * cg; ch++) {
      const w = weight ? weight.data[ch] : 1;
      const b = bias ? bias.data[ch] : 0;
      for (let i = 0; i < per; i++) out[ch * per + i] = (x.data[ch * per + i] - mean) * inv * w + b;
    }
  }
  return { shape: [...x.shape], data: out };
}

// ---------- attention ----------

/** Softmax over the last axis (max-subtracted). */
export function softmax64(x: Tensor64): Tensor64 {
  const c = x.shape[x.shape.length - 1];
  const rows = x.data.length / c;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    let m = -Infinity;
    for (let i = 0; i < c; i++) m = Math.max(m, x.data[o + i]);
    let s = 0;
    for (let i = 0; i < c; i++) {
      const e = Math.exp(x.data[o + i] - m);
      out[o + i] = e;
      s += e;
    }
    for (let i = 0; i < c; i++) out[o + i] /= s;
  }
  return { shape: [...x.shape], data: out };
}

export interface SdpaOptions {
  /** Logit scale; default 1/sqrt(headDim). T5 passes 1. */
  scale?: number;
  /** Additive logit bias [Sq, Sk] shared by all heads, or [heads, Sq, Sk] per head (T5 position bias, masks). */
  bias?: Tensor64;
  /** Causal mask: key j is masked for query i when j > i (CLIP text). */
  causal?: boolean;
}

/**
 * Multi-head scaled dot-product attention on token-major inputs.
 * q [Sq, H*hd], k [Sk, H*hd], v [Sk, H*dv] -> [Sq, H*dv]; head h uses channels h*hd..(h+1)*hd (head-major).
 */
export function sdpa64(q: Tensor64, k: Tensor64, v: Tensor64, heads: number, opts: SdpaOptions = {}): Tensor64 {
  const [sq, qc] = q.shape;
  const [sk, kc] = k.shape;
  const [sv, vc] = v.shape;
  if (qc !== kc || sk !== sv || qc % heads !== 0 || vc % heads !== 0) {
    throw new Error(`sdpa64: bad shapes q [${q.shape}] k [${k.shape}] v [${v.shape}] for ${heads} heads`);
  }
  const hd = qc / heads;
  const dv = vc / heads;
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  const bias = opts.bias;
  const perHeadBias = bias !== undefined && bias.shape.length === 3;
  if (bias) {
    const want = perHeadBias ? [heads, sq, sk] : [sq, sk];
    assertShape(bias, want, 'sdpa64 bias');
  }
  const out = new Float64Array(sq * vc);
  const logits = new Float64Array(sk);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < sq; i++) {
      let m = -Infinity;
      for (let j = 0; j < sk; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q.data[i * qc + h * hd + d] * k.data[j * kc + h * hd + d];
        s *= scale;
        if (bias) s += bias.data[(perHeadBias ? h * sq * sk : 0) + i * sk + j];
        if (opts.causal && j > i) s = -Infinity;
        logits[j] = s;
        if (s > m) m = s;
      }
      let z = 0;
      for (let j = 0; j < sk; j++) {
        logits[j] = Math.exp(logits[j] - m);
        z += logits[j];
      }
      for (let j = 0; j < sk; j++) {
        const p = logits[j] / z;
        for (let d = 0; d < dv; d++) out[i * vc + h * dv + d] += p * v.data[j * vc + h * dv + d];
      }
    }
  }
  return { shape: [sq, vc], data: out };
}

/**
 * Rotary embedding with interleaved pairs (x[2j], x[2j+1]) as complex numbers, on x [S, H*hd].
 * Row s is rotated by angle positions[s] * theta^(-2j/hd), identical for every head.
 */
export function ropeInterleaved64(x: Tensor64, heads: number, positions: readonly number[], theta: number): Tensor64 {
  const [s, c] = x.shape;
  if (positions.length !== s) throw new Error(`ropeInterleaved64: ${positions.length} positions for ${s} rows`);
  const hd = c / heads;
  if (hd % 2 !== 0) throw new Error(`ropeInterleaved64: head dim ${hd} must be even`);
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < s; r++) {
    for (let j = 0; j < hd / 2; j++) {
      const angle = positions[r] * Math.pow(theta, (-2 * j) / hd);
      const cs = Math.cos(angle);
      const sn = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const i0 = r * c + h * hd + 2 * j;
        const a = x.data[i0];
        const b = x.data[i0 + 1];
        out[i0] = a * cs - b * sn;
        out[i0 + 1] = a * sn + b * cs;
      }
    }
  }
  return { shape: [s, c], data: out };
}

// ---------- images ----------

export type Padding2d = number | [top: number, bottom: number, left: number, right: number];

/** 2-D convolution on one image x [Cin, H, W] with w [Cout, Cin, kh, kw], optional bias, zero padding. */
export function conv2d64(
  x: Tensor64,
  weight: Tensor64,
  bias: Tensor64 | undefined,
  opts: { stride?: number; padding?: Padding2d } = {},
): Tensor64 {
  const [cin, h, w] = x.shape;
  const [cout, cin2, kh, kw] = weight.shape;
  if (x.shape.length !== 3 || weight.shape.length !== 4 || cin !== cin2) {
    throw new Error(`conv2d64: input [${x.shape}] (want [Cin,H,W]) does not match weight [${weight.shape}] (want [Cout,Cin,kh,kw])`);
  }
  const stride = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const [pt, pb, pl, pr] = typeof p === 'number' ? [p, p, p, p] : p;
  const ho = Math.floor((h + pt + pb - kh) / stride) + 1;
  const wo = Math.floor((w + pl + pr - kw) / stride) + 1;
  const out = new Float64Array(cout * ho * wo);
  for (let co = 0; co < cout; co++) {
    const b = bias ? bias.data[co] : 0;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let s = b;
        for (let ci = 0; ci < cin; ci++) {
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * stride + ky - pt;
            if (iy < 0 || iy >= h) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * stride + kx - pl;
              if (ix < 0 || ix >= w) continue;
              s += x.data[(ci * h + iy) * w + ix] * weight.data[((co * cin + ci) * kh + ky) * kw + kx];
            }
          }
        }
        out[(co * ho + oy) * wo + ox] = s;
      }
    }
  }
  return { shape: [cout, ho, wo], data: out };
}

/** Nearest-neighbour x2 upsampling of one image [C, H, W] -> [C, 2H, 2W]. */
export function upsampleNearest2x64(x: Tensor64): Tensor64 {
  const [c, h, w] = x.shape;
  const out = new Float64Array(c * 4 * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < 2 * h; y++) {
      for (let xx = 0; xx < 2 * w; xx++) {
        out[(ch * 2 * h + y) * 2 * w + xx] = x.data[(ch * h + (y >> 1)) * w + (xx >> 1)];
      }
    }
  }
  return { shape: [c, 2 * h, 2 * w], data: out };
}

/** Channel order inside one patch token: 'cpq' = c*P*P + p*P + q (conv weight flatten), 'pqc' = (p*P + q)*C + c (proj_out). */
export type PatchOrder = 'cpq' | 'pqc';

function patchChannel(order: PatchOrder, c: number, p: number, q: number, channels: number, patch: number): number {
  return order === 'cpq' ? (c * patch + p) * patch + q : (p * patch + q) * channels + c;
}

/** Image [C, H, W] -> tokens [h*w, C*P*P], token l = row*w + col, patch pixel (p, q) = (row*P+p, col*P+q). */
export function patchify64(x: Tensor64, patch: number, order: PatchOrder): Tensor64 {
  const [c, hh, ww] = x.shape;
  if (hh % patch !== 0 || ww % patch !== 0) throw new Error(`patchify64: [${x.shape}] not divisible by patch ${patch}`);
  const h = hh / patch;
  const w = ww / patch;
  const k = c * patch * patch;
  const out = new Float64Array(h * w * k);
  for (let r = 0; r < h; r++)
    for (let col = 0; col < w; col++)
      for (let ch = 0; ch < c; ch++)
        for (let p = 0; p < patch; p++)
          for (let q = 0; q < patch; q++) {
            out[(r * w + col) * k + patchChannel(order, ch, p, q, c, patch)] =
              x.data[(ch * hh + r * patch + p) * ww + col * patch + q];
          }
  return { shape: [h * w, k], data: out };
}

/** Inverse of patchify64: tokens [h*w, C*P*P] -> image [C, h*P, w*P] (Vchitect unpatchify uses order 'pqc'). */
export function unpatchify64(tokens: Tensor64, h: number, w: number, channels: number, patch: number, order: PatchOrder): Tensor64 {
  const k = channels * patch * patch;
  assertShape(tokens, [h * w, k], 'unpatchify64 tokens');
  const hh = h * patch;
  const ww = w * patch;
  const out = new Float64Array(channels * hh * ww);
  for (let r = 0; r < h; r++)
    for (let col = 0; col < w; col++)
      for (let ch = 0; ch < channels; ch++)
        for (let p = 0; p < patch; p++)
          for (let q = 0; q < patch; q++) {
            out[(ch * hh + r * patch + p) * ww + col * patch + q] =
              tokens.data[(r * w + col) * k + patchChannel(order, ch, p, q, channels, patch)];
          }
  return { shape: [channels, hh, ww], data: out };
}

// ---------- embeddings ----------

/**
 * diffusers Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=0): e_i = exp(-ln(maxPeriod) * i / (dim/2)),
 * output [cos(t*e), sin(t*e)] (cos first), shape [dim].
 */
export function timestepEmbedding64(t: number, dim = 256, maxPeriod = 10000): Tensor64 {
  const half = dim / 2;
  const out = new Float64Array(dim);
  for (let i = 0; i < half; i++) {
    const e = Math.exp((-Math.log(maxPeriod) * i) / half);
    out[i] = Math.cos(t * e);
    out[half + i] = Math.sin(t * e);
  }
  return { shape: [dim], data: out };
}

/**
 * 2-D sin-cos table [M*M, D] (diffusers get_2d_sincos_pos_embed, row-major over (row, col)).
 * grid coordinate = index / (M / baseSize) / interpolationScale; channels [0, D/2) encode the COLUMN,
 * [D/2, D) the row; each half = [sin(pos*w_j), cos(pos*w_j)], w_j = 10000^(-j/(D/4)), j < D/4.
 */
export function posEmbed2dTable64(dim: number, gridSize: number, baseSize: number, interpolationScale = 1): Tensor64 {
  if (dim % 4 !== 0) throw new Error(`posEmbed2dTable64: dim ${dim} must be divisible by 4`);
  const quarter = dim / 4;
  const out = new Float64Array(gridSize * gridSize * dim);
  const coord = (i: number) => i / (gridSize / baseSize) / interpolationScale;
  for (let r = 0; r < gridSize; r++) {
    for (let c = 0; c < gridSize; c++) {
      const o = (r * gridSize + c) * dim;
      for (let j = 0; j < quarter; j++) {
        const wj = 1 / Math.pow(10000, j / quarter);
        out[o + j] = Math.sin(coord(c) * wj);
        out[o + quarter + j] = Math.cos(coord(c) * wj);
        out[o + 2 * quarter + j] = Math.sin(coord(r) * wj);
        out[o + 3 * quarter + j] = Math.cos(coord(r) * wj);
      }
    }
  }
  return { shape: [gridSize * gridSize, dim], data: out };
}

/** Centre crop of a [M*M, D] (or [1, M*M, D]) table to h x w: top=(M-h)//2, left=(M-w)//2 -> [h*w, D]. */
export function cropPosEmbed64(table: Tensor64, maxSize: number, h: number, w: number): Tensor64 {
  const dim = table.shape[table.shape.length - 1];
  if (table.data.length !== maxSize * maxSize * dim) {
    throw new Error(`cropPosEmbed64: table [${table.shape}] is not [${maxSize * maxSize}, D] for pos_embed_max_size ${maxSize}`);
  }
  if (h > maxSize || w > maxSize) {
    throw new Error(`cropPosEmbed64: patch grid ${h}x${w} exceeds pos_embed_max_size ${maxSize}; use a smaller resolution`);
  }
  const top = Math.floor((maxSize - h) / 2);
  const left = Math.floor((maxSize - w) / 2);
  const out = new Float64Array(h * w * dim);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const src = ((top + r) * maxSize + left + c) * dim;
      out.set(table.data.subarray(src, src + dim), (r * w + c) * dim);
    }
  }
  return { shape: [h * w, dim], data: out };
}

/** Row lookup: ids -> [n, D] from an embedding table [V, D]. */
export function embedding64(table: Tensor64, ids: readonly number[]): Tensor64 {
  const [v, d] = table.shape;
  const out = new Float64Array(ids.length * d);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= v) throw new Error(`embedding64: token id ${id} outside vocabulary of ${v}`);
    out.set(table.data.subarray(id * d, (id + 1) * d), i * d);
  });
  return { shape: [ids.length, d], data: out };
}

/** Max |a-b| and max |b|, for tolerance checks. */
export function maxAbsDiff64(a: Tensor64, b: Tensor64): number {
  assertShape(b, a.shape, 'maxAbsDiff64');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}
