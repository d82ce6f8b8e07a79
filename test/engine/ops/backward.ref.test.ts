// The float64 backward references checked against central finite differences of their forward references, on
// small awkward shapes: every input and parameter gradient, with the epilogues, masks, biases and modulations the
// model uses. These references are what the backward kernels will be tested against.
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionRef, type RefView } from '../../../engine/ops/attention.ref.js';
import { conv2dBackwardRef, conv2dRef, type Conv2dRefArgs } from '../../../engine/ops/conv2d.ref.js';
import { geluTanhGradRef, geluTanhRef, siluGradRef, siluRef } from '../../../engine/ops/elementwise.ref.js';
import { groupNormBackwardRef, groupNormRef } from '../../../engine/ops/groupnorm.ref.js';
import { linearBackwardRef, linearRef, type LinearRefArgs } from '../../../engine/ops/linear.ref.js';
import { layerNormBackwardRef, layerNormRef, rmsNormBackwardRef, rmsNormRef, type ModulationRef } from '../../../engine/ops/norm.ref.js';
import { patchifyBackwardRef, patchifyRef, unpatchifyBackwardRef, unpatchifyRef } from '../../../engine/ops/patch.ref.js';
import { ropeBackwardRef, ropeRef } from '../../../engine/ops/rope.ref.js';
import { softmaxBackwardRef, softmaxRef } from '../../../engine/ops/softmax.ref.js';
import { expectGradient } from '../../helpers/finite-diff.js';
import { normal, uniform } from '../../helpers/random.js';

describe('backward references: activations', () => {
  it('silu and gelu_tanh derivatives match finite differences', () => {
    for (const x of [-6, -2.3, -0.7, 0, 0.4, 1.9, 5.5]) {
      const h = 1e-6;
      expect(siluGradRef(x)).toBeCloseTo((siluRef(x + h) - siluRef(x - h)) / (2 * h), 8);
      expect(geluTanhGradRef(x)).toBeCloseTo((geluTanhRef(x + h) - geluTanhRef(x - h)) / (2 * h), 8);
    }
  });
});

describe('backward references: linear', () => {
  const M = 5, K = 7, N = 6;
  for (const epilogue of ['none', 'gelu_tanh', 'silu'] as const)
    for (const gated of [false, true]) {
      it(`${epilogue}${gated ? ' + gated residual' : ''}`, () => {
        const base: LinearRefArgs = {
          x: normal(M * K, 1), w: normal(N * K, 2, 0.5), bias: normal(N, 3), M, K, N,
          epilogue: epilogue === 'none' ? undefined : epilogue,
          ...(gated ? { residual: normal(M * N, 4), gate: normal(2 * N, 5), gateRows: 3 } : {}),
        };
        const dy = normal(M * N, 6);
        const g = linearBackwardRef(base, dy);
        const f = (over: Partial<LinearRefArgs>) => (v: Float64Array) => linearRef({ ...base, ...over, [Object.keys(over)[0]!]: v });
        expectGradient('dx', Float64Array.from(base.x), f({ x: base.x }), dy, g.dx);
        expectGradient('dw', Float64Array.from(base.w), f({ w: base.w }), dy, g.dw);
        expectGradient('db', Float64Array.from(base.bias!), f({ bias: base.bias }), dy, g.db);
        if (gated) {
          expectGradient('dresidual', Float64Array.from(base.residual!), f({ residual: base.residual }), dy, g.dresidual!);
          expectGradient('dgate', Float64Array.from(base.gate!), f({ gate: base.gate }), dy, g.dgate!);
        }
      });
    }
});

