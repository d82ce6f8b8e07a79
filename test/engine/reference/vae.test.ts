// Checks of the float64 AutoencoderKL reference: resnet/attention closed forms, shapes through the up/down
// paths, the asymmetric downsample padding and the latent un-scaling of decodeLatents64.
import { describe, expect, it } from 'vitest';
import { type Tensor64, add64, conv2d64, linear64, reshape64, stack64, transpose2d64, groupNorm64 } from '../../../engine/reference/tensor64.js';
import {
  decodeLatents64,
  toUint8Image64,
  vaeAttention64,
  vaeDecode64,
  vaeDownsample64,
  vaeEncode64,
  vaeMidBlock64,
  vaeResnet64,
  vaeUpsample64,
} from '../../../engine/reference/vae.js';
import { TINY_VAE, expectClose, makeRng, randn64, randomVaeWeights, zerosLike } from './fixtures.js';

const cfg = TINY_VAE;
const w = randomVaeWeights(cfg, 3);

describe('vae blocks', () => {
  it('resnet with zero conv2 is the identity (same channels) or the 1x1 shortcut (channel change)', () => {
    const x = randn64(makeRng(1), [8, 3, 5]);
    const p = 'decoder.mid_block.resnets.0';
    const w0 = new Map(w);
    w0.set(`${p}.conv2.weight`, zerosLike(w.get(`${p}.conv2.weight`)!));
    w0.set(`${p}.conv2.bias`, zerosLike(w.get(`${p}.conv2.bias`)!));
    expectClose(vaeResnet64(w0, p, x, cfg.normNumGroups), x, 0);
    // decoder.up_blocks.1.resnets.0 goes 8 -> 4 channels through conv_shortcut
    const q = 'decoder.up_blocks.1.resnets.0';
    w0.set(`${q}.conv2.weight`, zerosLike(w.get(`${q}.conv2.weight`)!));
    w0.set(`${q}.conv2.bias`, zerosLike(w.get(`${q}.conv2.bias`)!));
    const got = vaeResnet64(w0, q, x, cfg.normNumGroups);
    expectClose(got, conv2d64(x, w.get(`${q}.conv_shortcut.weight`)!, w.get(`${q}.conv_shortcut.bias`), { padding: 0 }), 1e-14);
  });

  it('resnet matches norm1-silu-conv1-norm2-silu-conv2 + x', () => {
    const x = randn64(makeRng(2), [8, 3, 4]);
    const p = 'decoder.mid_block.resnets.1';
    const g = (n: string) => w.get(`${p}.${n}`)!;
    const silu = (t: Tensor64): Tensor64 => ({ shape: t.shape, data: t.data.map((v) => v / (1 + Math.exp(-v))) });
    let h: Tensor64 = silu(groupNorm64(x, 2, 1e-6, g('norm1.weight'), g('norm1.bias')));
    h = conv2d64(h, g('conv1.weight'), g('conv1.bias'), { padding: 1 });
    h = silu(groupNorm64(h, 2, 1e-6, g('norm2.weight'), g('norm2.bias')));
    h = conv2d64(h, g('conv2.weight'), g('conv2.bias'), { padding: 1 });
    expectClose(vaeResnet64(w, p, x, 2), add64(x, h), 1e-12);
  });

  it('attention with zero q/k weights gives x + out(mean of v) at every pixel', () => {
    const p = 'decoder.mid_block.attentions.0';
    const w0 = new Map(w);
    for (const n of ['to_q', 'to_k']) for (const s of ['weight', 'bias']) w0.set(`${p}.${n}.${s}`, zerosLike(w.get(`${p}.${n}.${s}`)!));
    const x = randn64(makeRng(3), [8, 2, 3]);
    const got = vaeAttention64(w0, p, x, 2);
    const n = groupNorm64(x, 2, 1e-6, w.get(`${p}.group_norm.weight`), w.get(`${p}.group_norm.bias`));
    const v = linear64(transpose2d64(reshape64(n, [8, 6])), w.get(`${p}.to_v.weight`)!, w.get(`${p}.to_v.bias`));
    const mean = new Float64Array(8);
    for (let i = 0; i < 6; i++) for (let c = 0; c < 8; c++) mean[c] += v.data[i * 8 + c] / 6;
    const o = linear64({ shape: [8], data: mean }, w.get(`${p}.to_out.0.weight`)!, w.get(`${p}.to_out.0.bias`));
    for (let c = 0; c < 8; c++) for (let i = 0; i < 6; i++) expect(got.data[c * 6 + i]).toBeCloseTo(x.data[c * 6 + i] + o.data[c], 12);
  });
});

