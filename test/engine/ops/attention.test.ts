// Attention against the float64 reference: every registered variant, f32 and f16, the three Vchitect layouts
// (spatial, temporal, cross) plus fused QKV column slices, causal, bias, masks with a fully masked row, long keys;
// the register-blocked variants also with small tiles (several query blocks) and constant loop bounds.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import type { Device } from '../../../engine/gpu/device.js';
import { additiveMask, attention, attentionVariants, flashTiles, seqView, sharedView, temporalView, type BlockTiles, type SeqView } from '../../../engine/ops/attention.js';
import { attentionRef, type RefView } from '../../../engine/ops/attention.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

type Layout = 'plain' | 'temporal' | 'cross' | 'fused';

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
  /** Mask every key of this query row (output must be 0). */
  maskedRow?: number;
  scale?: number;
}

const dtypes = await testDTypes();
const device = await testDevice();

/** Host values of an uploaded tensor as stored, with the view descriptor the op gets. */
function refView(v: SeqView, data: Float64Array): RefView {
  return { data, batch: v.batch, seq: v.seq, batchStride: v.batchStride, seqStride: v.seqStride, offset: v.offset };
}

function gather(v: SeqView, data: ArrayLike<number>, width: number): Float64Array {
  const out = new Float64Array(v.batch * v.seq * width);
  for (let b = 0; b < v.batch; b++) {
    for (let s = 0; s < v.seq; s++) {
      for (let c = 0; c < width; c++) out[(b * v.seq + s) * width + c] = data[(v.offset ?? 0) + b * v.batchStride + s * v.seqStride + c]!;
    }
  }
  return out;
}