describe('backward references: attention', () => {
  const H = 2, hd = 3, C = H * hd;
  const view = (data: Float64Array, batch: number, seq: number): RefView => ({ data, batch, seq, batchStride: seq * C, seqStride: C });
  const cases = [
    { name: 'self, 2 batches', B: 2, Sq: 5, Sk: 5, kBatch: 2, opts: {} },
    { name: 'causal', B: 1, Sq: 4, Sk: 4, kBatch: 1, opts: { causal: true } },
    { name: 'cross with a key bias and shared K/V', B: 2, Sq: 3, Sk: 6, kBatch: 1, opts: { bias: uniform(6, 9, -1, 1) } },
    { name: 'mask with a fully masked row', B: 1, Sq: 3, Sk: 4, kBatch: 1, opts: { mask: Float64Array.from([0, -Infinity, 0, 0, -Infinity, -Infinity, -Infinity, -Infinity, 0.3, 0, -2, 0]) } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const q = normal(c.B * c.Sq * C, 11), k = normal(c.kBatch * c.Sk * C, 12), v = normal(c.kBatch * c.Sk * C, 13);
      const dO = normal(c.B * c.Sq * C, 14);
      const o = { heads: H, headDim: hd, ...c.opts };
      const g = attentionBackwardRef(view(q, c.B, c.Sq), view(k, c.kBatch, c.Sk), view(v, c.kBatch, c.Sk), dO, o);
      expectGradient('dq', q, (x) => attentionRef(view(x, c.B, c.Sq), view(k, c.kBatch, c.Sk), view(v, c.kBatch, c.Sk), o), dO, g.dq);
      expectGradient('dk', k, (x) => attentionRef(view(q, c.B, c.Sq), view(x, c.kBatch, c.Sk), view(v, c.kBatch, c.Sk), o), dO, g.dk);
      expectGradient('dv', v, (x) => attentionRef(view(q, c.B, c.Sq), view(k, c.kBatch, c.Sk), view(x, c.kBatch, c.Sk), o), dO, g.dv);
      if (c.opts.mask) {
        // The fully masked query row has no gradient and an lse of -Infinity.
        expect([...g.dq.subarray(C, 2 * C)].every((x) => x === 0)).toBe(true);
        expect(g.lse[1]).toBe(-Infinity);
      }
    });
  }
});

describe('backward references: norms', () => {
  it('LayerNorm with affine weights', () => {
    const d = 7, x = normal(3 * d, 21, 2), w = normal(d, 22), b = normal(d, 23), dy = normal(3 * d, 24);
    const g = layerNormBackwardRef(x, d, 1e-5, dy, w, b);
    expectGradient('dx', Float64Array.from(x), (v) => layerNormRef(v, d, 1e-5, w, b), dy, g.dx);
    expectGradient('dweight', Float64Array.from(w), (v) => layerNormRef(x, d, 1e-5, v, b), dy, g.dweight!);
    expectGradient('dbias', Float64Array.from(b), (v) => layerNormRef(x, d, 1e-5, w, v), dy, g.dbias!);
  });

  it('LayerNorm with adaLN modulation (two items, offsets into chunked vectors)', () => {
    const d = 5, rows = 4, k = 3 * d;
    const x = normal(rows * d, 31), dy = normal(rows * d, 32);
    const mod: ModulationRef = { scale: normal(2 * k, 33, 0.5), shift: normal(2 * k, 34), items: 2, k, scaleOffset: d, shiftOffset: 2 * d };
    const g = layerNormBackwardRef(x, d, 1e-6, dy, undefined, undefined, mod);
    expectGradient('dx', Float64Array.from(x), (v) => layerNormRef(v, d, 1e-6, undefined, undefined, mod), dy, g.dx);
    expectGradient('dscale', Float64Array.from(mod.scale), (v) => layerNormRef(x, d, 1e-6, undefined, undefined, { ...mod, scale: v }), dy, g.dscale!);
    expectGradient('dshift', Float64Array.from(mod.shift), (v) => layerNormRef(x, d, 1e-6, undefined, undefined, { ...mod, shift: v }), dy, g.dshift!);
  });

  it('RMSNorm with weight', () => {
    const d = 6, x = normal(4 * d, 41), w = normal(d, 42), dy = normal(4 * d, 43);
    const g = rmsNormBackwardRef(x, d, 1e-6, dy, w);
    expectGradient('dx', Float64Array.from(x), (v) => rmsNormRef(v, d, 1e-6, w), dy, g.dx);
    expectGradient('dweight', Float64Array.from(w), (v) => rmsNormRef(x, d, 1e-6, v), dy, g.dweight!);
  });

  it('GroupNorm + SiLU with affine weights', () => {
    const n = 2, c = 6, groups = 3, s = 5;
    const x = normal(n * c * s, 51, 1.5), w = normal(c, 52), b = normal(c, 53), dy = normal(n * c * s, 54);
    for (const silu of [false, true]) {
      const g = groupNormBackwardRef(x, dy, n, c, groups, 1e-6, w, b, silu);
      expectGradient(`dx silu=${silu}`, Float64Array.from(x), (v) => groupNormRef(v, n, c, groups, 1e-6, w, b, silu), dy, g.dx);
      expectGradient(`dweight silu=${silu}`, Float64Array.from(w), (v) => groupNormRef(x, n, c, groups, 1e-6, v, b, silu), dy, g.dweight!);
      expectGradient(`dbias silu=${silu}`, Float64Array.from(b), (v) => groupNormRef(x, n, c, groups, 1e-6, w, v, silu), dy, g.dbias!);
    }
  });
});