describe('vae decoder / encoder', () => {
  it('decoder: [4, h, w] -> [3, 2h, 2w] for two blocks (one upsampler)', () => {
    const z = randn64(makeRng(4), [4, 3, 5]);
    const img = vaeDecode64(w, cfg, z);
    expect(img.shape).toEqual([3, 6, 10]);
    expect(img.data.every(Number.isFinite)).toBe(true);
  });

  it('encoder: pad right/bottom by one then stride-2 conv; moments have 2*latent channels', () => {
    const img = randn64(makeRng(5), [3, 6, 10]);
    const m = vaeEncode64(w, cfg, img);
    expect(m.shape).toEqual([8, 3, 5]);
    // odd size: 7x9 -> (7+1-3)/2+1 = 3, (9+1-3)/2+1 = 4
    expect(vaeEncode64(w, cfg, randn64(makeRng(6), [3, 7, 9])).shape).toEqual([8, 3, 4]);
  });

  it('downsampler: explicit zero pad (0,1,0,1) then an unpadded stride-2 conv', () => {
    const x = randn64(makeRng(7), [4, 5, 6]);
    const k = w.get('encoder.down_blocks.0.downsamplers.0.conv.weight')!;
    const b = w.get('encoder.down_blocks.0.downsamplers.0.conv.bias')!;
    const padded = new Float64Array(4 * 6 * 7);
    for (let c = 0; c < 4; c++) for (let i = 0; i < 5; i++) for (let j = 0; j < 6; j++) padded[(c * 6 + i) * 7 + j] = x.data[(c * 5 + i) * 6 + j];
    const want = conv2d64({ shape: [4, 6, 7], data: padded }, k, b, { stride: 2 });
    expect(want.shape).toEqual([4, 2, 3]); // (5+1-3)//2+1, (6+1-3)//2+1
    expectClose(vaeDownsample64(w, 'encoder.down_blocks.0.downsamplers.0', x), want, 1e-14);
  });

  it('upsampler: each pixel copied to a 2x2 block, then a padded 3x3 conv', () => {
    const x = randn64(makeRng(10), [8, 2, 3]);
    const up = new Float64Array(8 * 4 * 6);
    for (let c = 0; c < 8; c++) for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) up[(c * 4 + i) * 6 + j] = x.data[(c * 2 + (i >> 1)) * 3 + (j >> 1)];
    const p = 'decoder.up_blocks.0.upsamplers.0.conv';
    const want = conv2d64({ shape: [8, 4, 6], data: up }, w.get(`${p}.weight`)!, w.get(`${p}.bias`), { padding: 1 });
    expectClose(vaeUpsample64(w, 'decoder.up_blocks.0.upsamplers.0', x), want, 1e-13);
  });

  it('encoder and decoder follow the diffusers block order', () => {
    const silu = (t: Tensor64): Tensor64 => ({ shape: t.shape, data: t.data.map((v) => v / (1 + Math.exp(-v))) });
    const conv = (name: string, t: Tensor64, pad = 1) => conv2d64(t, w.get(`${name}.weight`)!, w.get(`${name}.bias`), { padding: pad });
    const gn = (name: string, t: Tensor64) => groupNorm64(t, 2, 1e-6, w.get(`${name}.weight`), w.get(`${name}.bias`));
    const img = randn64(makeRng(11), [3, 4, 6]);
    let e = conv('encoder.conv_in', img);
    e = vaeResnet64(w, 'encoder.down_blocks.0.resnets.0', e, 2);
    e = vaeDownsample64(w, 'encoder.down_blocks.0.downsamplers.0', e);
    e = vaeResnet64(w, 'encoder.down_blocks.1.resnets.0', e, 2);
    e = vaeMidBlock64(w, 'encoder.mid_block', e, 2);
    e = conv('encoder.conv_out', silu(gn('encoder.conv_norm_out', e)));
    expectClose(vaeEncode64(w, cfg, img), e, 1e-12);
    const z = randn64(makeRng(12), [4, 2, 3]);
    let d = conv('decoder.conv_in', z);
    d = vaeMidBlock64(w, 'decoder.mid_block', d, 2);
    d = vaeResnet64(w, 'decoder.up_blocks.0.resnets.0', d, 2);
    d = vaeResnet64(w, 'decoder.up_blocks.0.resnets.1', d, 2);
    d = vaeUpsample64(w, 'decoder.up_blocks.0.upsamplers.0', d);
    d = vaeResnet64(w, 'decoder.up_blocks.1.resnets.0', d, 2);
    d = vaeResnet64(w, 'decoder.up_blocks.1.resnets.1', d, 2);
    d = conv('decoder.conv_out', silu(gn('decoder.conv_norm_out', d)));
    expectClose(vaeDecode64(w, cfg, z), d, 1e-12);
  });

  it('decodeLatents64 decodes z / scaling_factor + shift_factor frame by frame', () => {
    const lat = randn64(makeRng(8), [1, 2, 4, 2, 3]);
    const out = decodeLatents64(w, cfg, lat);
    expect(out.shape).toEqual([2, 3, 4, 6]);
    const frames = [0, 1].map((f) => {
      const z = { shape: [4, 2, 3], data: lat.data.slice(f * 24, (f + 1) * 24).map((v) => v / 1.5305 + 0.0609) };
      return vaeDecode64(w, cfg, z);
    });
    expectClose(out, stack64(frames), 1e-13);
  });

  it('post_quant_conv is applied when present', () => {
    const cfgQ = { ...cfg, usePostQuantConv: true };
    const wq = randomVaeWeights(cfgQ, 3, { encoder: false, decoder: true });
    const z = randn64(makeRng(9), [4, 2, 2]);
    const pq = conv2d64(z, wq.get('post_quant_conv.weight')!, wq.get('post_quant_conv.bias'), { padding: 0 });
    expectClose(vaeDecode64(wq, cfgQ, z), vaeDecode64(wq, { ...cfgQ, usePostQuantConv: false }, pq), 1e-13);
  });

  it('toUint8Image64 maps [-1, 1] to 0..255 with clamping and rounding', () => {
    expect(Array.from(toUint8Image64({ shape: [5], data: Float64Array.of(-2, -1, 0, 0.5, 3) }))).toEqual([0, 0, 128, 191, 255]);
  });
});
