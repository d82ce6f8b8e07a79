// LayerNorm (affine, adaLN modulation) and RMSNorm backward against the float64 backward references: every registered
// variant, f32 and f16, awkward widths and row counts (several partial blocks, length-1 axes), poisoned outputs,
// accumulation into existing gradients, bit-identical reruns, shape errors.

import { describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { layerNormBackward, rmsNormBackward } from '../../../engine/ops/norm-backward.js';
import { layerNormBackwardRef, rmsNormBackwardRef, type ModulationRef } from '../../../engine/ops/norm.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import type { RowSpec } from '../../../engine/ops/row-variants.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol, type Tolerance } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
const SHAPES: [number, number][] = [[1, 1], [5, 3], [130, 67], [7, 64], [3, 301]];

/** dx: f32 math over a row of d; parameter gradients: sums over `rows` rows (f32 results whatever the storage). */
const dxTol = (dtype: DType, d: number): Tolerance => tol(dtype, Math.max(2, d / 64));
const sumTol = (rows: number, d: number, dtype: DType): Tolerance => tol('f32', Math.max(4, rows / 16, d / 64) * (dtype === 'f16' ? 4 : 1));

describe('layerNormBackward', () => {
  for (const v of variants<RowSpec>('layernorm_backward', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of SHAPES) {
        it(`${v.name} ${dtype} [${rows}, ${d}] plain and affine`, async () => {
          const seed = rows * 7 + d;
          const x = upload(device, normal(rows * d, seed, 2).map((z) => z + 0.5), [rows, d], dtype);
          const dy = upload(device, normal(rows * d, seed + 1), [rows, d], dtype);
          const w = upload(device, uniform(d, seed + 2, 0.5, 1.5), [d], dtype);
          const b = upload(device, normal(d, seed + 3), [d], dtype);
          const dx = Tensor.empty(device, [rows, d], dtype).poison();
          layerNormBackward(x.t, dy.t, { eps: 1e-5, dx, variant: v.name });
          const plain = layerNormBackwardRef(x.stored, d, 1e-5, dy.stored);
          expectClose(await dx.read(), plain.dx, dxTol(dtype, d), 'plain dx');

          dx.poison();
          const grads = { weight: Tensor.empty(device, [d]).poison(), bias: Tensor.empty(device, [d]).poison() };
          // blockRows 16: [130, d] sums over 9 partial blocks, the last one short.
          const r = layerNormBackward(x.t, dy.t, { eps: 1e-5, weight: w.t, bias: b.t, dx, grads, variant: v.name, blockRows: 16 });
          expect(r.dweight).toBe(grads.weight);
          const want = layerNormBackwardRef(x.stored, d, 1e-5, dy.stored, w.stored, b.stored);
          expectClose(await dx.read(), want.dx, dxTol(dtype, d), 'affine dx');
          expectClose(await grads.weight.read(), want.dweight!, sumTol(rows, d, dtype), 'dweight');
          expectClose(await grads.bias.read(), want.dbias!, sumTol(rows, d, dtype), 'dbias');
        });
      }

      it(`${v.name} ${dtype} adaLN: broadcast [D], per item [B, D], chunked [B, 6D] shared by scale and shift`, async () => {
        const [B, S, D] = [3, 21, 68];
        const x = upload(device, normal(B * S * D, 7), [B, S, D], dtype);
        const dy = upload(device, normal(B * S * D, 70), [B, S, D], dtype);
        const sc = upload(device, normal(D, 8, 0.3), [D], dtype);
        const sh = upload(device, normal(D, 9, 0.3), [D], dtype);
        const check = async (r: ReturnType<typeof layerNormBackward>, want: ReturnType<typeof layerNormBackwardRef>, label: string) => {
          expectClose(await r.dx.read(), want.dx, dxTol(dtype, D), `${label} dx`);
          expectClose(await r.dscale!.read(), want.dscale!, sumTol(B * S, D, dtype), `${label} dscale`);
          if (r.dshift !== r.dscale) expectClose(await r.dshift!.read(), want.dshift!, sumTol(B * S, D, dtype), `${label} dshift`);
          if (want.dweight) expectClose(await r.dweight!.read(), want.dweight, sumTol(B * S, D, dtype), `${label} dweight`);
        };
        const refMod = (scale: Float64Array, shift: Float64Array, items: number, k: number, so = 0, fo = 0): ModulationRef =>
          ({ scale, shift, items, k, scaleOffset: so, shiftOffset: fo });

        let r = layerNormBackward(x.t, dy.t, { eps: 1e-6, modulation: { scale: sc.t, shift: sh.t }, variant: v.name, blockRows: 8 });
        await check(r, layerNormBackwardRef(x.stored, D, 1e-6, dy.stored, undefined, undefined, refMod(sc.stored, sh.stored, 1, D)), 'broadcast');

        const scB = upload(device, normal(B * D, 10, 0.3), [B, D], dtype);
        const shB = upload(device, normal(B * D, 11, 0.3), [B, D], dtype);
        r = layerNormBackward(x.t, dy.t, { eps: 1e-6, modulation: { scale: scB.t, shift: shB.t }, variant: v.name, blockRows: 5 });
        await check(r, layerNormBackwardRef(x.stored, D, 1e-6, dy.stored, undefined, undefined, refMod(scB.stored, shB.stored, B, D)), 'per item');

        // One [B, 6D] projection (shift, scale, ...); offsets not multiples of 4; one gradient tensor for both chunks.
        for (const [scaleOffset, shiftOffset] of [[D, 0], [2 * D + 2, 3]] as const) {
          const e = upload(device, normal(B * 6 * D, 12, 0.3), [B, 6 * D], dtype);
          const bias = upload(device, normal(D, 13), [D], dtype);
          r = layerNormBackward(x.t, dy.t, { eps: 1e-6, weight: sc.t, bias: bias.t, modulation: { scale: e.t, shift: e.t, scaleOffset, shiftOffset }, variant: v.name });
          expect(r.dshift).toBe(r.dscale);
          const want = layerNormBackwardRef(x.stored, D, 1e-6, dy.stored, sc.stored, bias.stored, refMod(e.stored, e.stored, B, 6 * D, scaleOffset, shiftOffset));
          // The reference keeps dscale and dshift apart; the shared gradient is their sum (disjoint ranges).
          const both = want.dscale!.map((s, i) => s + want.dshift![i]!);
          await check(r, { ...want, dscale: both }, `chunked ${scaleOffset}/${shiftOffset}`);
          expectClose(await r.dbias!.read(), want.dbias!, sumTol(B * S, D, dtype), 'chunked dbias');
        }
      });
    }
  }

  it('keeps rows with a large mean (1e4 + noise, f32) accurate: statistics do not cancel', async () => {
    const [rows, d] = [6, 1540];
    const x = upload(device, normal(rows * d, 41).map((v) => v + 1e4), [rows, d], 'f32');
    const dy = upload(device, normal(rows * d, 42), [rows, d], 'f32');
    const w = upload(device, uniform(d, 43, 0.5, 1.5), [d], 'f32');
    const r = layerNormBackward(x.t, dy.t, { eps: 1e-6, weight: w.t });
    const want = layerNormBackwardRef(x.stored, d, 1e-6, dy.stored, w.stored);
    // The f32 row mean itself carries ~ulp(1e4)/2 = 5e-4 rounding: xhat is good to ~1e-3.
    expectClose(await r.dx.read(), want.dx, { rtol: 1e-3, atol: 1e-4 }, 'dx');
    expectClose(await r.dweight!.read(), want.dweight!, { rtol: 1e-3, atol: 1e-3 }, 'dweight');
  });

  it('adds into existing gradients with accumulate', async () => {
    const [rows, d] = [37, 19];
    const x = upload(device, normal(rows * d, 1), [rows, d], 'f32');
    const dy = upload(device, normal(rows * d, 2), [rows, d], 'f32');
    const w = upload(device, uniform(d, 3, 0.5, 1.5), [d], 'f32');
    const sc = upload(device, normal(2 * 2 * d, 4, 0.3), [2, 2 * d], 'f32');
    const prior = normal(d, 5);
    const priorMod = normal(4 * d, 6);
    const grads = { weight: Tensor.from(device, prior, [d]), scale: Tensor.from(device, priorMod, [2, 2 * d]), shift: Tensor.from(device, priorMod, [2, 2 * d]) };
    const xs = upload(device, normal(2 * rows * d, 7), [2 * rows, d], 'f32');
    const dys = upload(device, normal(2 * rows * d, 8), [2 * rows, d], 'f32');
    layerNormBackward(xs.t, dys.t, { eps: 1e-6, weight: w.t, modulation: { scale: sc.t, shift: sc.t, scaleOffset: d, shiftOffset: 0 }, grads, accumulate: true });
    const want = layerNormBackwardRef(xs.stored, d, 1e-6, dys.stored, w.stored, undefined, { scale: sc.stored, shift: sc.stored, items: 2, k: 2 * d, scaleOffset: d, shiftOffset: 0 });
    expectClose(await grads.weight.read(), want.dweight!.map((g, i) => g + prior[i]!), tol('f32', 8), 'dweight += ');
    expectClose(await grads.scale.read(), want.dscale!.map((g, i) => g + priorMod[i]!), tol('f32', 8), 'dscale += ');
    expectClose(await grads.shift.read(), want.dshift!.map((g, i) => g + priorMod[i]!), tol('f32', 8), 'dshift += ');
    void x; void dy;
  });

  it('gives bit-identical gradients run to run', async () => {
    const [B, S, D] = [2, 300, 40];
    const x = upload(device, normal(B * S * D, 21), [B * S, D], 'f32');
    const dy = upload(device, normal(B * S * D, 22), [B * S, D], 'f32');
    const w = upload(device, uniform(D, 23, 0.5, 1.5), [D], 'f32');
    const sc = upload(device, normal(B * D, 24, 0.3), [B, D], 'f32');
    const run = async () => {
      const r = layerNormBackward(x.t, dy.t, { eps: 1e-6, weight: w.t, bias: w.t, modulation: { scale: sc.t, shift: sc.t }, blockRows: 32 });
      return Promise.all([r.dx, r.dweight!, r.dbias!, r.dscale!, r.dshift!].map(async (t) => new Uint8Array(await t.readRaw())));
    };
    const [a, b] = [await run(), await run()];
    for (let i = 0; i < a.length; i++) expect(Buffer.compare(a[i]!, b[i]!), `output ${i}`).toBe(0);
  });

  it('refuses bad shapes', () => {
    const x = Tensor.zeros(device, [4, 6]);
    expect(() => layerNormBackward(x, Tensor.zeros(device, [4, 5]), { eps: 1e-6 })).toThrow(/dy \[4, 5\] must have the shape of x/);
    expect(() => layerNormBackward(x, x, { eps: 1e-6, weight: Tensor.zeros(device, [5]) })).toThrow(/weight \[5\] must have 6 elements/);
    const m = Tensor.zeros(device, [3, 6]);
    expect(() => layerNormBackward(x, x, { eps: 1e-6, modulation: { scale: m, shift: m } })).toThrow(/B must divide the rows/);
    expect(() => layerNormBackward(x, x, { eps: 1e-6, weight: Tensor.zeros(device, [6]), grads: { weight: Tensor.zeros(device, [4]) } })).toThrow(/grads.weight \[4\] must have 6 elements/);
    expect(() => layerNormBackward(x, Tensor.zeros(device, [4, 6]), { eps: 1e-6, dx: x })).toThrow(/must not alias/);
    expect(() => layerNormBackward(x, x, { eps: 1e-6, variant: 'layernorm_backward_nope' })).toThrow(/No variant/);
  });
});