async function runCase(dev: Device, c: Case, dtype: DType, variant: string, seed: number, tiles?: Partial<BlockTiles>): Promise<void> {
  const D = c.H * c.hd;
  const up = (shape: number[], s: number) => upload(dev, normal(shape.reduce((a, b) => a * b, 1), s), shape, dtype);
  let q: SeqView, k: SeqView, v: SeqView, out: SeqView;
  let qd: Float64Array, kd: Float64Array, vd: Float64Array;
  let outside: ((i: number) => boolean) | null = null;
  const tensors: Tensor[] = [];
  if (c.layout === 'plain') {
    const [a, b2, c2] = [up([c.B, c.Sq, D], seed), up([c.B, c.Sk, D], seed + 1), up([c.B, c.Sk, D], seed + 2)];
    [q, k, v, qd, kd, vd] = [seqView(a.t), seqView(b2.t), seqView(c2.t), a.stored, b2.stored, c2.stored];
    out = seqView(Tensor.empty(dev, [c.B, c.Sq, D], dtype));
    tensors.push(a.t, b2.t, c2.t);
  } else if (c.layout === 'temporal') {
    // [F, S, D] tensors: B = S token positions, sequences over F = Sq = Sk frames.
    expect(c.Sq).toBe(c.Sk);
    const [a, b2, c2] = [up([c.Sq, c.B, D], seed), up([c.Sq, c.B, D], seed + 1), up([c.Sq, c.B, D], seed + 2)];
    [q, k, v, qd, kd, vd] = [temporalView(a.t), temporalView(b2.t), temporalView(c2.t), a.stored, b2.stored, c2.stored];
    out = temporalView(Tensor.empty(dev, [c.Sq, c.B, D], dtype));
    tensors.push(a.t, b2.t, c2.t);
  } else if (c.layout === 'cross') {
    // Every query batch against sequence 1 of a [2, Sk, D] key/value tensor (batch stride 0, non-zero offset).
    const [a, b2, c2] = [up([c.B, c.Sq, D], seed), up([2, c.Sk, D], seed + 1), up([2, c.Sk, D], seed + 2)];
    [q, k, v, qd, kd, vd] = [seqView(a.t), sharedView(b2.t, c.B, 1), sharedView(c2.t, c.B, 1), a.stored, b2.stored, c2.stored];
    out = seqView(Tensor.empty(dev, [c.B, c.Sq, D], dtype));
    tensors.push(a.t, b2.t, c2.t);
  } else {
    // Fused [B, S, 3D] projection; output into columns D..2D of a [B, S, 2D] tensor (columns 0..D stay poisoned).
    expect(c.Sq).toBe(c.Sk);
    const a = up([c.B, c.Sq, 3 * D], seed);
    [q, k, v, qd, kd, vd] = [seqView(a.t, 0), seqView(a.t, D), seqView(a.t, 2 * D), a.stored, a.stored, a.stored];
    out = seqView(Tensor.empty(dev, [c.B, c.Sq, 2 * D], dtype), D);
    outside = (i) => i % (2 * D) < D;
    tensors.push(a.t);
  }
  out.tensor.poison();

  let bias: Float64Array | undefined;
  let biasT: Tensor | undefined;
  if (c.bias) {
    bias = uniform(c.bias === 'key' ? c.Sk : c.B * c.Sk, seed + 3, -3, 3).map(Math.fround);
    if (c.Sk > 2) bias[1] = -Infinity; // one key hidden by the bias alone
    biasT = Tensor.from(dev, bias, [bias.length], 'f32');
  }
  let mask: Float64Array | undefined;
  let maskT: Tensor | undefined;
  if (c.mask || c.maskedRow !== undefined) {
    const nb = c.mask === 'batch' ? c.B : 1;
    mask = uniform(nb * c.Sq * c.Sk, seed + 4, -2, 0).map(Math.fround);
    for (let i = 0; i < mask.length; i += 7) mask[i] = -Infinity;
    if (c.maskedRow !== undefined) {
      for (let b = 0; b < nb; b++) for (let j = 0; j < c.Sk; j++) mask[(b * c.Sq + c.maskedRow) * c.Sk + j] = -Infinity;
    }
    maskT = Tensor.from(dev, mask, nb === 1 ? [c.Sq, c.Sk] : [nb, c.Sq, c.Sk], 'f32');
  }

  const ret = attention(q, k, v, {
    heads: c.H, headDim: c.hd, causal: c.causal, scale: c.scale, bias: biasT, mask: maskT, out, variant, tiles,
  });
  expect(ret).toBe(out.tensor);
  const got = await out.tensor.read();
  const want = attentionRef(refView(q, qd), refView(k, kd), refView(v, vd), {
    heads: c.H, headDim: c.hd, causal: c.causal, scale: c.scale, bias, mask,
  });
  const label = `${variant}${tiles ? ` ${JSON.stringify(tiles)}` : ''} ${dtype} ${c.name}`;
  const longKeys = c.Sk >= 500 ? 3 : 1;
  expectClose(gather(out, got, D), want, tol(dtype, longKeys), label);
  if (c.maskedRow !== undefined) {
    const row = gather(out, got, D).subarray(c.maskedRow * D, (c.maskedRow + 1) * D);
    expect(row.every((x) => x === 0), `${label}: fully masked row must be 0`).toBe(true);
  }
  if (outside) {
    for (let i = 0; i < got.length; i++) if (outside(i) && !Number.isNaN(got[i]!)) expect.fail(`${label}: wrote outside the output view at ${i}`);
  }
  for (const t of [...tensors, out.tensor, biasT, maskT]) t?.dispose();
}

