// GroupNorm (+ fused SiLU) against the float64 reference: every variant, f32 and f16, channel counts and spatial
// sizes that are not multiples of anything, multi-chunk groups, large means, poisoned outputs and shape errors.

import { describe, expect, it } from 'vitest';
import { groupNorm } from '../../../engine/ops/groupnorm.js';
import { groupNormRef } from '../../../engine/ops/groupnorm.ref.js';
import { variants } from '../../../engine/ops/registry.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice, upload } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();
const device = await testDevice();

// [N, C, H, W], groups, silu. H*W odd, C not a multiple of the workgroup, S % 4 == 0 with odd group length, etc.
const CASES: [number[], number, boolean][] = [
  [[6, 5, 7], 3, true], // [C, H, W], S = 35 odd: scalar loads
  [[2, 12, 4, 3], 4, false], // S = 12: vec4 loads
  [[1, 9, 2, 2], 9, true], // one channel per group, S = 4
  [[1, 5, 1, 1], 1, false], // S = 1
  [[2, 4, 45, 47], 2, true], // group length 4230: several chunks for the chunked and narrow variants
  [[2, 32800, 1, 1], 4, false], // 65600 planes (more than one grid dimension holds): flat apply
];

describe('groupNorm', () => {
  for (const v of variants('groupnorm', device)) {
    for (const dtype of dtypes) {
      for (const [shape, groups, silu] of CASES) {
        it(`${v.name} ${dtype} [${shape.join(', ')}] groups ${groups}${silu ? ' + silu' : ''}`, async () => {
          const n = shape.length === 3 ? 1 : shape[0]!;
          const c = shape.length === 3 ? shape[0]! : shape[1]!;
          const numel = shape.reduce((a, b) => a * b, 1);
          const seed = numel + groups;
          const x = upload(device, normal(numel, seed, 2).map((z) => z + 0.7), shape, dtype);
          const w = upload(device, uniform(c, seed + 1, 0.5, 1.5), [c], dtype);
          const b = upload(device, normal(c, seed + 2), [c], dtype);
          const out = Tensor.empty(device, shape, dtype).poison();
          groupNorm(x.t, groups, 1e-6, w.t, b.t, { silu, out, variant: v.name });
          expectClose(await out.read(), groupNormRef(x.stored, n, c, groups, 1e-6, w.stored, b.stored, silu), tol(dtype, 2), v.name);
          if (silu) return;
          out.poison();
          groupNorm(x.t, groups, 1e-5, null, null, { out, variant: v.name });
          expectClose(await out.read(), groupNormRef(x.stored, n, c, groups, 1e-5), tol(dtype, 2), `${v.name} no affine`);
        });
      }
    }

    it(`${v.name} f32 large-mean groups spread over many chunks do not cancel`, async () => {
      const shape = [1, 4, 150, 151];
      const numel = 4 * 150 * 151;
      const x = upload(device, normal(numel, 3).map((z) => z + 10000), shape, 'f32');
      const out = groupNorm(x.t, 2, 1e-6, null, null, { variant: v.name });
      expectClose(await out.read(), groupNormRef(x.stored, 1, 4, 2, 1e-6), { rtol: 3e-4, atol: 1e-4 }, 'large mean');
    });
  }

  it('refuses bad shapes', () => {
    const x = Tensor.zeros(device, [2, 6, 3, 3]);
    expect(() => groupNorm(x, 4, 1e-6, null, null)).toThrow(/4 groups must divide the 6 channels/);
    expect(() => groupNorm(Tensor.zeros(device, [6, 9]), 3, 1e-6, null, null)).toThrow(/must be \[C, H, W\]/);
    expect(() => groupNorm(x, 3, 1e-6, Tensor.zeros(device, [5]), Tensor.zeros(device, [5]))).toThrow(/weight f32\[5\] must be a float vector of 6/);
    expect(() => groupNorm(x, 3, 1e-6, Tensor.zeros(device, [6]), null)).toThrow(/both weight and bias/);
  });
});
