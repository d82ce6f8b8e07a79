// Attention backward (engine/ops/attention-backward.ts) against the float64 reference attentionBackwardRef: the
// forward runs on the GPU with its log-sum-exp output, then dQ, dK, dV from it, on the Vchitect layouts (spatial,
// temporal, cross against shared frame-0 keys, fused QKV with a fused dQKV output, unaligned), causal, bias, mask
// with a fully masked row, K/V shared across the batch; f32 and f16; gradients poisoned first; bit-identical reruns.
// Also the forward's log-sum-exp itself for every variant that writes it.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { attentionBackward, attentionBackwardVariants } from '../../../engine/ops/attention-backward.js';
import { attention, attentionVariants, seqView, sharedView, temporalView, type SeqView } from '../../../engine/ops/attention.js';
import { attentionBackwardRef, type RefView } from '../../../engine/ops/attention.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

type Layout = 'plain' | 'temporal' | 'cross' | 'sharedBatch1' | 'fused' | 'unaligned';

interface Case {
  name: string;
  layout: Layout;
  B: number;
  Sq: number;
  Sk: number;
  H: number;
  hd: number;
  causal?: boolean;
  bias?: 'key' | 'batch';
  mask?: 'shared' | 'batch';
  /** Mask every key of this query row (its gradients must be 0). */
  maskedRow?: number;
  scale?: number;
}

const dtypes = await testDTypes();
const device = await testDevice();

function refView(v: SeqView, data: Float64Array): RefView {
  // A view shared by the query batches (batchStride 0) is one sequence for the reference (its gradient is summed).
  const batch = v.batchStride === 0 ? 1 : v.batch;
  return { data, batch, seq: v.seq, batchStride: v.batchStride, seqStride: v.seqStride, offset: v.offset };
}

function gather(v: SeqView, data: ArrayLike<number>, width: number): Float64Array {
  const nb = v.batchStride === 0 ? 1 : v.batch;
  const out = new Float64Array(nb * v.seq * width);
  for (let b = 0; b < nb; b++) {
    for (let s = 0; s < v.seq; s++) {
      for (let c = 0; c < width; c++) out[(b * v.seq + s) * width + c] = data[(v.offset ?? 0) + b * v.batchStride + s * v.seqStride + c]!;
    }
  }
  return out;
}

interface Built {
  q: SeqView; k: SeqView; v: SeqView; out: SeqView; dO: SeqView;
  dq?: SeqView; dk?: SeqView; dv?: SeqView;
  qd: Float64Array; kd: Float64Array; vd: Float64Array; dOd: Float64Array;
  bias?: Float64Array; biasT?: Tensor; mask?: Float64Array; maskT?: Tensor;
  tensors: Tensor[];
}

