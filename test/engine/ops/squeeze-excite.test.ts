// channelMean, sigmoidGate and squeezeExcite (channels last) against float64 references: channel counts that
// straddle the 64-channel workgroup, pixel counts not a multiple of the 4 lanes, batch > 1, a single pixel, large
// gate logits (sigmoid saturating without NaN), f16 where available, shape errors; outputs poisoned first.

import { describe, expect, it } from 'vitest';
import { channelMean, sigmoidGate, squeezeExcite } from '../../../engine/ops/squeeze-excite.js';
import { channelMeanRef, sigmoidGateRef, squeezeExciteRef } from '../../../engine/ops/squeeze-excite.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();
const shapes = [
  { N: 2, H: 5, W: 7, C: 67 },
  { N: 1, H: 1, W: 1, C: 3 },
  { N: 3, H: 9, W: 3, C: 130 },
];

describe('squeeze-excitation ops', () => {
  for (const dtype of dtypes) {
    for (const s of dtype === 'f16' ? shapes.slice(0, 1) : shapes) {
      const P = s.H * s.W;
      const label = `${dtype} [${s.N}, ${s.H}, ${s.W}, ${s.C}]`;
      it(`channelMean ${label}`, async () => {
        const x = upload(device, normal(s.N * P * s.C, s.C, 2), [s.N, s.H, s.W, s.C], dtype);
        const out = Tensor.empty(device, [s.N, s.C], dtype).poison();
        channelMean(x.t, out);
        expectClose(await out.read(), channelMeanRef(x.stored, s.N, P, s.C), tol(dtype, 3), label);
      });
      it(`sigmoidGate ${label}`, async () => {
        const x = upload(device, normal(s.N * P * s.C, s.C + 1), [s.N, P, s.C], dtype);
        const g = normal(s.N * s.C, s.C + 2, 4);
        g[0] = 200; // exp(-200) underflows: gate 1
        if (g.length > 1) g[1] = -200; // exp(200) overflows to inf in f32: gate 0, not NaN
        const gs = upload(device, g, [s.N, s.C], dtype);
        const out = Tensor.empty(device, [s.N, P, s.C], dtype).poison();
        sigmoidGate(x.t, gs.t, out);
        expectClose(await out.read(), sigmoidGateRef(x.stored, gs.stored, s.N, P, s.C), tol(dtype, 3), label);
      });
      it(`squeezeExcite ${label}`, async () => {
        const R = Math.max(1, Math.round(s.C / 4) - 1);
        const x = upload(device, normal(s.N * P * s.C, s.C + 3), [s.N, s.H, s.W, s.C], dtype);
        const rw = upload(device, normal(R * s.C, 11, 1 / Math.sqrt(s.C)), [R, s.C], dtype);
        const rb = upload(device, normal(R, 12), [R], dtype);
        const ew = upload(device, normal(s.C * R, 13, 1 / Math.sqrt(R)), [s.C, R], dtype);
        const eb = upload(device, normal(s.C, 14), [s.C], dtype);
        const got = squeezeExcite(x.t, { reduceW: rw.t, reduceB: rb.t, expandW: ew.t, expandB: eb.t });
        expect(got.shape).toEqual([s.N, s.H, s.W, s.C]);
        expectClose(await got.read(), squeezeExciteRef(x.stored, s.N, P, s.C, rw.stored, rb.stored, ew.stored, eb.stored), tol(dtype, 10), label);
      });
    }
  }

  it('rejects bad shapes', () => {
    const x = Tensor.zeros(device, [2, 3, 4, 5]);
    expect(() => channelMean(Tensor.zeros(device, [4, 5]))).toThrow(/channels last/);
    expect(() => channelMean(x, Tensor.zeros(device, [2, 4]))).toThrow(/out is f32\[2, 4\], expected f32\[2, 5\]/);
    expect(() => sigmoidGate(x, Tensor.zeros(device, [1, 5]))).toThrow(/gate is f32\[1, 5\], expected f32\[2, 5\]/);
  });
});
