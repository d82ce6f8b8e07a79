// The GPU CLIP image tower (CLIPVisionModelWithProjection) against the float64 reference on tiny random checkpoints
// in HF's layout (awkward sizes: 30 px images in 6 px patches, 3 heads of 12; 28 px in 7 px patches, 5 heads of 8,
// gelu), the LAION aesthetic scorer end to end against preprocessing + reference + the MLP run layer by layer, and
// the loader's errors for missing keys, wrong shapes and missing files.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipPreprocess } from '../../../engine/data/clip-preprocess.js';
import { loadLaionAesthetic } from '../../../engine/data/aesthetic-model.js';
import type { ClipVisionConfig } from '../../../engine/io/configs.js';
import { aestheticHeadKeys, clipVisionKeys } from '../../../engine/io/keys.js';
import { makeTinyAestheticModel } from '../../../engine/io/make-tiny-aesthetic.js';
import { tensorsFor } from '../../../engine/io/make-tiny.js';
import { openSafetensors, writeSafetensors } from '../../../engine/io/safetensors.js';
import { ClipVisionModel, openClipVision } from '../../../engine/model/clip-vision.js';
import { clipVisionForward64, type ClipVisionConfig64 } from '../../../engine/reference/clip-vision.js';
import type { ClipActivation } from '../../../engine/reference/clip.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng } from '../../helpers/random.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-clip-vision-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function weights64(path: string): Promise<Map<string, Tensor64>> {
  const r = await openSafetensors(path);
  const m = new Map<string, Tensor64>();
  for (const k of r.keys()) if (r.info(k).dtype !== 'I64') m.set(k, { shape: [...r.info(k).shape], data: Float64Array.from(await r.readFloat32(k)) });
  await r.close();
  return m;
}

const config64 = (c: ClipVisionConfig): ClipVisionConfig64 => ({
  hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numLayers: c.num_hidden_layers, heads: c.num_attention_heads,
  imageSize: c.image_size, patchSize: c.patch_size, projectionDim: c.projection_dim, hiddenAct: c.hidden_act as ClipActivation, layerNormEps: c.layer_norm_eps,
});

const T = { rtol: 1e-4, atol: 1e-5 };

describe('CLIP vision tower on the GPU vs the float64 reference', () => {
  const variants: [string, Partial<ClipVisionConfig>][] = [
    ['30 px / 6 px patches, 3 heads of 12, quick_gelu', {}],
    ['28 px / 7 px patches, 5 heads of 8, gelu, 3 layers', { image_size: 28, patch_size: 7, hidden_size: 40, num_attention_heads: 5, intermediate_size: 36, num_hidden_layers: 3, projection_dim: 11, hidden_act: 'gelu' }],
  ];
  for (const [label, vision] of variants) {
    it(label, async () => {
      const device = await testDevice();
      const d = join(dir, label.replace(/\W+/g, '-'));
      const cfg = await makeTinyAestheticModel(d, { seed: 3, vision });
      const model = await ClipVisionModel.load(device, d);
      const w = await weights64(join(d, 'model.safetensors'));
      const r = rng(cfg.image_size);
      for (let k = 0; k < 2; k++) {
        const px = Float32Array.from({ length: 3 * cfg.image_size ** 2 }, () => (r() - 0.5) * 4);
        const got = await model.embed(px);
        const want = clipVisionForward64(w, config64(cfg), { shape: [3, cfg.image_size, cfg.image_size], data: Float64Array.from(px) });
        expect(got.length).toBe(cfg.projection_dim);
        expectClose(got, want.imageEmbeds.data, T, `${label} image ${k}`);
      }
      await expect(model.embed(new Float32Array(5))).rejects.toThrow(`5 values; expected 3 x ${cfg.image_size} x ${cfg.image_size}`);
      model.dispose();
    });
  }

  it('aesthetic scorer: preprocessing, tower, L2 norm and the MLP (run layer by layer in float64) on 37 x 23 frames', async () => {
    const device = await testDevice();
    const d = join(dir, 'aes');
    const cfg = await makeTinyAestheticModel(d, { seed: 9 });
    const { scorer, model } = await loadLaionAesthetic(device, d);
    const size = scorer.frameSize!(37, 23);
    expect(size).toEqual({ width: 37, height: 23 });
    const r = rng(77);
    const frames = [0, 1, 2].map(() => Uint8Array.from({ length: 37 * 23 * 3 }, () => Math.floor(r() * 256)));
    const got = await scorer.score(frames, size);
    const w = await weights64(join(d, 'model.safetensors'));
    const head = await weights64(join(d, 'aesthetic.safetensors'));
    const want = frames.map((f) => {
      const e = clipVisionForward64(w, config64(cfg), { shape: [3, 30, 30], data: Float64Array.from(clipPreprocess(f, 37, 23, 30)) }).imageEmbeds.data;
      const n = Math.hypot(...e);
      let x = Array.from(e, (v) => v / n);
      for (const id of [0, 2, 4, 6, 7]) {
        const W = head.get(`layers.${id}.weight`)!, b = head.get(`layers.${id}.bias`)!;
        const [o, i] = W.shape as [number, number];
        x = Array.from({ length: o }, (_, r2) => x.reduce((s, v, c) => s + v * W.data[r2 * i + c]!, b.data[r2]!));
      }
      return x[0]!;
    });
    expectClose(got, want, { rtol: 1e-4, atol: 1e-5 }, 'aesthetic scores');
    expect(new Set(got.map((v) => v.toFixed(6))).size).toBe(3);
    model.dispose();
  });
});

describe('CLIP vision / aesthetic loader errors', () => {
  it('names missing keys, wrong shapes and missing files', async () => {
    const device = await testDevice();
    const d = join(dir, 'broken');
    const cfg = await makeTinyAestheticModel(d, { seed: 5 });
    await expect(openClipVision(join(dir, 'nowhere'))).rejects.toThrow('no config.json');
    // a missing key
    const full = tensorsFor('clip_vision', clipVisionKeys(cfg), 'F32', 5);
    await writeSafetensors(join(d, 'model.safetensors'), full.filter(([k]) => k !== 'vision_model.encoder.layers.1.mlp.fc2.bias'), { format: 'pt' });
    await expect(ClipVisionModel.load(device, d)).rejects.toThrow('missing key vision_model.encoder.layers.1.mlp.fc2.bias (expected shape [36])');
    // weights of another size than config.json says
    const other = tensorsFor('clip_vision', clipVisionKeys({ ...cfg, intermediate_size: 40 }), 'F32', 5);
    await writeSafetensors(join(d, 'model.safetensors'), other, { format: 'pt' });
    await expect(ClipVisionModel.load(device, d)).rejects.toThrow('key vision_model.encoder.layers.0.mlp.fc1.weight has shape [40,36], expected [52,36]');
    // a head for another embedding size, then no head at all
    await writeSafetensors(join(d, 'model.safetensors'), full, { format: 'pt' });
    await writeSafetensors(join(d, 'aesthetic.safetensors'), tensorsFor('aesthetic', aestheticHeadKeys(24), 'F32', 5), { format: 'pt' });
    await expect(loadLaionAesthetic(device, d)).rejects.toThrow('key layers.0.weight has shape [1024,24], expected [1024,20] (the CLIP projection_dim is 20)');
    await rm(join(d, 'aesthetic.safetensors'));
    await expect(loadLaionAesthetic(device, d)).rejects.toThrow('no aesthetic.safetensors');
    await rm(join(d, 'model.safetensors'));
    await expect(ClipVisionModel.load(device, d)).rejects.toThrow('no model.safetensors');
  });
});