const CASES: Case[] = [
  { name: 'spatial B2 S37 H3 hd16', layout: 'plain', B: 2, Sq: 37, Sk: 37, H: 3, hd: 16 },
  { name: 'Sq7 != Sk40 H2 hd32', layout: 'plain', B: 2, Sq: 7, Sk: 40, H: 2, hd: 32 },
  { name: 'single query and key', layout: 'plain', B: 1, Sq: 1, Sk: 1, H: 2, hd: 16 },
  { name: 'hd128 Sq1 Sk33', layout: 'plain', B: 1, Sq: 1, Sk: 33, H: 1, hd: 128 },
  { name: 'hd64 long keys Sk1000', layout: 'plain', B: 1, Sq: 5, Sk: 1000, H: 1, hd: 64 },
  { name: 'hd20 (vec4, odd vec4 count)', layout: 'plain', B: 1, Sq: 9, Sk: 70, H: 2, hd: 20 },
  { name: 'temporal F5 S9 H2 hd16', layout: 'temporal', B: 9, Sq: 5, Sk: 5, H: 2, hd: 16 },
  { name: 'cross B3 Sq13 vs Sk11 hd32', layout: 'cross', B: 3, Sq: 13, Sk: 11, H: 2, hd: 32 },
  { name: 'fused qkv S19 hd16 scale 0.3', layout: 'fused', B: 2, Sq: 19, Sk: 19, H: 2, hd: 16, scale: 0.3 },
  { name: 'causal S21 hd32', layout: 'plain', B: 2, Sq: 21, Sk: 21, H: 2, hd: 32, causal: true },
  { name: 'bias[Sk] + mask[Sq,Sk] + masked row', layout: 'plain', B: 2, Sq: 6, Sk: 45, H: 2, hd: 16, bias: 'key', mask: 'shared', maskedRow: 2 },
  { name: 'bias[B,Sk] + mask[B,Sq,Sk] temporal', layout: 'temporal', B: 3, Sq: 17, Sk: 17, H: 1, hd: 32, bias: 'batch', mask: 'batch', maskedRow: 0 },
  { name: 'causal S70 hd8 (several blocks of 64 queries)', layout: 'plain', B: 1, Sq: 70, Sk: 70, H: 1, hd: 8, causal: true },
];

