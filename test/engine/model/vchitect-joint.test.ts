// The Vchitect attention without concat/slice copies (projections written into the joint text+video buffers, output
// rows read as views) gives the same forward, bit for bit, as the copying path, with fewer dispatches; shapes where
// the text rows' offset cannot be bound (f16, odd visual rows) fall back to the copies.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DType } from '../../../engine/dtype.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { VchitectTransformer } from '../../../engine/model/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vchitect-joint-'));
  await makeTinyCheckpoint(dir, { seed: 11 });
  ckpt = await openCheckpoint(dir);
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const dtypes = await testDTypes();

describe('Vchitect joint buffers without copies', () => {
  for (const dtype of dtypes) {
    // Tiny model: D = 64. f32 rows are 256 bytes (always bindable); f16 rows 128 bytes: L = 15 patches falls back.
    for (const [F, Hl, Wl, T] of [[3, 6, 10, 13], [1, 4, 6, 5], [2, 6, 10, 7]] as const) {
      it(`${dtype}: F=${F}, latent ${Hl}x${Wl}, T=${T}: same bits as concat/slice`, async () => {
        const device = await testDevice();
        const model = await VchitectTransformer.load(device, ckpt.transformer, { dtype: dtype as DType });
        const d = model.dims;
        const seed = F * 100 + Hl * 10 + T;
        const run = async (jointWrites: boolean) => {
          model.jointWrites = jointWrites;
          const inputs = {
            hidden: Tensor.from(device, normal(F * d.inChannels * Hl * Wl, seed), [1, F, d.inChannels, Hl, Wl], dtype as DType),
            timestep: 321,
            context: Tensor.from(device, normal(T * d.jointAttentionDim, seed + 1), [1, T, d.jointAttentionDim], dtype as DType),
            pooled: Tensor.from(device, normal(d.pooledProjectionDim, seed + 2), [1, d.pooledProjectionDim], dtype as DType),
          };
          // layout ops of one contiguous range run as buffer copies (layout.ts): count them with the dispatches
          const n0 = device.counters.dispatches + device.counters.copies;
          const out = model.forward(inputs);
          const dispatches = device.counters.dispatches + device.counters.copies - n0;
          const bytes = Buffer.from(await out.readRaw());
          [out, inputs.hidden, inputs.context, inputs.pooled].forEach((t) => t.dispose());
          return { bytes, dispatches };
        };
        await run(true); // fills the position-table cache, so the counted runs do the same one-off work
        const copies = await run(false);
        const direct = await run(true);
        expect(direct.bytes.equals(copies.bytes)).toBe(true);
        const L = (Hl / 2) * (Wl / 2);
        const bindable = dtype === 'f32' || L % 2 === 0;
        if (bindable) expect(direct.dispatches).toBeLessThan(copies.dispatches);
        else expect(direct.dispatches).toBe(copies.dispatches);
        model.dispose();
      }, 600_000);
    }
  }
});
