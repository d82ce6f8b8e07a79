// LayerNorm (affine, adaLN modulation broadcast and per item) and RMSNorm against float64 references: every
// registered variant, f32 and f16, awkward widths, large-mean rows, poisoned outputs and shape errors.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { layerNorm, rmsNorm } from '../../../engine/ops/norm.js';
import { layerNormRef, rmsNormRef } from '../../../engine/ops/norm.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
const SHAPES: [number, number][] = [[1, 1], [5, 3], [130, 67], [5, 1543], [7, 64]];

function add(a: Float64Array, c: number): Float64Array {
  return a.map((v) => v + c);
}

describe('layerNorm', () => {
  for (const v of variants<RowSpec>('layernorm', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of SHAPES) {
        it(`${v.name} ${dtype} [${rows}, ${d}] plain and affine`, async () => {
          const seed = rows * 31 + d;
          const x = upload(device, add(normal(rows * d, seed, 2), 0.5), [rows, d], dtype);
          const w = upload(device, uniform(d, seed + 1, 0.5, 1.5), [d], dtype);
          const b = upload(device, normal(d, seed + 2), [d], dtype);
          const eps = 1e-6;
          const out = Tensor.empty(device, [rows, d], dtype).poison();
          layerNorm(x.t, { eps, out, variant: v.name });
          // d = 1: every output is 0 (x - mean = 0).
          expectClose(await out.read(), layerNormRef(x.stored, d, eps), tol(dtype, 2), `${v.name} plain`);
          out.poison();
          layerNorm(x.t, { eps: 1e-5, weight: w.t, bias: b.t, out, variant: v.name });
          expectClose(await out.read(), layerNormRef(x.stored, d, 1e-5, w.stored, b.stored), tol(dtype, 2), `${v.name} affine`);
        });
      }

      it(`${v.name} ${dtype} adaLN modulation: broadcast [D], per item [B, D], chunked [B, 6D] with offsets`, async () => {
        const [B, S, D] = [3, 5, 68];
        const x = upload(device, normal(B * S * D, 7), [B, S, D], dtype);
        const sc = upload(device, normal(D, 8, 0.3), [D], dtype);
        const sh = upload(device, normal(D, 9, 0.3), [D], dtype);
        const out = Tensor.empty(device, [B, S, D], dtype).poison();
        layerNorm(x.t, { eps: 1e-6, modulation: { scale: sc.t, shift: sh.t }, out, variant: v.name });
        const want = layerNormRef(x.stored, D, 1e-6, undefined, undefined, { scale: sc.stored, shift: sh.stored, items: 1, k: D });
        expectClose(await out.read(), want, tol(dtype, 2), 'broadcast');

        const scB = upload(device, normal(B * D, 10, 0.3), [B, D], dtype);
        const shB = upload(device, normal(B * D, 11, 0.3), [B, D], dtype);
        out.poison();
        layerNorm(x.t, { eps: 1e-6, modulation: { scale: scB.t, shift: shB.t }, out, variant: v.name });
        const wantB = layerNormRef(x.stored, D, 1e-6, undefined, undefined, { scale: scB.stored, shift: shB.stored, items: B, k: D });
        expectClose(await out.read(), wantB, tol(dtype, 2), 'per item');

        // One [B, 6D] projection holding (shift, scale, gate, ...) chunks; offsets 2 (not a multiple of 4: scalar path).
        for (const [scaleOffset, shiftOffset] of [[D, 0], [2 * D + 2, 3]]) {
          const e = upload(device, normal(B * 6 * D, 12, 0.3), [B, 6 * D], dtype);
          out.poison();
          layerNorm(x.t, { eps: 1e-6, weight: sc.t, modulation: { scale: e.t, shift: e.t, scaleOffset, shiftOffset }, out, variant: v.name });
          const wantC = layerNormRef(x.stored, D, 1e-6, sc.stored, undefined, { scale: e.stored, shift: e.stored, items: B, k: 6 * D, scaleOffset, shiftOffset });
          expectClose(await out.read(), wantC, tol(dtype, 2), `chunked ${scaleOffset}/${shiftOffset}`);
        }
      });

      it(`${v.name} ${dtype} large-mean rows (x = 1e3 or 1e4 + noise) do not cancel`, async () => {
        const [rows, d] = [6, 1540];
        const x = upload(device, add(normal(rows * d, 21), dtype === 'f16' ? 1000 : 10000), [rows, d], dtype);
        const out = layerNorm(x.t, { eps: 1e-6, variant: v.name });
        // f32: the row mean itself carries ~ulp(1e4)/2 = 5e-4 rounding, so outputs of std 1 are good to ~1e-3.
        expectClose(await out.read(), layerNormRef(x.stored, d, 1e-6), dtype === 'f16' ? tol('f16', 2) : { rtol: 3e-4, atol: 1e-4 }, 'large mean');
      });
    }
  }

  it('mixes f16 activations with f32 affine and modulation vectors', async () => {
    if (!dtypes.includes('f16')) return;
    const [rows, d] = [9, 44];
    const x = upload(device, normal(rows * d, 31), [rows, d], 'f16');
    const w = upload(device, uniform(d, 32, 0.5, 1.5), [d], 'f32');
    const b = upload(device, normal(d, 33), [d], 'f32');
    const sc = upload(device, normal(3 * d, 34, 0.3), [3, d], 'f32');
    const sh = upload(device, normal(3 * d, 35, 0.3), [3, d], 'f32');
    const out = layerNorm(x.t, { eps: 1e-6, weight: w.t, bias: b.t, modulation: { scale: sc.t, shift: sh.t } });
    const want = layerNormRef(x.stored, d, 1e-6, w.stored, b.stored, { scale: sc.stored, shift: sh.stored, items: 3, k: d });
    expectClose(await out.read(), want, tol('f16', 2), 'mixed dtypes');
  });

  it('refuses bad shapes', () => {
    const x = Tensor.zeros(device, [4, 6]);
    expect(() => layerNorm(x, { eps: 1e-6, weight: Tensor.zeros(device, [5]) })).toThrow(/weight \[5\] must have 6 elements/);
    expect(() => layerNorm(Tensor.zeros(device, [4, 0]), { eps: 1e-6 })).toThrow(/non-empty last axis/);
    const m = Tensor.zeros(device, [3, 6]);
    expect(() => layerNorm(x, { eps: 1e-6, modulation: { scale: m, shift: m } })).toThrow(/B must divide the rows/);
    const k = Tensor.zeros(device, [2, 8]);
    expect(() => layerNorm(x, { eps: 1e-6, modulation: { scale: k, shift: k, scaleOffset: 4 } })).toThrow(/must hold 6 values/);
    expect(() => layerNorm(x, { eps: 1e-6, out: x })).toThrow(/must not alias/);
    expect(() => layerNorm(x, { eps: 1e-6, variant: 'layernorm_nope' })).toThrow(/No variant/);
  });
});