describe('attention', () => {
  for (const variant of attentionVariants(device).map((v) => v.name)) {
    for (const dtype of dtypes) {
      for (const [i, c] of CASES.entries()) {
        it(`${variant} ${dtype} ${c.name}`, async () => {
          await runCase(device, c, dtype, variant, 100 + 17 * i);
        });
      }
    }
  }

  // The default tiles cover every test problem with one query block per (batch, head); small tiles exercise several
  // query blocks, partial query and key blocks, the causal key-range cut per block and workgroups of 1.
  const blockVariants = attentionVariants(device).filter((v) => v.spec.grid === 'block').map((v) => v.name);
  const SMALL_TILES: Partial<BlockTiles>[] = [
    { queriesPerInvocation: 3, keyBlock: 5, workgroup: 4 },
    { queriesPerInvocation: 1, keyBlock: 1, workgroup: 1 },
    { queriesPerInvocation: 2, keyBlock: 16, workgroup: 8 },
  ];
  const TILE_CASES = CASES.filter((c) => /causal|cross|temporal|hd20|masked row|long keys/.test(c.name));
  for (const variant of blockVariants) {
    for (const [ti, tiles] of SMALL_TILES.entries()) {
      for (const [i, c] of TILE_CASES.entries()) {
        const dtype = dtypes[(ti + i) % dtypes.length]!;
        it(`${variant} tiles ${JSON.stringify(tiles)} ${dtype} ${c.name}`, async () => {
          await runCase(device, c, dtype, variant, 300 + 13 * i + ti, tiles);
        });
      }
    }
  }

  it('register-blocked variants with constant loop bounds (as on GPUs)', async () => {
    const saved = process.env.PARALLAX_ATTENTION_LOOPS;
    process.env.PARALLAX_ATTENTION_LOOPS = 'static';
    try {
      const c: Case = { name: 'static loops causal + bias + mask', layout: 'plain', B: 2, Sq: 13, Sk: 13, H: 2, hd: 8, causal: true, bias: 'key', mask: 'shared', maskedRow: 4 };
      for (const variant of blockVariants) await runCase(device, c, 'f32', variant, 77, { queriesPerInvocation: 2, keyBlock: 3, workgroup: 4 });
    } finally {
      if (saved === undefined) delete process.env.PARALLAX_ATTENTION_LOOPS;
      else process.env.PARALLAX_ATTENTION_LOOPS = saved;
    }
  });

  it('rejects bad register-blocked tiles with a clear error', () => {
    const t = Tensor.zeros(device, [1, 5, 32]);
    const rb = blockVariants[0]!;
    expect(() => attention(t, t, t, { heads: 2, variant: rb, tiles: { keyBlock: 0 } })).toThrow(/keyBlock must be a positive integer/);
    expect(() => attention(t, t, t, { heads: 2, variant: rb, tiles: { workgroup: 1 << 20 } })).toThrow(/exceeds the device/);
    expect(() => attention(t, t, t, { heads: 2, variant: 'attention_flash_rb_wg', tiles: { keyBlock: 1 << 16 } })).toThrow(/workgroup memory|above the device/);
  });

  it('naive and matmul route handle unaligned head dims and offsets (hd 6, column offset 3)', async () => {
    const H = 2, hd = 6, D = H * hd, B = 2, S = 11;
    const a = upload(device, normal(B * S * (D + 3), 9), [B, S, D + 3], 'f32');
    const q = seqView(a.t, 3);
    const rv = refView(q, a.stored);
    for (const variant of [undefined, ...attentionVariants(device, false).map((v) => v.name)]) {
      const out = Tensor.empty(device, [B, S, D]).poison();
      attention(q, q, q, { heads: H, headDim: hd, out, variant });
      expectClose(await out.read(), attentionRef(rv, rv, rv, { heads: H, headDim: hd }), tol('f32'), `unaligned ${variant ?? 'default'}`);
    }
    expect(() => attention(q, q, q, { heads: H, headDim: hd, variant: 'attention_flash' })).toThrow(/multiples of 4/);
  });

  it('causal via an additive mask equals the causal flag', async () => {
    const H = 1, hd = 16, S = 23;
    const x = upload(device, normal(S * hd, 5), [1, S, hd], 'f32');
    const m = additiveMask(device, S, S, (i, j) => j <= i);
    const a = await attention(x.t, x.t, x.t, { heads: H, mask: m }).read();
    const b = await attention(x.t, x.t, x.t, { heads: H, causal: true }).read();
    expectClose(a, b, tol('f32'), 'mask vs causal');
  });

  it('rejects mismatched shapes, bad masks and aliased outputs', () => {
    const t = Tensor.zeros(device, [2, 5, 32]);
    const k3 = Tensor.zeros(device, [3, 5, 32]);
    expect(() => attention(t, k3, k3, { heads: 2 })).toThrow(/batch 3/);
    expect(() => attention(t, t, t, { heads: 3 })).toThrow(/multiple of heads/);
    expect(() => attention(t, t, t, { heads: 2, mask: Tensor.zeros(device, [4, 5]) })).toThrow(/mask must be f32 \[5, 5\]/);
    expect(() => attention(t, t, t, { heads: 2, out: t })).toThrow(/must not share a buffer/);
    expect(() => attention(seqView(t, 8), t, t, { heads: 2, headDim: 16 })).toThrow(/beyond the tensor/);
  });

  it('fits its tiles in workgroup memory', () => {
    for (const hd of [4, 16, 20, 32, 64, 128]) {
      for (const budget of [16384, 32768]) {
        const t = flashTiles(hd, budget);
        expect(4 * (t.BQ * hd + 2 * t.BK * hd + 2 * t.BQ * t.BK + t.WG)).toBeLessThanOrEqual(budget);
        expect(t.WG).toBe((t.BQ * hd) / 4);
        expect(t.WG).toBeLessThanOrEqual(256);
      }
    }
  });
});
