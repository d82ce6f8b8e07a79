// CRAFT's layout data (engine/model/craft-layout.ts) at the real widths against facts read off craft.py and
// basenet/vgg16_bn.py by hand: VGG16-BN feature indices per slice, conv shapes including the U-net concatenations
// (upconv1 takes fc7 1024 + relu5_3 512), the dilated fc6, the 2-channel head; key counts; widths read back from shapes.
import { describe, expect, it } from 'vitest';
import { CRAFT_REAL_WIDTHS, craftKeys, craftWidthsFrom } from '../../../engine/model/craft-layout.js';

describe('CRAFT layout', () => {
  const keys = craftKeys(CRAFT_REAL_WIDTHS, 'module.');
  const shape = (k: string) => keys.find((s) => s.key === `module.${k}`)?.shape;

  it('has craft_mlt_25k.pth\'s conv shapes', () => {
    expect(shape('basenet.slice1.0.weight')).toEqual([64, 3, 3, 3]);
    expect(shape('basenet.slice1.10.weight')).toEqual([128, 128, 3, 3]);
    expect(shape('basenet.slice1.11.running_var')).toEqual([128]);
    expect(shape('basenet.slice2.14.weight')).toEqual([256, 128, 3, 3]);
    expect(shape('basenet.slice3.20.weight')).toEqual([256, 256, 3, 3]);
    expect(shape('basenet.slice3.24.weight')).toEqual([512, 256, 3, 3]);
    expect(shape('basenet.slice4.37.weight')).toEqual([512, 512, 3, 3]);
    expect(shape('basenet.slice4.40.weight')).toBeUndefined(); // conv5_3 is not part of CRAFT (slice4 ends at 38)
    expect(shape('basenet.slice5.1.weight')).toEqual([1024, 512, 3, 3]);
    expect(shape('basenet.slice5.2.weight')).toEqual([1024, 1024, 1, 1]);
    expect(shape('basenet.slice5.1.running_mean')).toBeUndefined(); // no BatchNorm in slice5
    expect(shape('upconv1.conv.0.weight')).toEqual([512, 1536, 1, 1]);
    expect(shape('upconv1.conv.3.weight')).toEqual([256, 512, 3, 3]);
    expect(shape('upconv2.conv.0.weight')).toEqual([256, 768, 1, 1]);
    expect(shape('upconv3.conv.0.weight')).toEqual([128, 384, 1, 1]);
    expect(shape('upconv4.conv.0.weight')).toEqual([64, 192, 1, 1]);
    expect(shape('upconv4.conv.4.weight')).toEqual([32]);
    expect(shape('conv_cls.4.weight')).toEqual([16, 32, 3, 3]);
    expect(shape('conv_cls.8.weight')).toEqual([2, 16, 1, 1]);
    // 27 convs (weight + bias) and 12 + 8 BatchNorms (4 tensors + the optional num_batches_tracked).
    expect(keys.length).toBe(27 * 2 + 20 * 5);
    expect(keys.filter((k) => k.optional).length).toBe(20);
  });

  it('reads the widths back from the shapes', () => {
    const m = new Map(keys.map((k) => [k.key, k.shape]));
    expect(craftWidthsFrom((k) => m.get(k), 'module.')).toEqual(CRAFT_REAL_WIDTHS);
  });
});
