// Writes a tiny LAION aesthetic model folder (what `curate --aesthetic-model DIR` loads, engine/data/aesthetic-model.ts)
// with seeded random weights in the real layouts: config.json of a CLIPVisionModelWithProjection, model.safetensors
// with HF's vision keys (keys.ts: clipVisionKeys), aesthetic.safetensors with the MLP's layers.{0,2,4,6,7}.
// Sizes come from the options; the defaults are deliberately awkward (image 30 with patch 6, 3 heads of 12).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClipVisionConfig } from './configs.js';
import { aestheticHeadKeys, clipVisionKeys } from './keys.js';
import { tensorsFor } from './make-tiny.js';
import { writeSafetensors } from './safetensors.js';

export interface TinyAestheticOptions {
  seed?: number;
  vision?: Partial<ClipVisionConfig>;
}

export async function makeTinyAestheticModel(dir: string, opts: TinyAestheticOptions = {}): Promise<ClipVisionConfig> {
  const seed = opts.seed ?? 4321;
  const config: ClipVisionConfig = {
    hidden_size: 36, intermediate_size: 52, num_hidden_layers: 2, num_attention_heads: 3, num_channels: 3, image_size: 30,
    patch_size: 6, projection_dim: 20, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, ...opts.vision,
  };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify({ architectures: ['CLIPVisionModelWithProjection'], model_type: 'clip_vision_model', torch_dtype: 'float32', attention_dropout: 0, initializer_factor: 1, initializer_range: 0.02, ...config }, null, 2)}\n`);
  await writeSafetensors(join(dir, 'model.safetensors'), tensorsFor('clip_vision', clipVisionKeys(config), 'F32', seed), { format: 'pt' });
  await writeSafetensors(join(dir, 'aesthetic.safetensors'), tensorsFor('aesthetic', aestheticHeadKeys(config.projection_dim), 'F32', seed), { format: 'pt' });
  return config;
}
