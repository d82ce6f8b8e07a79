// Timestep embedding against the float64 formula: Vchitect timesteps (sigma*1000 up to 1000), odd dims, f16.

import { describe, expect, it } from 'vitest';
import { timestepEmbedding } from '../../../engine/ops/timestep-embedding.js';
import { timestepEmbeddingRef } from '../../../engine/ops/timestep-embedding.ref.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { uniform } from '../../helpers/random.js';

const dtypes = await testDTypes();

describe('timestepEmbedding', () => {
  for (const dtype of dtypes) {
    for (const dim of [256, 6, 2]) {
      it(`${dtype} dim ${dim}`, async () => {
        const device = await testDevice();
        const ts = Float64Array.from([1000, 999.0123, 0, 0.5, ...uniform(5, dim, 0, 1000)].map(Math.fround));
        const t = Tensor.from(device, ts, [ts.length], 'f32');
        const out = Tensor.empty(device, [ts.length, dim], dtype).poison();
        timestepEmbedding(t, { dim, dtype, out });
        // f32 argument t*e up to 1000 rad: its rounding (~1000 * 2^-24 * few) bounds the error.
        expectClose(await out.read(), timestepEmbeddingRef(ts, dim), dtype === 'f16' ? tol('f16') : { rtol: 0, atol: 3e-4 }, `temb ${dtype} ${dim}`);
      });
    }
  }

  it('takes integer timesteps and starts with cos', async () => {
    const device = await testDevice();
    const t = Tensor.from(device, new Uint32Array([0, 3]), [2], 'u32');
    const got = await timestepEmbedding(t, { dim: 4 }).read();
    expectClose(got, timestepEmbeddingRef([0, 3], 4), { rtol: 0, atol: 1e-6 }, 'u32 timesteps');
    expect(got[0]).toBeCloseTo(1, 6);
  });

  it('rejects bad shapes', async () => {
    const device = await testDevice();
    expect(() => timestepEmbedding(Tensor.zeros(device, [2, 1]))).toThrow(/\[B\]/);
    expect(() => timestepEmbedding(Tensor.zeros(device, [2]), { dim: 5 })).toThrow(/even/);
  });
});
