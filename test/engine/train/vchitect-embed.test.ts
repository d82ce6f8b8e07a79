// patchEmbedForward / patchEmbedBackward and contextForward / contextBackward (engine/train/vchitect-embed.ts) against
// float64 references of the same functions, written here from the op references (conv2dRef, permuteRef, the centre
// crop, linearRef) and checked once against the inference references vchitectPatchEmbed64 / vchitectContext64; their
// analytic backwards, composed of the *BackwardRef functions, are checked by central finite differences for every
// input and parameter, then the GPU gradients are compared with them on awkward shapes, f32; two backward runs are
// bit-identical.
import { describe, expect, it } from 'vitest';
import { conv2dBackwardRef, conv2dRef } from '../../../engine/ops/conv2d.ref.js';
import { permuteRef } from '../../../engine/ops/layout.ref.js';
import { linearBackwardRef, linearRef } from '../../../engine/ops/linear.ref.js';
import { vchitectContext64, vchitectPatchEmbed64, type VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { contextBackward, contextForward, patchEmbedBackward, patchEmbedForward } from '../../../engine/train/vchitect-embed.js';
import type { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();

const PNAMES = ['latents', 'projW', 'projB', 'pos'] as const;
type PName = (typeof PNAMES)[number];
type PInputs = Record<PName, Float64Array>;
/** F frames of C x (h*P) x (w*P) latents, width D, patch P, position grid M x M. */
interface PDims { F: number; C: number; h: number; w: number; D: number; P: number; M: number }

function pInputs(d: PDims, seed: number): PInputs {
  const { F, C, h, w, D, P, M } = d;
  return {
    latents: normal(F * C * h * P * w * P, seed), projW: normal(D * C * P * P, seed + 1, 1 / Math.sqrt(C * P * P)),
    projB: normal(D, seed + 2, 0.3), pos: normal(M * M * D, seed + 3, 0.5),
  };
}

const convArgs = (d: PDims) => ({
  N: d.F, Cin: d.C, H: d.h * d.P, W: d.w * d.P, Cout: d.D, KH: d.P, KW: d.P, stride: d.P, top: 0, bottom: 0, left: 0, right: 0,
});
const origin = (d: PDims) => ({ top: Math.floor((d.M - d.h) / 2), left: Math.floor((d.M - d.w) / 2) });

/** Float64 forward: tokens [F, h*w, D]. */
function patch64(p: PInputs, d: PDims): Float64Array {
  const { F, h, w, D, M } = d;
  const y = conv2dRef(p.latents, p.projW, { ...convArgs(d), bias: p.projB });
  const tok = permuteRef(y, [F, D, h, w], [0, 2, 3, 1]);
  const { top, left } = origin(d);
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++)
        for (let k = 0; k < D; k++) tok[((f * h + r) * w + c) * D + k]! += p.pos[((top + r) * M + left + c) * D + k]!;
  return tok;
}

/** Float64 analytic backward from the op backward references. */
function patchBackward64(p: PInputs, d: PDims, dTok: Float64Array): PInputs {
  const { F, h, w, D, M } = d;
  const dy = permuteRef(dTok, [F, h, w, D], [0, 3, 1, 2]);
  const conv = conv2dBackwardRef(p.latents, p.projW, dy, { ...convArgs(d), bias: p.projB });
  const dPos = new Float64Array(M * M * D);
  const { top, left } = origin(d);
  for (let f = 0; f < F; f++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < w; c++)
        for (let k = 0; k < D; k++) dPos[((top + r) * M + left + c) * D + k]! += dTok[((f * h + r) * w + c) * D + k]!;
  return { latents: conv.dx, projW: conv.dw, projB: conv.db, pos: dPos };
}

const CNAMES = ['ehs', 'w', 'b'] as const;
type CName = (typeof CNAMES)[number];
type CInputs = Record<CName, Float64Array>;
interface CDims { T: number; J: number; D: number }

function cInputs(d: CDims, seed: number): CInputs {
  return { ehs: normal(d.T * d.J, seed), w: normal(d.D * d.J, seed + 1, 1 / Math.sqrt(d.J)), b: normal(d.D, seed + 2, 0.3) };
}
const ctxArgs = (p: CInputs, d: CDims) => ({ x: p.ehs, w: p.w, bias: p.b, M: d.T, K: d.J, N: d.D });
const ctx64 = (p: CInputs, d: CDims) => linearRef(ctxArgs(p, d));
function ctxBackward64(p: CInputs, d: CDims, dC: Float64Array): CInputs {
  const g = linearBackwardRef(ctxArgs(p, d), dC);
  return { ehs: g.dx, w: g.dw, b: g.db };
}

const t64 = (shape: number[], data: Float64Array): Tensor64 => ({ shape, data });

describe('vchitect embeddings: float64 references', () => {
  const cfgOf = (d: PDims, J: number): VchitectConfig64 => ({
    numLayers: 0, heads: 1, headDim: d.D, patchSize: d.P, inChannels: d.C, outChannels: d.C, posEmbedMaxSize: d.M, jointAttentionDim: J, pooledProjectionDim: 4,
  });

  it('match the inference references vchitectPatchEmbed64 (per frame) and vchitectContext64', () => {
    // An odd crop (M - h, M - w odd) checks the floor of the centre crop's origin.
    const d: PDims = { F: 2, C: 3, h: 2, w: 3, D: 5, P: 2, M: 5 };
    const p = pInputs(d, 5);
    const weights = new Map<string, Tensor64>([
      ['pos_embed.proj.weight', t64([d.D, d.C, d.P, d.P], p.projW)], ['pos_embed.proj.bias', t64([d.D], p.projB)],
      ['pos_embed.pos_embed', t64([1, d.M * d.M, d.D], p.pos)],
    ]);
    const cfg = cfgOf(d, 7);
    const got = patch64(p, d);
    const per = d.C * d.h * d.P * d.w * d.P;
    for (let f = 0; f < d.F; f++) {
      const want = vchitectPatchEmbed64(weights, cfg, t64([d.C, d.h * d.P, d.w * d.P], p.latents.slice(f * per, (f + 1) * per)));
      expect(want.shape).toEqual([d.h * d.w, d.D]);
      expectClose(got.subarray(f * d.h * d.w * d.D, (f + 1) * d.h * d.w * d.D), want.data, { rtol: 1e-12, atol: 1e-12 }, `frame ${f}`);
    }
    const cd: CDims = { T: 4, J: 7, D: d.D };
    const c = cInputs(cd, 9);
    const cw = new Map<string, Tensor64>([['context_embedder.weight', t64([cd.D, cd.J], c.w)], ['context_embedder.bias', t64([cd.D], c.b)]]);
    const want = vchitectContext64(cw, cfg, t64([1, cd.T, cd.J], c.ehs));
    expect(want.shape).toEqual([1, cd.T, cd.D]);
    expectClose(ctx64(c, cd), want.data, { rtol: 1e-12, atol: 1e-12 }, 'context');
  });

  it('their analytic backwards match central finite differences for every input and parameter', () => {
    const d: PDims = { F: 3, C: 2, h: 2, w: 3, D: 4, P: 2, M: 4 };
    const p = pInputs(d, 11);
    const dTok = normal(d.F * d.h * d.w * d.D, 99);
    const g = patchBackward64(p, d, dTok);
    for (const n of PNAMES) expectGradient(n, p[n], (v) => patch64({ ...p, [n]: v }, d), dTok, g[n], 1e-6);
    // Rows of the table outside the crop get exactly zero.
    expect(g.pos.slice(0, d.D).every((v) => v === 0)).toBe(true);
    const cd: CDims = { T: 3, J: 5, D: 4 };
    const c = cInputs(cd, 13);
    const dC = normal(cd.T * cd.D, 98);
    const gc = ctxBackward64(c, cd, dC);
    for (const n of CNAMES) expectGradient(n, c[n], (v) => ctx64({ ...c, [n]: v }, cd), dC, gc[n], 1e-6);
  });
});

async function bitIdentical(a: Tensor, b: Tensor, label: string): Promise<void> {
  expect(Buffer.from(await a.readRaw()).equals(Buffer.from(await b.readRaw())), `${label} bit-identical`).toBe(true);
}

const PCASES: (PDims & { rank5: boolean })[] = [
  // 2 frames, 4 channels (the model's), patch 2, 3x5 tokens in a 7x7 table (odd margins), 5-d latents as the model has.
  { F: 2, C: 4, h: 3, w: 5, D: 12, P: 2, M: 7, rank5: true },
  // 3 frames, odd channels and width, the crop fills the table's height exactly.
  { F: 3, C: 3, h: 4, w: 1, D: 9, P: 2, M: 4, rank5: false },
  // Patch 3 and patch 1 (the conv is a per-pixel linear).
  { F: 1, C: 2, h: 2, w: 2, D: 7, P: 3, M: 5, rank5: false },
  { F: 5, C: 5, h: 3, w: 2, D: 6, P: 1, M: 3, rank5: true },
];

describe('vchitect patch embed on the GPU (f32)', () => {
  for (const c of PCASES) {
    it(`latents [${c.rank5 ? '1, ' : ''}${c.F}, ${c.C}, ${c.h * c.P}, ${c.w * c.P}], patch ${c.P}, D ${c.D}, table ${c.M}x${c.M}`, async () => {
      const { F, C, h, w, D, P, M } = c;
      const p = pInputs(c, 31 + F);
      const shapes: Record<PName, number[]> = {
        latents: c.rank5 ? [1, F, C, h * P, w * P] : [F, C, h * P, w * P], projW: [D, C, P, P], projB: [D], pos: [1, M * M, D],
      };
      const up = {} as Record<PName, { t: Tensor; stored: Float64Array }>;
      for (const n of PNAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(PNAMES.map((n) => [n, up[n].stored])) as PInputs;
      const dTok = upload(device, normal(F * h * w * D, 7), [F, h * w, D], 'f32');

      const { tokens, saved } = patchEmbedForward(up.latents.t, { projW: up.projW.t, projB: up.projB.t, pos: up.pos.t });
      expect(tokens.shape).toEqual([F, h * w, D]);
      expectClose(await tokens.read(), patch64(stored, c), tol('f32', Math.sqrt(C * P * P)), 'tokens');

      const g = patchEmbedBackward(saved, dTok.t);
      const want = patchBackward64(stored, c, dTok.stored);
      const got: Record<PName, Tensor> = { latents: g.dLatents, projW: g.dProjW, projB: g.dProjB, pos: g.dPos };
      for (const n of PNAMES) {
        expect(got[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(got[n].dtype, `d${n} dtype`).toBe('f32');
        // Parameter gradients sum over up to F*h*w tokens.
        expectClose(await got[n].read(), want[n], tol('f32', Math.sqrt(Math.max(D, F * h * w))), `d${n}`);
      }

      const g2 = patchEmbedBackward(saved, dTok.t);
      const again: Record<PName, Tensor> = { latents: g2.dLatents, projW: g2.dProjW, projB: g2.dProjB, pos: g2.dPos };
      for (const n of PNAMES) await bitIdentical(again[n], got[n], `d${n}`);
      for (const x of [tokens, dTok.t, ...PNAMES.map((n) => up[n].t), ...Object.values(got), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = { projW: z([6, 4, 2, 2]), projB: z([6]), pos: z([1, 16, 6]) };
    expect(() => patchEmbedForward(z([2, 4, 6, 5]), params)).toThrow(/latent size 6x5 must be a multiple of the patch size 2/);
    expect(() => patchEmbedForward(z([2, 3, 6, 6]), params)).toThrow(/latents \[2, 3, 6, 6\] must be \[F, 4, Hl, Wl\]/);
    expect(() => patchEmbedForward(z([1, 4, 10, 2]), params)).toThrow(/5x1 patches exceed the position table \(pos_embed_max_size 4\)/);
    expect(() => patchEmbedForward(z([1, 4, 2, 2]), { ...params, pos: z([1, 15, 6]) })).toThrow(/pos_embed.pos_embed \[1, 15, 6\] must be \[1, M\*M, 6\]/);
    expect(() => patchEmbedForward(z([1, 4, 2, 2]), { ...params, projW: z([6, 4, 2, 3]) })).toThrow(/pos_embed.proj weight \[6, 4, 2, 3\] must be \[D, C, P, P\]/);
    expect(() => patchEmbedForward(z([1, 4, 2, 2]), { ...params, projB: z([5]) })).toThrow(/pos_embed.proj bias \[5\] must be \[6\]/);
    const { tokens, saved } = patchEmbedForward(z([2, 4, 4, 6]), params);
    made.push(tokens);
    expect(tokens.shape).toEqual([2, 6, 6]);
    expect(() => patchEmbedBackward(saved, z([2, 5, 6]))).toThrow(/dTokens \[2, 5, 6\] must have the forward's output shape \[2, 6, 6\]/);
    for (const t of made) t.dispose();
  });
});

const CCASES: (CDims & { rank3: boolean })[] = [
  { T: 7, J: 20, D: 12, rank3: true },
  { T: 1, J: 9, D: 5, rank3: false },
  { T: 13, J: 33, D: 17, rank3: true },
];

describe('vchitect context embedder on the GPU (f32)', () => {
  for (const c of CCASES) {
    it(`encoder_hidden_states [${c.rank3 ? '1, ' : ''}${c.T}, ${c.J}] -> D ${c.D}`, async () => {
      const { T, J, D } = c;
      const p = cInputs(c, 41 + T);
      const shapes: Record<CName, number[]> = { ehs: c.rank3 ? [1, T, J] : [T, J], w: [D, J], b: [D] };
      const up = {} as Record<CName, { t: Tensor; stored: Float64Array }>;
      for (const n of CNAMES) up[n] = upload(device, p[n], shapes[n], 'f32');
      const stored = Object.fromEntries(CNAMES.map((n) => [n, up[n].stored])) as CInputs;
      const dC = upload(device, normal(T * D, 3), [1, T, D], 'f32');

      const { C, saved } = contextForward(up.ehs.t, { w: up.w.t, b: up.b.t });
      expect(C.shape).toEqual([1, T, D]);
      expectClose(await C.read(), ctx64(stored, c), tol('f32', Math.sqrt(J)), 'C');

      const g = contextBackward(saved, dC.t);
      const want = ctxBackward64(stored, c, dC.stored);
      const got: Record<CName, Tensor> = { ehs: g.dEhs, w: g.dW, b: g.dB };
      for (const n of CNAMES) {
        expect(got[n].shape, `d${n} shape`).toEqual(shapes[n]);
        expect(got[n].dtype, `d${n} dtype`).toBe('f32');
        expectClose(await got[n].read(), want[n], tol('f32', Math.sqrt(Math.max(D, T))), `d${n}`);
      }
      const g2 = contextBackward(saved, dC.t);
      const again: Record<CName, Tensor> = { ehs: g2.dEhs, w: g2.dW, b: g2.dB };
      for (const n of CNAMES) await bitIdentical(again[n], got[n], `d${n}`);
      for (const x of [C, dC.t, ...CNAMES.map((n) => up[n].t), ...Object.values(got), ...Object.values(again)]) x.dispose();
    });
  }

  it('names what is wrong', () => {
    const made: Tensor[] = [];
    const z = (s: number[]) => { const t = upload(device, new Float64Array(s.reduce((a, b) => a * b, 1)), s, 'f32').t; made.push(t); return t; };
    const params = { w: z([6, 8]), b: z([6]) };
    expect(() => contextForward(z([1, 3, 7]), params)).toThrow(/encoder_hidden_states \[1, 3, 7\] must be \[1, T, 8\]/);
    expect(() => contextForward(z([1, 3, 8]), { ...params, b: z([5]) })).toThrow(/weight \[6, 8\] \/ bias \[5\] must be \[D, J\] \/ \[D\]/);
    const { C, saved } = contextForward(z([1, 3, 8]), params);
    made.push(C);
    expect(() => contextBackward(saved, z([1, 4, 6]))).toThrow(/dC \[1, 4, 6\] must have the forward's output shape \[1, 3, 6\]/);
    for (const t of made) t.dispose();
  });
});
