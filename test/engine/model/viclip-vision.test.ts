// ViCLIP's video encoder on the GPU against the float64 reference (ViCLIP's own token order, nn.MultiheadAttention's
// packed projections) on tiny random checkpoints in the real .pth layout (vision_encoder.*, plus temp and text_encoder.*
// that the loader skips): 8 frames of 30 px in 6 px patches with 3 heads of 12; 4 frames of 28 px in 7 px patches with
// 5 heads of 8 and 3 blocks. The frame order matters (temporal embedding); the config is read off the shapes (heads
// from config.json, else 64 wide); missing keys, wrong shapes, other checkpoints and missing files are named.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointValidationError } from '../../../engine/io/checkpoint.js';
import type { ViclipVisionConfig } from '../../../engine/io/configs.js';
import { viclipVisionKeys } from '../../../engine/io/keys.js';
import { tensorsFor } from '../../../engine/io/make-tiny.js';
import { makeTinyViclipModel } from '../../../engine/io/make-tiny-viclip.js';
import { writeSafetensors } from '../../../engine/io/safetensors.js';
import { openViclip, ViclipVisionModel } from '../../../engine/model/viclip-vision.js';
import { viclipVisionForward64 } from '../../../engine/reference/viclip-vision.js';
import { weights64 } from '../../helpers/clip-vision.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';
import { viclipConfig64 } from '../../helpers/viclip.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-viclip-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T = { rtol: 1e-4, atol: 1e-5 };

function randomVideo(c: ViclipVisionConfig, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: c.num_frames * 3 * c.image_size ** 2 }, () => (r() - 0.5) * 4);
}

/** The same frames in reverse time order. */
function reversed(c: ViclipVisionConfig, v: Float32Array): Float32Array {
  const f = 3 * c.image_size ** 2;
  const out = new Float32Array(v.length);
  for (let t = 0; t < c.num_frames; t++) out.set(v.subarray(t * f, (t + 1) * f), (c.num_frames - 1 - t) * f);
  return out;
}

describe('ViCLIP video encoder on the GPU vs the float64 reference', () => {
  const variants: [string, Partial<ViclipVisionConfig>][] = [
    ['8 frames of 30 px / 6 px patches, 3 heads of 12', {}],
    ['4 frames of 28 px / 7 px patches, 5 heads of 8, 3 blocks', { image_size: 28, patch_size: 7, hidden_size: 40, num_attention_heads: 5, num_hidden_layers: 3, num_frames: 4, projection_dim: 11 }],
  ];
  for (const [label, vision] of variants) {
    it(label, async () => {
      const device = await testDevice();
      const d = join(dir, label.replace(/\W+/g, '-'));
      const cfg = await makeTinyViclipModel(d, { seed: 3, vision });
      const model = await ViclipVisionModel.load(device, d);
      expect(model.config).toEqual(cfg);
      const w = await weights64(join(d, 'model.safetensors'));
      const video = randomVideo(cfg, cfg.image_size);
      const S = cfg.image_size;
      const run64 = (v: Float32Array) => viclipVisionForward64(w, viclipConfig64(cfg), { shape: [cfg.num_frames, 3, S, S], data: Float64Array.from(v) }).embeds.data;
      const got = await model.embed(video);
      const want = run64(video);
      expect(got.length).toBe(cfg.projection_dim);
      expectClose(got, want, T, `${label}`);
      // Reversed frames: another embedding (the temporal embedding tells the frames apart), still equal to the reference.
      const back = reversed(cfg, video);
      const gotBack = await model.embed(back);
      const wantBack = run64(back);
      expectClose(gotBack, wantBack, T, `${label} reversed`);
      expect(Math.max(...Array.from(wantBack, (x, i) => Math.abs(x - want[i]!)))).toBeGreaterThan(1e-2);
      await expect(model.embed(new Float32Array(5))).rejects.toThrow(`5 values; expected ${cfg.num_frames} frames x 3 x ${S} x ${S}`);
      model.dispose();
    });
  }
});