describe('backward references: softmax, rope, patches', () => {
  it('softmax along a middle axis', () => {
    const shape = [2, 5, 3], x = normal(30, 61, 2), dy = normal(30, 62);
    expectGradient('dx', Float64Array.from(x), (v) => softmaxRef(v, shape, 1), dy, softmaxBackwardRef(x, dy, shape, 1));
  });

  it('RoPE along the frame axis', () => {
    const shape = [3, 2, 8], hd = 4, pos = [0, 1.5, 7];
    const x = normal(48, 71), dy = normal(48, 72);
    expectGradient('dx', Float64Array.from(x), (v) => ropeRef(v, shape, hd, pos, 0, 1e4), dy, ropeBackwardRef(dy, shape, hd, pos, 0, 1e4));
  });

  it('patchify and unpatchify move gradients back', () => {
    const F = 2, C = 3, H = 4, W = 6, P = 2;
    const x = normal(F * C * H * W, 81), dy = normal(F * C * H * W, 82);
    expectGradient('patchify', Float64Array.from(x), (v) => patchifyRef(v, F, C, H, W, P), dy, patchifyBackwardRef(dy, F, C, H, W, P));
    expectGradient('unpatchify', Float64Array.from(x), (v) => unpatchifyRef(v, F, H / P, W / P, C, P), dy, unpatchifyBackwardRef(dy, F, H / P, W / P, C, P));
  });
});

describe('backward references: conv2d', () => {
  const cases: { name: string; a: Conv2dRefArgs }[] = [
    { name: '3x3 pad 1 with residual', a: { N: 2, Cin: 3, H: 5, W: 4, Cout: 2, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1, residual: normal(2 * 2 * 5 * 4, 91) } },
    { name: 'stride-2 down conv, asymmetric pad', a: { N: 1, Cin: 2, H: 7, W: 6, Cout: 3, KH: 3, KW: 3, stride: 2, top: 0, bottom: 1, left: 0, right: 1 } },
    { name: 'nearest-2x upsample then 3x3', a: { N: 1, Cin: 2, H: 3, W: 2, Cout: 2, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1 } },
  ];
  for (const { name, a: a0 } of cases) {
    it(name, () => {
      const a = { ...a0, bias: normal(a0.Cout, 92), upsample: name.includes('upsample') };
      const x = normal(a.N * a.Cin * a.H * a.W, 93), w = normal(a.Cout * a.Cin * a.KH * a.KW, 94);
      const y = conv2dRef(x, w, a);
      const dy = normal(y.length, 95);
      const g = conv2dBackwardRef(x, w, dy, a);
      expectGradient('dx', Float64Array.from(x), (v) => conv2dRef(v, w, a), dy, g.dx);
      expectGradient('dw', Float64Array.from(w), (v) => conv2dRef(x, v, a), dy, g.dw);
      expectGradient('db', Float64Array.from(a.bias), (v) => conv2dRef(x, w, { ...a, bias: v }), dy, g.db);
      if (a.residual) expectGradient('dresidual', Float64Array.from(a.residual), (v) => conv2dRef(x, w, { ...a, residual: v }), dy, g.dresidual!);
    });
  }
});
