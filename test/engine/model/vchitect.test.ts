// The GPU Vchitect transformer against the float64 reference written from the spec, on a make-tiny checkpoint in
// the real layout: several frame counts (1 takes the F == 1 path), text lengths and odd latent sizes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { VchitectTransformer } from '../../../engine/model/vchitect.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { vchitectForward64 } from '../../../engine/reference/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

let dir: string;
let ckpt: Checkpoint;
const weights64 = new Map<string, Tensor64>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vchitect-'));
  await makeTinyCheckpoint(dir, { seed: 7 });
  ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) {
    weights64.set(k, { shape: [...store.info(k).shape], data: Float64Array.from(await store.readFloat32(k)) });
  }
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dtypes = await testDTypes();

describe('Vchitect transformer on the GPU vs the float64 reference', () => {
  for (const dtype of dtypes) {
    for (const [F, Hl, Wl, T] of [[1, 6, 10, 7], [3, 6, 10, 13], [2, 4, 2, 5]] as const) {
      it(`${dtype}: F=${F}, latent ${Hl}x${Wl}, T=${T}`, async () => {
        const device = await testDevice();
        const model = await VchitectTransformer.load(device, ckpt.transformer, { dtype: dtype as DType });
        const d = model.dims;
        const seed = F * 100 + Hl * 10 + T;
        const hidden = normal(F * d.inChannels * Hl * Wl, seed);
        const context = normal(T * d.jointAttentionDim, seed + 1);
        const pooled = normal(d.pooledProjectionDim, seed + 2);
        const timestep = 437.5;
        const out = model.forward({
          hidden: Tensor.from(device, hidden, [1, F, d.inChannels, Hl, Wl], dtype as DType),
          timestep,
          context: Tensor.from(device, context, [1, T, d.jointAttentionDim], dtype as DType),
          pooled: Tensor.from(device, pooled, [1, d.pooledProjectionDim], dtype as DType),
        });
        const got = await out.read();
        const want = vchitectForward64(weights64, {
          numLayers: d.numLayers, heads: d.heads, headDim: d.headDim, patchSize: d.patchSize, inChannels: d.inChannels,
          outChannels: d.outChannels, posEmbedMaxSize: d.M, jointAttentionDim: d.jointAttentionDim, pooledProjectionDim: d.pooledProjectionDim,
        }, {
          hiddenStates: { shape: [1, F, d.inChannels, Hl, Wl], data: hidden },
          timestep,
          encoderHiddenStates: { shape: [1, T, d.jointAttentionDim], data: context },
          pooledProjections: { shape: [1, d.pooledProjectionDim], data: pooled },
        });
        expectClose(got, want.data, dtype === 'f16' ? { rtol: 3e-2, atol: 3e-3 } : { rtol: 2e-4, atol: 1e-5 }, `vchitect ${dtype} F=${F}`);
        out.dispose();
        model.dispose();
      }, 600_000); // the first case of each dtype compiles every pipeline: slow on a loaded CPU adapter
    }
  }
});
