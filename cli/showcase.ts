// The kernel showcase behind `parallax demo`: each entry runs an op on random data, times it (median of a few
// runs, synchronised) and checks it against the op's float64 reference.

import type { DType } from '../engine/dtype.js';
import { roundToF16 } from '../engine/dtype.js';
import type { Device } from '../engine/gpu/device.js';
import { attention } from '../engine/ops/attention.js';
import { attentionRef } from '../engine/ops/attention.ref.js';
import { elementwise } from '../engine/ops/elementwise.js';
import { elementwiseRef } from '../engine/ops/elementwise.ref.js';
import { linear } from '../engine/ops/linear.js';
import { linearRef } from '../engine/ops/linear.ref.js';
import { layerNorm } from '../engine/ops/norm.js';
import { layerNormRef } from '../engine/ops/norm.ref.js';
import { Tensor } from '../engine/tensor.js';

export interface ShowcaseRow {
  name: string;
  ms: number;
  rate: string;
  err: number;
  ok: boolean;
}

function randn(n: number, seed: number): Float64Array {
  let s = seed;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s + 0.5) / 4294967296;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const v = (s + 0.5) / 4294967296;
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

async function timeIt(device: Device, fn: () => Tensor, reps = 5): Promise<{ ms: number; out: Tensor }> {
  let out = fn();
  await device.sync();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    out.dispose();
    const t0 = performance.now();
    out = fn();
    await device.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, out };
}

function relErr(got: Float32Array, want: Float64Array): number {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]!));
    const e = Math.abs(got[i]! - want[i]!);
    maxErr = Number.isNaN(e) ? Infinity : Math.max(maxErr, e);
  }
  return maxErr / (maxRef || 1);
}

export async function showcase(device: Device, dtype: DType): Promise<ShowcaseRow[]> {
  const rows: ShowcaseRow[] = [];
  const stored = (x: Float64Array) => (dtype === 'f16' ? x.map(roundToF16) : x.map(Math.fround));
  const limit = dtype === 'f16' ? 2e-2 : 1e-5;

  // adaLN modulation on one frame of Vchitect-2B tokens: [1629, 1536].
  {
    const rowsN = 1629, d = 1536;
    const x = stored(randn(rowsN * d, 1)), sc = stored(randn(d, 2)), sh = stored(randn(d, 3));
    const tx = Tensor.from(device, x, [rowsN, d], dtype), ts = Tensor.from(device, sc, [d], dtype), th = Tensor.from(device, sh, [d], dtype);
    const { ms, out } = await timeIt(device, () => elementwise('modulate', [tx, ts, th]));
    const err = relErr(await out.read(), elementwiseRef('modulate', [x, sc, sh]));
    const bytes = (3 * rowsN * d) * (dtype === 'f16' ? 2 : 4);
    rows.push({ name: `modulate x*(1+scale)+shift [${rowsN}x${d}]`, ms, rate: `${(bytes / ms / 1e6).toFixed(2)} GB/s`, err, ok: err < limit });
    [tx, ts, th, out].forEach((t) => t.dispose());
  }

  // Attention projection D -> D + bias on 128 tokens (Vchitect-2B width).
  {
    const M = 128, K = 1536, N = 1536;
    const x = stored(randn(M * K, 4)), w = stored(randn(N * K, 5).map((v) => v * 0.03)), b = stored(randn(N, 6));
    const tx = Tensor.from(device, x, [M, K], dtype), tw = Tensor.from(device, w, [N, K], dtype), tb = Tensor.from(device, b, [N], dtype);
    const { ms, out } = await timeIt(device, () => linear(tx, tw, tb));
    const err = relErr(await out.read(), linearRef({ x, w, bias: b, M, K, N }));
    rows.push({ name: `linear x W^T + b [${M}x${K}]x[${N}x${K}]`, ms, rate: `${((2 * M * K * N) / ms / 1e6).toFixed(2)} GFLOP/s`, err, ok: err < limit * 10 });
    [tx, tw, tb, out].forEach((t) => t.dispose());
  }

  // Spatial attention, online softmax: 512 tokens, 4 heads x 64.
  {
    const S = 512, H = 4, hd = 64, D = H * hd;
    const q = stored(randn(S * D, 7)), k = stored(randn(S * D, 8)), v = stored(randn(S * D, 9));
    const t = [q, k, v].map((a) => Tensor.from(device, a, [1, S, D], dtype));
    const { ms, out } = await timeIt(device, () => attention(t[0]!, t[1]!, t[2]!, { heads: H }));
    const view = (data: Float64Array) => ({ data, batch: 1, seq: S, batchStride: S * D, seqStride: D });
    const err = relErr(await out.read(), attentionRef(view(q), view(k), view(v), { heads: H, headDim: hd }));
    rows.push({ name: `attention softmax(QK^T/8)V [${S} tokens, ${H}x${hd}]`, ms, rate: `${((4 * S * S * D) / ms / 1e6).toFixed(2)} GFLOP/s`, err, ok: err < limit * 10 });
    [...t, out].forEach((x) => x.dispose());
  }

  // LayerNorm fused with adaLN modulation on one frame of tokens.
  {
    const R = 1629, D = 1536;
    const x = stored(randn(R * D, 10)), sc = stored(randn(D, 11)), sh = stored(randn(D, 12));
    const tx = Tensor.from(device, x, [R, D], dtype), ts = Tensor.from(device, sc, [D], dtype), th = Tensor.from(device, sh, [D], dtype);
    const { ms, out } = await timeIt(device, () => layerNorm(tx, { eps: 1e-6, modulation: { scale: ts, shift: th } }));
    const err = relErr(await out.read(), layerNormRef(x, D, 1e-6, undefined, undefined, { scale: sc, shift: sh, items: 1, k: D }));
    const bytes = 2 * R * D * (dtype === 'f16' ? 2 : 4);
    rows.push({ name: `layerNorm + adaLN [${R}x${D}]`, ms, rate: `${(bytes / ms / 1e6).toFixed(2)} GB/s`, err, ok: err < limit * 10 });
    [tx, ts, th, out].forEach((t) => t.dispose());
  }
  return rows;
}
