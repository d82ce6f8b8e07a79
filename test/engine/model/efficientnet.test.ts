// The GPU EfficientNet (timm efficientnet_b3a layout, LAION's watermark head) against the float64 reference run on
// the unfolded state-dict weights: tiny random checkpoints in the exact key layout (reduced widths and depths, the
// real 7 stages, kernels and strides), awkward image sizes, a batch of images; the config read from the shapes;
// the full-size efficientnet_b3 layout's known widths; clear errors for missing keys, wrong shapes and other files.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorInfo } from '../../../engine/io/safetensors-reader.js';
import { efficientNetConfigOf } from '../../../engine/io/efficientnet-config.js';
import { efficientNetKeys } from '../../../engine/io/keys.js';
import { EFFICIENTNET_B3_WATERMARK, TINY_EFFICIENTNET, efficientNetConfigFor, makeTinyWatermarkModel, type EfficientNetShape } from '../../../engine/io/make-tiny-watermark.js';
import { tensorsFor } from '../../../engine/io/make-tiny.js';
import { openSafetensors, writeSafetensors } from '../../../engine/io/safetensors.js';
import type { WeightStore } from '../../../engine/io/sharded.js';
import { EfficientNet } from '../../../engine/model/efficientnet.js';
import { efficientNetForward64 } from '../../../engine/reference/efficientnet.js';
import { weights64 } from '../../helpers/clip-vision.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-effnet-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T = { rtol: 1e-4, atol: 1e-5 };
// A second layout: other widths and depths, expansion 3, timm's own single-linear classifier.
const OTHER: EfficientNetShape = { stem: 5, widths: [3, 5, 7, 9, 11, 13, 15], depths: [1, 3, 1, 1, 2, 1, 2], expand: 3, head: 17, classifier: [2] };

/** A WeightStore that has shapes only (the full-size layout without 48 MB of data). */
function shapeStore(specs: { key: string; shape: number[] }[]): WeightStore {
  const m = new Map(specs.map((s) => [s.key, s.shape]));
  const info = (k: string): TensorInfo => ({ name: k, dtype: k.endsWith('num_batches_tracked') ? 'I64' : 'F32', shape: m.get(k)!, begin: 0, end: 0 });
  return { name: 'b3.safetensors', keys: () => [...m.keys()], has: (k) => m.has(k), info, fileOf: () => 'b3.safetensors', read: () => Promise.reject(new Error('no data')), readFloat32: () => Promise.reject(new Error('no data')), close: async () => {} };
}