describe('rmsNorm', () => {
  for (const v of variants<RowSpec>('rmsnorm', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of SHAPES) {
        it(`${v.name} ${dtype} [${rows}, ${d}]`, async () => {
          const x = upload(device, normal(rows * d, rows + 3 * d, 3), [rows, d], dtype);
          const w = upload(device, uniform(d, d, 0.5, 1.5), [d], dtype);
          const out = Tensor.empty(device, [rows, d], dtype).poison();
          rmsNorm(x.t, w.t, 1e-6, { out, variant: v.name });
          expectClose(await out.read(), rmsNormRef(x.stored, d, 1e-6, w.stored), tol(dtype, 2), v.name);
          out.poison();
          rmsNorm(x.t, null, 1e-6, { out, variant: v.name });
          expectClose(await out.read(), rmsNormRef(x.stored, d, 1e-6), tol(dtype, 2), `${v.name} no weight`);
        });
      }
    }
  }

  it('keeps f16 inputs with large values finite (squares accumulate in f32)', async () => {
    if (!dtypes.includes('f16' as DType)) return;
    const d = 4096;
    const x = upload(device, normal(2 * d, 5, 3000), [2, d], 'f16');
    const out = rmsNorm(x.t, null, 1e-6);
    expectClose(await out.read(), rmsNormRef(x.stored, d, 1e-6), tol('f16', 2), 'f16 large');
  });
});
