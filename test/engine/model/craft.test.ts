// The CRAFT network on the GPU (engine/model/craft.ts: BatchNorm folded into the convs, dilated fc6, pools, bilinear
// U-net, conv_cls) against the float64 reference (engine/reference/craft.ts, BatchNorm applied unfolded) on tiny
// random checkpoints written in the real key layout at reduced widths (engine/io/make-tiny-craft.ts; the model reads
// the widths from the shapes): a padded 64 x 32 input and an awkward 40 x 56 one (pools that floor, a 2 -> 5
// bilinear upsampling); with and without the "module." prefix; missing keys, wrong shapes and bad files named.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTinyCraft, TINY_CRAFT_WIDTHS } from '../../../engine/io/make-tiny-craft.js';
import { openSafetensors, writeSafetensors, type WriteTensor } from '../../../engine/io/safetensors.js';
import { CraftModel } from '../../../engine/model/craft.js';
import { craftKeys } from '../../../engine/model/craft-layout.js';
import { craftForward64, type CraftTensors64 } from '../../../engine/reference/craft.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const dir = await mkdtemp(join(tmpdir(), 'parallax-craft-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function tensors64(path: string, prefix: string): Promise<CraftTensors64> {
  const r = await openSafetensors(path);
  const m = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const k of r.keys()) if (!k.endsWith('num_batches_tracked')) m.set(k.slice(prefix.length), { data: await r.readFloat32(k), shape: r.info(k).shape });
  await r.close();
  return { get: (k) => m.get(k) ?? expect.fail(`reference: no tensor ${k}`) };
}

describe('CraftModel', () => {
  for (const [H, W, prefix, seed] of [[64, 32, 'module.', 1], [40, 56, '', 2]] as const) {
    it(`equals the float64 reference on ${H}x${W} (prefix '${prefix}')`, async () => {
      const file = join(dir, `tiny-${seed}.safetensors`);
      await makeTinyCraft(file, { seed, prefix });
      const model = await CraftModel.load(device, file);
      expect(model.widths).toEqual(TINY_CRAFT_WIDTHS);
      const x = normal(3 * H * W, seed + 10);
      const xs = Float64Array.from(x, Math.fround);
      const t = Tensor.from(device, xs, [1, 3, H, W]);
      const got = await model.scores(t);
      t.dispose();
      model.dispose();
      const want = craftForward64({ c: 3, h: H, w: W, data: xs }, await tensors64(file, prefix));
      expect([got.height, got.width, want.c, want.h, want.w]).toEqual([H / 2, W / 2, 2, H / 2, W / 2]);
      const n = got.width * got.height;
      // The maps are not flat (a random net could give constants, which would test little).
      const spread = Math.max(...want.data) - Math.min(...want.data);
      expect(spread).toBeGreaterThan(0.1);
      expectClose(got.region, want.data.subarray(0, n), { rtol: 2e-4, atol: 1e-5 }, 'region score');
      expectClose(got.affinity, want.data.subarray(n), { rtol: 2e-4, atol: 1e-5 }, 'affinity score');
    });
  }

  it('names missing keys, wrong shapes and unreadable files', async () => {
    const good = join(dir, 'good.safetensors');
    await makeTinyCraft(good);
    const r = await openSafetensors(good);
    const all: [string, WriteTensor][] = [];
    for (const k of r.keys()) {
      const info = r.info(k);
      if (info.dtype === 'I64') continue;
      all.push([k, { dtype: 'F32', shape: info.shape, data: await r.readFloat32(k) }]);
    }
    await r.close();
    const missing = join(dir, 'missing.safetensors');
    await writeSafetensors(missing, all.filter(([k]) => k !== 'module.upconv2.conv.4.running_var'));
    await expect(CraftModel.load(device, missing)).rejects.toThrow(/missing key module\.upconv2\.conv\.4\.running_var \(expected shape \[6\]\)/);
    // upconv1's 1x1 conv must take fc7 + relu5_3 = 11 + 10 channels.
    const wrong = join(dir, 'wrong.safetensors');
    await writeSafetensors(wrong, all.map(([k, t]) => (k === 'module.upconv1.conv.0.weight' ? [k, { ...t, shape: [9, 20, 1, 1], data: new Float32Array(180) }] : [k, t])));
    await expect(CraftModel.load(device, wrong)).rejects.toThrow(/module\.upconv1\.conv\.0\.weight has shape \[9,20,1,1\], expected \[9,21,1,1\]/);
    const junk = join(dir, 'junk.safetensors');
    await writeFile(junk, 'not a safetensors file');
    await expect(CraftModel.load(device, junk)).rejects.toThrow(/CRAFT weights .*junk\.safetensors: .*craft_mlt_25k\.pth/);
    await expect(CraftModel.load(device, join(dir, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors/);
    // Two outputs (region, affinity) are required of conv_cls.8.
    const keys = craftKeys({ out: { ...TINY_CRAFT_WIDTHS.out, 'conv_cls.8': 3 } }, '');
    const three = join(dir, 'three.safetensors');
    await writeSafetensors(three, keys.filter((k) => !k.integer).map((k) => [k.key, { dtype: 'F32', shape: k.shape, data: new Float32Array(k.shape.reduce((a, b) => a * b, 1)) }]));
    await expect(CraftModel.load(device, three)).rejects.toThrow(/conv_cls\.8\.weight has 3 outputs; CRAFT has 2 \(region and affinity scores\)/);
  });
});
