// Portable checks for every kernel family (a representative subset of the Node suite, f32, awkward shapes):
// linear over every matmul variant, the three attention layouts over every attention variant, LayerNorm with
// modulation, GroupNorm+SiLU, RoPE along frames, conv2d 3x3, patch round trip, and the Philox RNG's exact bits.

import type { Device } from '../../engine/gpu/device.js';
import { attention, attentionVariants, sharedView, temporalView } from '../../engine/ops/attention.js';
import { attentionRef } from '../../engine/ops/attention.ref.js';
import { conv2d } from '../../engine/ops/conv2d.js';
import { conv2dRef } from '../../engine/ops/conv2d.ref.js';
import { groupNorm } from '../../engine/ops/groupnorm.js';
import { groupNormRef } from '../../engine/ops/groupnorm.ref.js';
import { linear } from '../../engine/ops/linear.js';
import { linearRef } from '../../engine/ops/linear.ref.js';
import { matmulVariants } from '../../engine/ops/matmul.js';
import { layerNorm } from '../../engine/ops/norm.js';
import { layerNormRef } from '../../engine/ops/norm.ref.js';
import { patchify } from '../../engine/ops/patch.js';
import { patchifyRef } from '../../engine/ops/patch.ref.js';
import { philoxBits } from '../../engine/ops/random.js';
import { philoxBitsRef } from '../../engine/ops/random.ref.js';
import { rope } from '../../engine/ops/rope.js';
import { ropeRef } from '../../engine/ops/rope.ref.js';
import { Tensor } from '../../engine/tensor.js';
import { normal } from '../helpers/random.js';
import type { Check, CheckResult } from './checks.js';
import { verdict } from './checks.js';

const f32 = (n: number, seed: number, std = 1) => Float64Array.from(normal(n, seed, std), Math.fround);

function linearChecks(device: Device): Check[] {
  return matmulVariants(device).map((v) => ({
    name: `linear ${v.name} [37x67]x[29x67]^T + gelu`,
    async run(d) {
      const [M, K, N] = [37, 67, 29];
      const x = f32(M * K, 1), w = f32(N * K, 2, 0.2), b = f32(N, 3);
      const out = Tensor.empty(d, [M, N]).poison();
      linear(Tensor.from(d, x, [M, K]), Tensor.from(d, w, [N, K]), Tensor.from(d, b, [N]), { epilogue: 'gelu_tanh', out, variant: v.name });
      return verdict(this.name, await out.read(), linearRef({ x, w, bias: b, M, K, N, epilogue: 'gelu_tanh' }), 1e-4);
    },
  }));
}

function attentionChecks(device: Device): Check[] {
  const heads = 2, hd = 16, D = heads * hd;
  const checks: Check[] = [];
  for (const v of attentionVariants(device)) {
    checks.push({
      name: `attention ${v.name} spatial [2x37] and temporal [3 frames x 11]`,
      async run(d) {
        const [B, S] = [2, 37];
        const q = f32(B * S * D, 4), k = f32(B * S * D, 5), vv = f32(B * S * D, 6);
        const out = Tensor.empty(d, [B, S, D]).poison();
        attention(Tensor.from(d, q, [B, S, D]), Tensor.from(d, k, [B, S, D]), Tensor.from(d, vv, [B, S, D]), { heads, out, variant: v.name });
        const view = (data: Float64Array) => ({ data, batch: B, seq: S, batchStride: S * D, seqStride: D });
        const r1 = verdict('spatial', await out.read(), attentionRef(view(q), view(k), view(vv), { heads, headDim: hd }), 1e-4);
        const [F, P] = [3, 11];
        const tq = f32(F * P * D, 7), tk = f32(F * P * D, 8), tv = f32(F * P * D, 9);
        const tout = Tensor.empty(d, [F, P, D]).poison();
        const T = (data: Float64Array) => Tensor.from(d, data, [F, P, D]);
        attention(temporalView(T(tq)), temporalView(T(tk)), temporalView(T(tv)), { heads, headDim: hd, out: temporalView(tout), variant: v.name });
        const tview = (data: Float64Array) => ({ data, batch: P, seq: F, batchStride: D, seqStride: P * D });
        // The reference returns [batch = position, seq = frame, D]; the output tensor is [frame, position, D].
        const byPos = attentionRef(tview(tq), tview(tk), tview(tv), { heads, headDim: hd });
        const want = new Float64Array(F * P * D);
        for (let p = 0; p < P; p++) for (let f = 0; f < F; f++) want.set(byPos.subarray((p * F + f) * D, (p * F + f + 1) * D), (f * P + p) * D);
        const r2 = verdict('temporal', await tout.read(), want, 1e-4);
        return { name: this.name, ok: r1.ok && r2.ok, detail: `${r1.detail}; ${r2.detail}` } satisfies CheckResult;
      },
    });
  }
  checks.push({
    name: 'attention cross: 3 frames x 13 queries vs shared 7 keys',
    async run(d) {
      const [F, Sq, Sk] = [3, 13, 7];
      const q = f32(F * Sq * D, 10), k = f32(Sk * D, 11), vv = f32(Sk * D, 12);
      const out = attention(Tensor.from(d, q, [F, Sq, D]), sharedView(Tensor.from(d, k, [1, Sk, D]), F), sharedView(Tensor.from(d, vv, [1, Sk, D]), F), { heads });
      const kv = (data: Float64Array) => ({ data, batch: F, seq: Sk, batchStride: 0, seqStride: D });
      return verdict(this.name, await out.read(), attentionRef({ data: q, batch: F, seq: Sq, batchStride: Sq * D, seqStride: D }, kv(k), kv(vv), { heads, headDim: hd }), 1e-4);
    },
  });
  return checks;
}

