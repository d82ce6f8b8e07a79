// GroupNorm (+ affine, + SiLU) backward against the float64 backward reference: f32 and f16, [C, H, W] and
// [N, C, H, W], one group and one channel per group, odd planes, poisoned outputs, accumulation, bit-identical reruns.

import { describe, expect, it } from 'vitest';
import { groupNormBackward } from '../../../engine/ops/groupnorm-backward.js';
import { groupNormBackwardRef } from '../../../engine/ops/groupnorm.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

describe('groupNormBackward', () => {
  for (const dtype of dtypes) {
    // [shape, groups]: a 3-D input, one group, one channel per group, odd planes.
    for (const [shape, groups] of [[[6, 5, 7], 3], [[2, 8, 3, 5], 1], [[3, 4, 2, 2], 4], [[1, 6, 9, 11], 2]] as const) {
      for (const silu of [false, true]) {
        it(`${dtype} [${shape.join(', ')}] groups ${groups}${silu ? ' + SiLU' : ''}`, async () => {
          const sh = [...shape] as number[];
          const numel = sh.reduce((a, b) => a * b, 1);
          const [n, c] = sh.length === 3 ? [1, sh[0]!] : [sh[0]!, sh[1]!];
          const x = upload(device, normal(numel, numel, 2).map((v) => v + 0.7), sh, dtype);
          const dy = upload(device, normal(numel, numel + 1), sh, dtype);
          const w = upload(device, uniform(c, c, 0.5, 1.5), [c], dtype);
          const b = upload(device, normal(c, c + 1, 0.5), [c], dtype);
          const len = (c / groups) * (numel / (n * c));
          const dxTol = tol(dtype, Math.max(4, len / 32));
          const sumTol = tol('f32', Math.max(8, numel / c / 4) * (dtype === 'f16' ? 8 : 1));

          const dx = Tensor.empty(device, sh, dtype).poison();
          const grads = { weight: Tensor.empty(device, [c]).poison(), bias: Tensor.empty(device, [c]).poison() };
          groupNormBackward(x.t, dy.t, groups, 1e-5, w.t, b.t, { silu, dx, grads });
          const want = groupNormBackwardRef(x.stored, dy.stored, n, c, groups, 1e-5, w.stored, b.stored, silu);
          expectClose(await dx.read(), want.dx, dxTol, 'dx');
          expectClose(await grads.weight.read(), want.dweight!, sumTol, 'dweight');
          expectClose(await grads.bias.read(), want.dbias!, sumTol, 'dbias');

          dx.poison();
          const r = groupNormBackward(x.t, dy.t, groups, 1e-5, null, null, { silu, dx });
          expect(r.dweight).toBeUndefined();
          expectClose(await dx.read(), groupNormBackwardRef(x.stored, dy.stored, n, c, groups, 1e-5, undefined, undefined, silu).dx, dxTol, 'dx no affine');
        });
      }
    }
  }

  it('accumulates and reruns bit for bit', async () => {
    const sh = [3, 8, 17, 5];
    const numel = 3 * 8 * 17 * 5;
    const x = upload(device, normal(numel, 1), sh, 'f32');
    const dy = upload(device, normal(numel, 2), sh, 'f32');
    const w = upload(device, uniform(8, 3, 0.5, 1.5), [8], 'f32');
    const b = upload(device, normal(8, 4), [8], 'f32');
    const run = async () => {
      const r = groupNormBackward(x.t, dy.t, 4, 1e-6, w.t, b.t, { silu: true });
      return Promise.all([r.dx, r.dweight!, r.dbias!].map(async (t) => new Uint8Array(await t.readRaw())));
    };
    const [a1, a2] = [await run(), await run()];
    for (let i = 0; i < 3; i++) expect(Buffer.compare(a1[i]!, a2[i]!)).toBe(0);

    const prior = normal(8, 5);
    const weight = Tensor.from(device, prior, [8]);
    groupNormBackward(x.t, dy.t, 4, 1e-6, w.t, b.t, { silu: true, grads: { weight }, accumulate: true });
    const want = groupNormBackwardRef(x.stored, dy.stored, 3, 8, 4, 1e-6, w.stored, b.stored, true);
    expectClose(await weight.read(), want.dweight!.map((g, i) => g + prior[i]!), tol('f32', 50), 'dweight +=');
  });

  it('refuses bad shapes', () => {
    const x = Tensor.zeros(device, [2, 6, 3, 3]);
    expect(() => groupNormBackward(x, x, 4, 1e-6, null, null)).toThrow(/4 groups must divide the 6 channels/);
    expect(() => groupNormBackward(x, Tensor.zeros(device, [2, 6, 3]), 3, 1e-6, null, null)).toThrow(/must have the shape/);
    expect(() => groupNormBackward(x, x, 3, 1e-6, Tensor.zeros(device, [6]), null)).toThrow(/both weight and bias/);
  });
});