function build(c: Case, dtype: DType, seed: number): Built {
  const D = c.H * c.hd;
  const up = (shape: number[], s: number) => upload(device, normal(shape.reduce((a, b) => a * b, 1), s), shape, dtype);
  const tensors: Tensor[] = [];
  const keep = <T extends { t: Tensor }>(x: T): T => (tensors.push(x.t), x);
  let b: Omit<Built, 'dO' | 'dOd' | 'tensors'>;
  if (c.layout === 'plain' || c.layout === 'sharedBatch1') {
    const kb = c.layout === 'sharedBatch1' ? 1 : c.B;
    const [a, k, v] = [keep(up([c.B, c.Sq, D], seed)), keep(up([kb, c.Sk, D], seed + 1)), keep(up([kb, c.Sk, D], seed + 2))];
    b = { q: seqView(a.t), k: seqView(k.t), v: seqView(v.t), out: seqView(Tensor.empty(device, [c.B, c.Sq, D], dtype)), qd: a.stored, kd: k.stored, vd: v.stored };
    // sharedBatch1 leaves the gradients to the wrapper's default allocation; the others get poisoned views.
    if (c.layout === 'plain') Object.assign(b, { dq: seqView(Tensor.empty(device, [c.B, c.Sq, D], dtype)), dk: seqView(Tensor.empty(device, [c.B, c.Sk, D], dtype)), dv: seqView(Tensor.empty(device, [c.B, c.Sk, D], dtype)) });
  } else if (c.layout === 'temporal') {
    // [F, S, D] tensors: B = S token positions, sequences over F = Sq = Sk frames; gradients into temporal views too.
    const [a, k, v] = [keep(up([c.Sq, c.B, D], seed)), keep(up([c.Sq, c.B, D], seed + 1)), keep(up([c.Sq, c.B, D], seed + 2))];
    const tv = () => temporalView(Tensor.empty(device, [c.Sq, c.B, D], dtype));
    b = {
      q: temporalView(a.t), k: temporalView(k.t), v: temporalView(v.t), out: tv(), dq: tv(), dk: tv(), dv: tv(),
      qd: a.stored, kd: k.stored, vd: v.stored,
    };
  } else if (c.layout === 'cross') {
    // Every query batch against sequence 1 of [2, Sk, D] keys (batch stride 0, non-zero offset).
    const [a, k, v] = [keep(up([c.B, c.Sq, D], seed)), keep(up([2, c.Sk, D], seed + 1)), keep(up([2, c.Sk, D], seed + 2))];
    b = {
      q: seqView(a.t), k: sharedView(k.t, c.B, 1), v: sharedView(v.t, c.B, 1), out: seqView(Tensor.empty(device, [c.B, c.Sq, D], dtype)),
      dq: seqView(Tensor.empty(device, [c.B, c.Sq, D], dtype)), dk: seqView(Tensor.empty(device, [1, c.Sk, D], dtype)), dv: sharedView(Tensor.empty(device, [1, c.Sk, D], dtype), c.B),
      qd: a.stored, kd: k.stored, vd: v.stored,
    };
  } else if (c.layout === 'fused') {
    // Fused [B, S, 3D] projection in, fused [B, S, 3D] dQKV out (dk and dv share one buffer in their pass).
    const a = keep(up([c.B, c.Sq, 3 * D], seed));
    const g = Tensor.empty(device, [c.B, c.Sq, 3 * D], dtype);
    b = {
      q: seqView(a.t, 0), k: seqView(a.t, D), v: seqView(a.t, 2 * D), out: seqView(Tensor.empty(device, [c.B, c.Sq, 2 * D], dtype), D),
      dq: seqView(g, 0), dk: seqView(g, D), dv: seqView(g, 2 * D), qd: a.stored, kd: a.stored, vd: a.stored,
    };
  } else {
    // Unaligned: head dim not a multiple of 4 and column offset 3 of a [B, S, D + 3] tensor (naive forward).
    const a = keep(up([c.B, c.Sq, D + 3], seed));
    const q = seqView(a.t, 3);
    const g = () => seqView(Tensor.empty(device, [c.B, c.Sq, D + 3], dtype), 3);
    b = { q, k: q, v: q, out: seqView(Tensor.empty(device, [c.B, c.Sq, D], dtype)), dq: g(), dk: g(), dv: g(), qd: a.stored, kd: a.stored, vd: a.stored };
  }
  const dOt = c.layout === 'temporal' ? keep(up([c.Sq, c.B, D], seed + 5)) : keep(up([c.B, c.Sq, D], seed + 5));
  const dO = c.layout === 'temporal' ? temporalView(dOt.t) : seqView(dOt.t);
  tensors.push(b.out.tensor);
  for (const g of [b.dq, b.dk, b.dv]) if (g && !tensors.includes(g.tensor)) tensors.push(g.tensor);

  let bias: Float64Array | undefined;
  let biasT: Tensor | undefined;
  if (c.bias) {
    bias = uniform(c.bias === 'key' ? c.Sk : c.B * c.Sk, seed + 3, -3, 3).map(Math.fround);
    if (c.Sk > 2) bias[1] = -Infinity; // one key hidden by the bias alone
    biasT = Tensor.from(device, bias, [bias.length], 'f32');
  }
  let mask: Float64Array | undefined;
  let maskT: Tensor | undefined;
  if (c.mask || c.maskedRow !== undefined) {
    const nb = c.mask === 'batch' ? c.B : 1;
    mask = uniform(nb * c.Sq * c.Sk, seed + 4, -2, 0).map(Math.fround);
    for (let i = 0; i < mask.length; i += 7) mask[i] = -Infinity;
    if (c.maskedRow !== undefined) {
      for (let bb = 0; bb < nb; bb++) for (let j = 0; j < c.Sk; j++) mask[(bb * c.Sq + c.maskedRow) * c.Sk + j] = -Infinity;
    }
    maskT = Tensor.from(device, mask, nb === 1 ? [c.Sq, c.Sk] : [nb, c.Sq, c.Sk], 'f32');
  }
  return { ...b, dO, dOd: dOt.stored, bias, biasT, mask, maskT, tensors };
}