const otherChecks: Check[] = [
  {
    name: 'layerNorm + adaLN modulation [5x1543]',
    async run(d) {
      const [R, D] = [5, 1543];
      const x = f32(R * D, 13), sc = f32(D, 14), sh = f32(D, 15);
      const out = Tensor.empty(d, [R, D]).poison();
      layerNorm(Tensor.from(d, x, [R, D]), { eps: 1e-6, modulation: { scale: Tensor.from(d, sc, [D]), shift: Tensor.from(d, sh, [D]) }, out });
      return verdict(this.name, await out.read(), layerNormRef(x, D, 1e-6, undefined, undefined, { scale: sc, shift: sh, items: 1, k: D }), 1e-4);
    },
  },
  {
    name: 'groupNorm(4) + SiLU [12x9x7]',
    async run(d) {
      const [C, H, W] = [12, 9, 7];
      const x = f32(C * H * W, 16), w = f32(C, 17), b = f32(C, 18);
      const out = groupNorm(Tensor.from(d, x, [C, H, W]), 4, 1e-6, Tensor.from(d, w, [C]), Tensor.from(d, b, [C]), { silu: true });
      return verdict(this.name, await out.read(), groupNormRef(x, 1, C, 4, 1e-6, w, b, true), 1e-4);
    },
  },
  {
    name: 'rope along frames [3x5x32], head dim 16',
    async run(d) {
      const shape = [3, 5, 32];
      const x = f32(3 * 5 * 32, 19);
      const out = rope(Tensor.from(d, x, shape), { headDim: 16, positions: [0, 1, 2], axis: 0 });
      // WGSL allows sin/cos an absolute error of 2^-11 on [-pi, pi]; SwiftShader uses that latitude.
      return verdict(this.name, await out.read(), ropeRef(x, shape, 16, [0, 1, 2], 0), 1e-3);
    },
  },
  {
    name: 'conv2d 3x3 pad 1 [5x9x11] -> 7',
    async run(d) {
      const [Cin, H, W, Cout] = [5, 9, 11, 7];
      const x = f32(Cin * H * W, 20), w = f32(Cout * Cin * 9, 21, 0.3), b = f32(Cout, 22);
      const out = conv2d(Tensor.from(d, x, [Cin, H, W]), Tensor.from(d, w, [Cout, Cin, 3, 3]), { bias: Tensor.from(d, b, [Cout]), padding: 1 });
      return verdict(this.name, await out.read(), conv2dRef(x, w, { N: 1, Cin, H, W, Cout, KH: 3, KW: 3, stride: 1, top: 1, bottom: 1, left: 1, right: 1, bias: b }), 1e-4);
    },
  },
  {
    name: 'patchify [2x3x6x10]',
    async run(d) {
      const x = f32(2 * 3 * 6 * 10, 23);
      const out = patchify(Tensor.from(d, x, [2, 3, 6, 10]));
      return verdict(this.name, await out.read(), patchifyRef(x, 2, 3, 6, 10), 0);
    },
  },
  {
    name: 'Philox4x32-10 bits match the host reference exactly',
    async run(d) {
      const got = new Uint32Array(await philoxBits(d, 257, { seed: 12345678901n, offset: 2 ** 32 - 100 }).readRaw());
      const want = philoxBitsRef(257, 12345678901n, 2 ** 32 - 100);
      const bad = got.findIndex((v, i) => v !== want[i]);
      return { name: this.name, ok: bad < 0 && got.length === want.length, detail: bad < 0 ? `${got.length} words equal` : `word ${bad}: ${got[bad]} != ${want[bad]}` };
    },
  },
];

/** Every family's portable checks; variant lists depend on the device. */
export function kernelChecks(device: Device): Check[] {
  return [...linearChecks(device), ...attentionChecks(device), ...otherChecks];
}
