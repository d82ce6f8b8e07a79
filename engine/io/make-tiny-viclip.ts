// Writes a tiny ViCLIP folder (what `data events/curate --event-embedder viclip --viclip-model DIR` loads,
// engine/model/viclip-vision.ts) with seeded random weights in the real checkpoint's layout: model.safetensors with
// the .pth's own keys (keys.ts: viclipVisionKeys, vision_encoder.*), plus `temp` and two text_encoder.* stand-ins
// (the real file holds the whole text tower: the loader must skip them), and config.json with the head count
// (the only size the weights cannot tell) unless the heads are 64 wide like the released models.
// The defaults are deliberately awkward: 30 px frames in 6 px patches, 8 frames, 3 heads of 12.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ViclipVisionConfig } from './configs.js';
import { viclipVisionKeys } from './keys.js';
import { tensorsFor } from './make-tiny.js';
import { writeSafetensors, type WriteTensor } from './safetensors.js';
import { SeededRandom } from './tiny-random.js';

export interface TinyViclipOptions {
  seed?: number;
  vision?: Partial<ViclipVisionConfig>;
  /** Write config.json (default: only when hidden_size / num_attention_heads is not 64). */
  config?: boolean;
}

export async function makeTinyViclipModel(dir: string, opts: TinyViclipOptions = {}): Promise<ViclipVisionConfig> {
  const seed = opts.seed ?? 2468;
  const c: ViclipVisionConfig = { hidden_size: 36, num_hidden_layers: 2, num_attention_heads: 3, image_size: 30, patch_size: 6, num_frames: 8, projection_dim: 20, ...opts.vision };
  const rng = new SeededRandom(seed ^ 0x5eed);
  // The temporal embedding is zero-initialised in ViCLIP and learnt; give it a size that matters in tests.
  const extra = new Map([['vision_encoder.temporal_positional_embedding', rng.normals(c.num_frames * c.hidden_size, 0.5)]]);
  const tensors: [string, WriteTensor][] = [
    ...tensorsFor('viclip', viclipVisionKeys(c), 'F32', seed, extra),
    ['temp', { dtype: 'F32', shape: [], data: Float32Array.of(0.01) }],
    ['text_encoder.ln_final.weight', { dtype: 'F32', shape: [16], data: rng.normals(16, 0.1, 1) }],
    ['text_encoder.text_projection', { dtype: 'F32', shape: [16, c.projection_dim], data: rng.normals(16 * c.projection_dim, 0.25) }],
  ];
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  if (opts.config ?? c.hidden_size / c.num_attention_heads !== 64) {
    await writeFile(join(dir, 'config.json'), `${JSON.stringify({ num_attention_heads: c.num_attention_heads }, null, 2)}\n`);
  }
  return c;
}