/** Forward with L on the GPU (default variant choice), then the backward; returns the gradients as stored. */
async function runGpu(c: Case, x: Built, variant: string): Promise<{ dq: Float32Array; dk: Float32Array; dv: Float32Array; lse: Float32Array; grads: { dq: Tensor; dk: Tensor; dv: Tensor } }> {
  const common = { heads: c.H, headDim: c.hd, causal: c.causal, scale: c.scale, bias: x.biasT, mask: x.maskT };
  const lse = Tensor.empty(device, [x.q.batch, c.H, c.Sq]).poison();
  x.out.tensor.poison();
  attention(x.q, x.k, x.v, { ...common, out: x.out, lse });
  for (const g of [x.dq, x.dk, x.dv]) g?.tensor.poison();
  const grads = attentionBackward(x.q, x.k, x.v, x.dO, { ...common, out: x.out, lse, dq: x.dq, dk: x.dk, dv: x.dv, variant });
  for (const g of [grads.dq, grads.dk, grads.dv]) if (!x.tensors.includes(g)) x.tensors.push(g);
  x.tensors.push(lse);
  return { dq: await grads.dq.read(), dk: await grads.dk.read(), dv: await grads.dv.read(), lse: await lse.read(), grads };
}

const CASES: Case[] = [
  { name: 'spatial B2 Sq7 Sk19 H2 hd16', layout: 'plain', B: 2, Sq: 7, Sk: 19, H: 2, hd: 16 },
  { name: 'hd32 Sq18 Sk5', layout: 'plain', B: 1, Sq: 18, Sk: 5, H: 2, hd: 32 },
  { name: 'hd64 Sq3 Sk9', layout: 'plain', B: 1, Sq: 3, Sk: 9, H: 1, hd: 64 },
  { name: 'hd24 causal S21', layout: 'plain', B: 1, Sq: 21, Sk: 21, H: 2, hd: 24, causal: true },
  { name: 'temporal F5 S3 hd16 bias[B,Sk] mask[B,Sq,Sk] masked row', layout: 'temporal', B: 3, Sq: 5, Sk: 5, H: 2, hd: 16, bias: 'batch', mask: 'batch', maskedRow: 0 },
  { name: 'cross B3 Sq6 vs shared Sk17 hd16 bias[Sk]', layout: 'cross', B: 3, Sq: 6, Sk: 17, H: 2, hd: 16, bias: 'key' },
  { name: 'K/V batch 1 B2 Sq9 Sk17 hd8 mask[Sq,Sk] masked row', layout: 'sharedBatch1', B: 2, Sq: 9, Sk: 17, H: 1, hd: 8, mask: 'shared', maskedRow: 4 },
  { name: 'fused qkv -> fused dqkv S13 hd16 scale 0.3', layout: 'fused', B: 2, Sq: 13, Sk: 13, H: 2, hd: 16, scale: 0.3 },
  { name: 'unaligned hd6 offset 3 causal', layout: 'unaligned', B: 2, Sq: 7, Sk: 7, H: 2, hd: 6, causal: true },
  { name: 'causal Sq70 Sk67 hd8 (several blocks of 64 rows)', layout: 'plain', B: 1, Sq: 70, Sk: 67, H: 1, hd: 8, causal: true },
];

