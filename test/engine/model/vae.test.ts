// The GPU AutoencoderKL against the float64 reference on a make-tiny checkpoint: decoder on odd latent sizes,
// decodeFrames (scaling/shift per frame, RGB bytes), encoder and encodeLatent; f32 and f16.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roundToF16, type DType } from '../../../engine/dtype.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import type { AutoencoderKLConfig } from '../../../engine/io/configs.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { VaeModel, planarToRgbBytes } from '../../../engine/model/vae.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { decodeLatents64, encodeToLatent64, toUint8Image64, vaeDecode64, vaeEncode64, type VaeConfig64 } from '../../../engine/reference/vae.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { testDTypes, testDevice } from '../../helpers/gpu.js';
import { normal, uniform } from '../../helpers/random.js';

let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vae-'));
  await makeTinyCheckpoint(dir, { seed: 9 });
  ckpt = await openCheckpoint(dir);
});

afterAll(async () => {
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

function config64(c: AutoencoderKLConfig): VaeConfig64 {
  return {
    inChannels: c.in_channels, outChannels: c.out_channels, latentChannels: c.latent_channels, blockOutChannels: c.block_out_channels,
    layersPerBlock: c.layers_per_block, normNumGroups: c.norm_num_groups, scalingFactor: c.scaling_factor, shiftFactor: c.shift_factor ?? 0,
    useQuantConv: c.use_quant_conv, usePostQuantConv: c.use_post_quant_conv,
  };
}

async function weights64(dtype: DType): Promise<Map<string, Tensor64>> {
  const store = ckpt.vae.weights;
  const m = new Map<string, Tensor64>();
  for (const k of store.keys()) {
    const f = await store.readFloat32(k);
    m.set(k, { shape: [...store.info(k).shape], data: dtype === 'f16' ? Float64Array.from(f, roundToF16) : Float64Array.from(f) });
  }
  return m;
}

const round = (d: Float64Array, dtype: DType) => (dtype === 'f16' ? d.map(roundToF16) : d.map(Math.fround));
const dtypes = await testDTypes();

describe('VAE on the GPU vs the float64 reference', () => {
  for (const dtype of dtypes) {
    const t = dtype === 'f16' ? { rtol: 2e-2, atol: 2e-3 } : { rtol: 1e-4, atol: 1e-5 };

    it(`${dtype}: decoder on latents 3x5 and 1x2, decodeFrames on 2 frames of 2x3`, async () => {
      const device = await testDevice();
      const model = await VaeModel.load(device, ckpt.vae, { dtype });
      const w = await weights64(dtype);
      const cfg = config64(model.config);
      const lc = cfg.latentChannels;
      for (const [h, wd] of [[3, 5], [1, 2]] as const) {
        const z = round(normal(lc * h * wd, h * 10 + wd), dtype);
        const out = model.decode(Tensor.from(device, z, [lc, h, wd], dtype));
        expect(out.shape).toEqual([3, 8 * h, 8 * wd]);
        const want = vaeDecode64(w, cfg, { shape: [lc, h, wd], data: z });
        expectClose(await out.read(), want.data, t, `vae decode ${dtype} ${h}x${wd}`);
        out.dispose();
      }
      // decodeFrames: the per-frame unscaling and the byte conversion, against the reference pipeline.
      const [F, h, wd] = [2, 2, 3];
      const lat = round(normal(F * lc * h * wd, 77, 1.5), dtype);
      const res = await model.decodeFrames(Tensor.from(device, lat, [1, F, lc, h, wd], dtype));
      expect([res.width, res.height, res.frames.length]).toEqual([8 * wd, 8 * h, F]);
      const ref = decodeLatents64(w, cfg, { shape: [1, F, lc, h, wd], data: lat });
      const n = 3 * 64 * h * wd;
      const tolBytes = dtype === 'f16' ? 3 : 1;
      for (let f = 0; f < F; f++) {
        const want = planarToRgbBytes(ref.data.subarray(f * n, (f + 1) * n), 8 * h, 8 * wd);
        const got = res.frames[f]!;
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, `frame ${f} max byte difference`).toBeLessThanOrEqual(tolBytes);
      }
      // planarToRgbBytes agrees with the reference byte rule (planar order aside).
      const planar = toUint8Image64({ shape: [3, 8 * h, 8 * wd], data: ref.data.subarray(0, n) });
      const inter = planarToRgbBytes(ref.data.subarray(0, n), 8 * h, 8 * wd);
      for (let i = 0; i < 64 * h * wd; i++) for (let c = 0; c < 3; c++) expect(inter[3 * i + c]).toBe(planar[c * 64 * h * wd + i]);
      model.dispose();
    }, 600_000);

    it(`${dtype}: encoder moments and encodeLatent on a 19x27 image`, async () => {
      const device = await testDevice();
      const model = await VaeModel.load(device, ckpt.vae, { dtype });
      const w = await weights64(dtype);
      const cfg = config64(model.config);
      const [H, W] = [19, 27];
      const img = round(uniform(3 * H * W, 5), dtype);
      const x = Tensor.from(device, img, [3, H, W], dtype);
      const moments = model.encode(x);
      const want = vaeEncode64(w, cfg, { shape: [3, H, W], data: img });
      expect(moments.shape).toEqual(want.shape);
      expectClose(await moments.read(), want.data, t, `vae encode ${dtype}`);
      const lat = model.encodeLatent(x);
      expectClose(await lat.read(), encodeToLatent64(w, cfg, { shape: [3, H, W], data: img }).data, t, `vae encodeLatent ${dtype}`);
      [x, moments, lat].forEach((v) => v.dispose());
      model.dispose();
    }, 600_000);
  }
});