describe('rmsNormBackward', () => {
  for (const v of variants<RowSpec>('rmsnorm_backward', device)) {
    for (const dtype of dtypes) {
      for (const [rows, d] of SHAPES) {
        it(`${v.name} ${dtype} [${rows}, ${d}]`, async () => {
          const x = upload(device, normal(rows * d, rows + 3 * d, 3), [rows, d], dtype);
          const dy = upload(device, normal(rows * d, rows + 5 * d), [rows, d], dtype);
          const w = upload(device, uniform(d, d, 0.5, 1.5), [d], dtype);
          const dx = Tensor.empty(device, [rows, d], dtype).poison();
          const dw = Tensor.empty(device, [d]).poison();
          rmsNormBackward(x.t, dy.t, w.t, 1e-6, { dx, grads: { weight: dw }, variant: v.name, blockRows: 16 });
          const want = rmsNormBackwardRef(x.stored, d, 1e-6, dy.stored, w.stored);
          expectClose(await dx.read(), want.dx, dxTol(dtype, d), 'dx');
          expectClose(await dw.read(), want.dweight!, sumTol(rows, d, dtype), 'dweight');
          dx.poison();
          const r = rmsNormBackward(x.t, dy.t, null, 1e-6, { dx, variant: v.name });
          expect(r.dweight).toBeUndefined();
          expectClose(await dx.read(), rmsNormBackwardRef(x.stored, d, 1e-6, dy.stored).dx, dxTol(dtype, d), 'dx no weight');
        });
      }
    }
  }

  it('gives bit-identical gradients run to run', async () => {
    const [rows, d] = [513, 24];
    const x = upload(device, normal(rows * d, 31), [rows, d], 'f32');
    const dy = upload(device, normal(rows * d, 32), [rows, d], 'f32');
    const w = upload(device, uniform(d, 33, 0.5, 1.5), [d], 'f32');
    const run = async () => new Uint8Array(await rmsNormBackward(x.t, dy.t, w.t, 1e-6).dweight!.readRaw());
    expect(Buffer.compare(await run(), await run())).toBe(0);
  });
});