const variants = attentionBackwardVariants(device).map((v) => v.name);

describe('attention backward', () => {
  for (const variant of variants) for (const dtype of dtypes) {
    for (const [n, c] of CASES.entries()) {
      it(`${variant} ${dtype} ${c.name}`, async () => {
        const x = build(c, dtype, 300 + 23 * n);
        const got = await runGpu(c, x, variant);
        const D = c.H * c.hd;
        const want = attentionBackwardRef(refView(x.q, x.qd), refView(x.k, x.kd), refView(x.v, x.vd), gather(x.dO, x.dOd, D), {
          heads: c.H, headDim: c.hd, causal: c.causal, scale: c.scale, bias: x.bias, mask: x.mask,
        });
        const label = `${variant} ${dtype} ${c.name}`;
        const views = { dq: x.dq ?? seqView(got.grads.dq), dk: x.dk ?? seqView(got.grads.dk), dv: x.dv ?? seqView(got.grads.dv) };
        const t = tol(dtype);
        const dq = gather(views.dq, got.dq, D);
        expectClose(dq, want.dq, t, `${label} dq`);
        expectClose(gather(views.dk, got.dk, D), want.dk, t, `${label} dk`);
        expectClose(gather(views.dv, got.dv, D), want.dv, t, `${label} dv`);
        // Nothing outside the gradient views is written (the tensors were poisoned; views on one tensor together).
        for (const [name, data] of [['dq', got.dq], ['dk', got.dk], ['dv', got.dv]] as const) {
          const mine = views[name];
          const covered = new Uint8Array(data.length);
          for (const w of Object.values(views)) {
            if (w.tensor !== mine.tensor) continue;
            for (let b = 0; b < (w.batchStride === 0 ? 1 : w.batch); b++) {
              for (let s2 = 0; s2 < w.seq; s2++) covered.fill(1, (w.offset ?? 0) + b * w.batchStride + s2 * w.seqStride, (w.offset ?? 0) + b * w.batchStride + s2 * w.seqStride + D);
            }
          }
          for (let i = 0; i < data.length; i++) if (!covered[i] && !Number.isNaN(data[i]!)) expect.fail(`${label}: ${name} written outside its view at ${i}`);
        }
        if (c.maskedRow !== undefined) {
          for (let b = 0; b < c.B; b++) {
            const row = dq.subarray((b * c.Sq + c.maskedRow) * D, (b * c.Sq + c.maskedRow + 1) * D);
            expect(row.every((v) => v === 0), `${label}: fully masked row's dq must be 0`).toBe(true);
          }
        }
        for (const tt of [...x.tensors, x.biasT, x.maskT]) tt?.dispose();
      });
    }
  }

  for (const variant of variants) it(`${variant} is bit-identical run to run (shared K/V summed over the batch, mask, bias)`, async () => {
    const c: Case = { name: 'det', layout: 'cross', B: 4, Sq: 11, Sk: 18, H: 2, hd: 16, bias: 'batch', mask: 'shared', maskedRow: 3 };
    const x = build(c, 'f32', 77);
    const a = await runGpu(c, x, variant);
    const b = await runGpu(c, x, variant);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      expect(a[name].some(Number.isNaN), `${name} written`).toBe(false);
      expect(Buffer.from(b[name].buffer).equals(Buffer.from(a[name].buffer)), `${name} bit-identical`).toBe(true);
    }
    for (const tt of [...x.tensors, x.biasT, x.maskT]) tt?.dispose();
  });

  it('rejects a bad lse, mismatched gradient views and aliased outputs', () => {
    const t = Tensor.zeros(device, [2, 5, 32]);
    const o = Tensor.zeros(device, [2, 5, 32]);
    const lse = Tensor.zeros(device, [2, 2, 5]);
    expect(() => attentionBackward(t, t, t, t, { heads: 2, out: o, lse: Tensor.zeros(device, [2, 5]) })).toThrow(/lse must be f32 \[2, 2, 5\]/);
    expect(() => attentionBackward(t, t, t, t, { heads: 2, out: o, lse, dq: Tensor.zeros(device, [2, 4, 32]) })).toThrow(/dq .* must have seq 5/);
    expect(() => attentionBackward(t, t, t, t, { heads: 2, out: o, lse, dk: t })).toThrow(/must not share a buffer/);
    const k1 = Tensor.zeros(device, [1, 5, 32]);
    expect(() => attentionBackward(t, k1, t, t, { heads: 2, out: o, lse })).toThrow(/must match k/);
    expect(() => attentionBackward(t, k1, k1, t, { heads: 2, out: o, lse, dk: Tensor.zeros(device, [2, 5, 32]) })).toThrow(/batch 1 \(K\/V are shared\)/);
  });
});