describe('EfficientNet (watermark detector body)', () => {
  for (const [label, shape, sizes] of [['tiny b3 layout, LAION head', TINY_EFFICIENTNET, [[37, 29], [64, 64]]], ['other widths, plain classifier', OTHER, [[33, 40]]]] as const) {
    it(`${label}: GPU logits equal the float64 reference`, async () => {
      const device = await testDevice();
      const path = join(dir, `${label.replace(/\W+/g, '-')}.safetensors`);
      const cfg = await makeTinyWatermarkModel(path, { seed: 5, shape });
      const model = await EfficientNet.load(device, path);
      try {
        expect(model.config).toEqual(cfg);
        const w = await weights64(path);
        for (const [h, wd] of sizes) {
          const r = rng(h * 100 + wd);
          const images = [0, 1].map(() => Float32Array.from({ length: 3 * h * wd }, () => (r() - 0.5) * 4));
          const got = await model.logits(images, h, wd);
          const wants = images.map((im, i) => {
            const want = efficientNetForward64(w, cfg, { shape: [3, h, wd], data: Float64Array.from(im) });
            expectClose(got[i]!, want, T, `${label} ${h}x${wd} image ${i}`);
            return want;
          });
          // The logits depend on the image (far beyond the tolerance), so the comparison is not one of biases only.
          const diff = Math.max(...wants[0]!.map((v, i) => Math.abs(v - wants[1]![i]!)));
          expect(diff, 'logits of two images differ').toBeGreaterThan(1e-2 * Math.max(...wants[0]!.map(Math.abs)));
        }
      } finally {
        model.dispose();
      }
    });
  }

  it('reads the full efficientnet_b3 + LAION head layout from the shapes (timm widths 40/24/32/48/96/136/232/384/1536)', () => {
    const cfg = efficientNetConfigFor(EFFICIENTNET_B3_WATERMARK);
    const specs = efficientNetKeys(cfg);
    const sh = new Map(specs.map((s) => [s.key, s.shape]));
    // Widths of timm's efficientnet_b3 (channel multiplier 1.2, depth 1.4: 26 blocks), written out by hand.
    expect(sh.get('conv_stem.weight')).toEqual([40, 3, 3, 3]);
    expect(sh.get('blocks.0.0.conv_dw.weight')).toEqual([40, 1, 3, 3]);
    expect(sh.get('blocks.0.0.se.conv_reduce.weight')).toEqual([10, 40, 1, 1]);
    expect(sh.get('blocks.0.1.conv_pw.weight')).toEqual([24, 24, 1, 1]);
    expect(sh.get('blocks.1.0.conv_pw.weight')).toEqual([144, 24, 1, 1]);
    expect(sh.get('blocks.1.0.se.conv_reduce.weight')).toEqual([6, 144, 1, 1]);
    expect(sh.get('blocks.2.0.conv_dw.weight')).toEqual([192, 1, 5, 5]);
    expect(sh.get('blocks.5.5.conv_pwl.weight')).toEqual([232, 1392, 1, 1]);
    expect(sh.get('blocks.6.1.conv_dw.weight')).toEqual([2304, 1, 3, 3]);
    expect(sh.get('conv_head.weight')).toEqual([1536, 384, 1, 1]);
    expect(sh.get('classifier.0.weight')).toEqual([625, 1536]);
    expect(sh.get('classifier.3.weight')).toEqual([256, 625]);
    expect(sh.get('classifier.5.weight')).toEqual([2, 256]);
    expect(cfg.stages.flat().length).toBe(26);
    expect(cfg.stages.map((s) => s[0]!.stride)).toEqual([1, 2, 2, 2, 1, 2, 1]);
    expect(efficientNetConfigOf(shapeStore(specs))).toEqual(cfg);
  });

  it('names missing keys, wrong shapes, a missing file and files that are not EfficientNets', async () => {
    const device = await testDevice();
    const cfg = efficientNetConfigFor(TINY_EFFICIENTNET);
    const all = tensorsFor('watermark', efficientNetKeys(cfg), 'F32', 1);
    const write = async (name: string, t: typeof all) => {
      const p = join(dir, name);
      await writeSafetensors(p, t, { format: 'pt' });
      return p;
    };
    const missing = await write('missing.safetensors', all.filter(([k]) => k !== 'blocks.3.1.se.conv_expand.bias'));
    await expect(EfficientNet.load(device, missing)).rejects.toThrow(/missing key blocks\.3\.1\.se\.conv_expand\.bias \(expected shape \[60\]\)/);
    const wrong = await write('wrong.safetensors', all.map(([k, t]) => (k === 'blocks.4.0.bn2.running_var' ? [k, { ...t, shape: [7], data: new Float32Array(7) }] : [k, t])));
    await expect(EfficientNet.load(device, wrong)).rejects.toThrow(/key blocks\.4\.0\.bn2\.running_var has shape \[7\], expected \[60\]/);
    const noHead = await write('nohead.safetensors', all.filter(([k]) => !k.startsWith('conv_head')));
    await expect(EfficientNet.load(device, noHead)).rejects.toThrow(/missing key conv_head\.weight \(needed for the head width\)/);
    const sixStages = await write('six.safetensors', all.filter(([k]) => !k.startsWith('blocks.6.')));
    await expect(EfficientNet.load(device, sixStages)).rejects.toThrow(/an EfficientNet has the 7 stages blocks\.0 \.\. blocks\.6/);
    const other = await write('other.safetensors', [['layers.0.weight', { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) }]]);
    await expect(EfficientNet.load(device, other)).rejects.toThrow(/not a timm EfficientNet state dict .*safetensors\.torch\.save_file/);
    await expect(EfficientNet.load(device, join(dir, 'nope.safetensors'))).rejects.toThrow(/nope\.safetensors: no such file/);
    // the written files themselves are fine apart from the edit
    const ok = await openSafetensors(missing);
    expect(ok.keys().length).toBe(all.length - 1);
    await ok.close();
  });
});