describe('ViCLIP config and loader errors', () => {
  it('reads the sizes off the weights: heads of 64 without config.json, else an error that says to write one', async () => {
    const d = join(dir, 'wide');
    const cfg = await makeTinyViclipModel(d, { seed: 4, vision: { hidden_size: 128, num_attention_heads: 2, num_hidden_layers: 1, num_frames: 3, image_size: 12, patch_size: 4 }, config: false });
    const { config, weights } = await openViclip(d);
    await weights.close();
    expect(config).toEqual(cfg);
    const n = join(dir, 'narrow');
    await makeTinyViclipModel(n, { seed: 4, config: false });
    await expect(openViclip(n)).rejects.toThrow('cannot tell the attention head count (hidden_size 36 is not a multiple of 64');
    await expect(openViclip(n)).rejects.toThrow('put {"num_attention_heads": N} in config.json');
    await writeFile(join(n, 'config.json'), '{"num_attention_heads": 5}');
    await expect(openViclip(n)).rejects.toThrow('hidden_size 36 is not divisible by num_attention_heads 5');
    await writeFile(join(n, 'config.json'), '{"num_attention_heads": "three"}');
    await expect(openViclip(n)).rejects.toThrow('config.json: field "num_attention_heads" must be a number');
  });

  it('names missing keys, wrong shapes, stray vision keys, other checkpoints and missing files', async () => {
    const device = await testDevice();
    const d = join(dir, 'broken');
    const cfg = await makeTinyViclipModel(d, { seed: 5 });
    const full = tensorsFor('viclip', viclipVisionKeys(cfg), 'F32', 5);
    const fail = async (want: string) => {
      const e = await ViclipVisionModel.load(device, d).then(() => null, (x: Error) => x);
      expect(e, want).toBeInstanceOf(CheckpointValidationError);
      expect(e!.message).toContain(want);
    };
    await writeSafetensors(join(d, 'model.safetensors'), full.filter(([k]) => k !== 'vision_encoder.transformer.resblocks.1.ln_2.bias'), { format: 'pt' });
    await fail('missing key vision_encoder.transformer.resblocks.1.ln_2.bias (expected shape [36])');
    // A packed projection of the wrong size.
    await writeSafetensors(join(d, 'model.safetensors'), full.map(([k, t]) => (k.endsWith('resblocks.0.attn.in_proj_weight') ? [k, { ...t, shape: [36, 108], data: t.data }] : [k, t])), { format: 'pt' });
    await fail('key vision_encoder.transformer.resblocks.0.attn.in_proj_weight has shape [36,108], expected [108,36]');
    // config.json says 16 frames, the temporal embedding has 8.
    await writeSafetensors(join(d, 'model.safetensors'), full, { format: 'pt' });
    await writeFile(join(d, 'config.json'), '{"num_attention_heads": 3, "num_frames": 16}');
    await fail('key vision_encoder.temporal_positional_embedding has shape [1,8,36], expected [1,16,36]');
    await writeFile(join(d, 'config.json'), '{"num_attention_heads": 3}');
    // A stray block-like key and an HF CLIP file passed by mistake.
    await writeSafetensors(join(d, 'model.safetensors'), [...full, ['vision_encoder.transformer.resblocks.0.attn.q_proj.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) }]], { format: 'pt' });
    await fail('unexpected key vision_encoder.transformer.resblocks.0.attn.q_proj.weight');
    await writeSafetensors(join(d, 'model.safetensors'), [['vision_model.embeddings.class_embedding', { dtype: 'F32', shape: [4], data: new Float32Array(4) }]], { format: 'pt' });
    await fail('no vision_encoder.* keys: not a ViCLIP checkpoint');
    await rm(join(d, 'model.safetensors'));
    await expect(ViclipVisionModel.load(device, d)).rejects.toThrow('no model.safetensors (or model.safetensors.index.json); convert ViClip-InternVid-10M-FLT.pth');
  });
});