describe('attention forward log-sum-exp', () => {
  const c: Case = { name: 'lse', layout: 'plain', B: 2, Sq: 6, Sk: 21, H: 2, hd: 16, bias: 'key', mask: 'batch', maskedRow: 2 };
  for (const variant of attentionVariants(device).filter((v) => v.spec.lse).map((v) => v.name)) {
    for (const dtype of dtypes) {
      it(`${variant} ${dtype} writes L = m + log(l) per (batch, head, query), bit-identical output with and without it`, async () => {
        const x = build(c, dtype, 901);
        const common = { heads: c.H, headDim: c.hd, bias: x.biasT, mask: x.maskT, variant };
        const plain = await attention(x.q, x.k, x.v, common).read();
        const lse = Tensor.empty(device, [c.B, c.H, c.Sq]).poison();
        const withL = await attention(x.q, x.k, x.v, { ...common, lse }).read();
        expect(Buffer.from(withL.buffer).equals(Buffer.from(plain.buffer)), 'output unchanged by lse').toBe(true);
        const want = attentionBackwardRef(refView(x.q, x.qd), refView(x.k, x.kd), refView(x.v, x.vd), new Float64Array(c.B * c.Sq * c.H * c.hd), {
          heads: c.H, headDim: c.hd, bias: x.bias, mask: x.mask,
        }).lse;
        const got = await lse.read();
        for (let i = 0; i < want.length; i++) {
          if (want[i] === -Infinity) {
            expect(got[i]! <= -1e30, `fully masked row ${i}: L = ${got[i]}`).toBe(true);
            got[i] = 0;
            want[i] = 0;
          }
        }
        expect(want.some((w, i) => w === 0 && i % c.Sq === c.maskedRow)).toBe(true);
        expectClose(got, want, tol(dtype), `${variant} ${dtype} lse`);
        for (const tt of [...x.tensors, x.biasT, x.maskT, lse]) tt?.dispose();
      });
    }
  }

  it('refuses a variant that cannot write L', () => {
    const t = Tensor.zeros(device, [1, 4, 16]);
    const lse = Tensor.zeros(device, [1, 1, 4]);
    expect(() => attention(t, t, t, { heads: 1, lse: Tensor.zeros(device, [3]) })).toThrow(/lse must be f32 \[1, 1, 4\]/);
    const cannot = attentionVariants(device).find((v) => !v.spec.lse);
    if (cannot) expect(() => attention(t, t, t, { heads: 1, lse, variant: cannot.name })).toThrow(/cannot write the log-sum-exp/);
  });
});
