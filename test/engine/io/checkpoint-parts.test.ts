// Opening a checkpoint for some parts only (openCheckpointParts): a transformer or VAE folder on its own, a
// model_index.json that lists only some components, a folder without model_index.json; each part opened and
// validated alone (broken other parts are never read); and errors that name the missing part and a layout that works.
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint, type TinyCheckpoint } from '../../../engine/io/make-tiny.js';
import {
  MissingCheckpointPartError, openCheckpoint, openCheckpointParts, requirePart, validateCheckpointParts, validateTransformer,
  type CheckpointPart, type PartialCheckpoint,
} from '../../../engine/io/checkpoint.js';
import { openSafetensors, writeSafetensors, type WriteTensor } from '../../../engine/io/safetensors.js';
import { partialBackendInfo } from '../../../engine/pipeline/backend-info.js';
import { parseVaeConfig } from '../../../engine/io/configs.js';
import { vaeKeys } from '../../../engine/io/keys.js';

let root = '';
let tiny: TinyCheckpoint;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ckpt-parts-'));
  tiny = await makeTinyCheckpoint(join(root, 'full'), { seed: 21 });
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** A copy of the tiny checkpoint's `sub` folder (or the whole checkpoint for ''), with `drop` removed. */
async function copyOf(sub: string, drop: string[] = []): Promise<string> {
  const dir = join(root, `v${n++}`);
  await cp(join(tiny.dir, sub), dir, { recursive: true });
  for (const d of drop) await rm(join(dir, d), { recursive: true, force: true });
  return dir;
}

async function withParts<T>(dir: string, parts: CheckpointPart[], f: (c: PartialCheckpoint) => T | Promise<T>): Promise<T> {
  const c = await openCheckpointParts(dir, parts, '`test`');
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}

async function rewrite(path: string, edit: (m: Map<string, WriteTensor>) => void): Promise<void> {
  const r = await openSafetensors(path);
  const m = new Map<string, WriteTensor>();
  for (const k of r.keys()) {
    const t = await r.read(k);
    m.set(k, { dtype: t.dtype, shape: t.shape, data: t.bytes });
  }
  await r.close();
  edit(m);
  await writeSafetensors(path, m);
}

describe('a folder that holds one part', () => {
  it('a transformer folder itself (config.json + weights) opens and validates for the transformer', async () => {
    const dir = await copyOf('transformer');
    await withParts(dir, ['transformer'], (c) => {
      expect(c.layout).toBe('transformer');
      expect(c.transformer!.dir).toBe('');
      expect(c.transformer!.config).toEqual(tiny.transformer);
      expect([c.vae, c.textEncoder, c.textEncoder2, c.textEncoder3, c.scheduler]).toEqual([undefined, undefined, undefined, undefined, undefined]);
      expect(validateCheckpointParts(c, ['transformer']).transformer!.numLayers).toBe(tiny.transformer.num_layers);
      expect(validateTransformer(c.transformer!).D).toBe(tiny.transformer.num_attention_heads * tiny.transformer.attention_head_dim);
    });
  });

  it('a sharded transformer folder itself opens too', async () => {
    const sh = await makeTinyCheckpoint(join(root, 'sharded'), { seed: 21, transformerShards: 3 });
    const dir = join(root, `v${n++}`);
    await cp(join(sh.dir, 'transformer'), dir, { recursive: true });
    await withParts(dir, ['transformer'], (c) => {
      expect(c.transformer!.weights.name).toBe('diffusion_pytorch_model.safetensors.index.json');
      validateCheckpointParts(c, ['transformer']);
    });
  });

  it('a VAE folder itself opens for the VAE', async () => {
    const dir = await copyOf('vae');
    await withParts(dir, ['vae'], (c) => {
      expect(c.layout).toBe('vae');
      expect(c.vae!.config).toEqual(tiny.vae);
      expect(validateCheckpointParts(c, ['vae']).vae).toEqual(tiny.vae);
      expect(partialBackendInfo(c, 'x')).toMatchObject({ latentChannels: tiny.vae.latent_channels, vaeScale: 2 ** (tiny.vae.block_out_channels.length - 1) });
      expect(partialBackendInfo(c, 'x').jointDim).toBeNaN();
    });
  });

  it('model_index.json listing only the transformer, with only transformer/ present', async () => {
    const dir = await copyOf('', ['vae', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'tokenizer', 'tokenizer_2', 'tokenizer_3', 'scheduler']);
    await writeFile(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'VchitectXLPipeline', transformer: ['diffusers', 'VchitectXLTransformerModel'] }));
    await withParts(dir, ['transformer'], (c) => {
      expect(c.layout).toBe('pipeline');
      expect(c.transformer!.dir).toBe('transformer');
      validateCheckpointParts(c, ['transformer']);
    });
  });

  it('text encoders and tokenizers without model_index.json, transformer or VAE, with sizes from the encoders', async () => {
    const dir = await copyOf('', ['model_index.json', 'transformer', 'vae', 'scheduler']);
    await withParts(dir, ['text'], (c) => {
      expect([!!c.textEncoder, !!c.textEncoder2, !!c.textEncoder3]).toEqual([true, true, true]);
      expect(c.tokenizerDirs).toEqual({ tokenizer: 'tokenizer', tokenizer_2: 'tokenizer_2', tokenizer_3: 'tokenizer_3' });
      validateCheckpointParts(c, ['text']);
      // the widths the transformer of the same checkpoint was validated against
      expect(partialBackendInfo(c, 'x')).toMatchObject({ jointDim: tiny.transformer.joint_attention_dim, pooledDim: tiny.transformer.pooled_projection_dim });
    });
    // T5 is optional
    await rm(join(dir, 'text_encoder_3'), { recursive: true });
    await rm(join(dir, 'tokenizer_3'), { recursive: true });
    await withParts(dir, ['text'], (c) => expect(c.textEncoder3).toBeUndefined());
  });
});

describe('each part is read and validated alone', () => {
  it('broken text encoders, VAE and scheduler do not stop the transformer; they do stop their own part', async () => {
    const dir = await copyOf('');
    await writeFile(join(dir, 'text_encoder/config.json'), '{ not json');
    await rm(join(dir, 'text_encoder_2/model.safetensors'));
    await writeFile(join(dir, 'scheduler/scheduler_config.json'), '{"_class_name": "DDIMScheduler"}');
    await rewrite(join(dir, 'vae/diffusion_pytorch_model.safetensors'), (m) => { m.delete('decoder.conv_out.bias'); });
    await withParts(dir, ['transformer'], (c) => {
      expect(c.textEncoder).toBeUndefined();
      expect(validateCheckpointParts(c, ['transformer']).transformer).toBeDefined();
    });
    await expect(openCheckpointParts(dir, ['text'])).rejects.toThrow(/text_encoder\/config.json: invalid JSON/);
    await expect(openCheckpointParts(dir, ['scheduler'])).rejects.toThrow(/_class_name is "DDIMScheduler"/);
    await withParts(dir, ['vae'], (c) => {
      expect(() => validateCheckpointParts(c, ['vae'])).toThrow(/missing key decoder.conv_out.bias/);
      expect(() => validateCheckpointParts(c, ['transformer'])).not.toThrow(); // vae opened but not asked for: not checked
    });
  });

  it('cross-part sizes are checked only between the parts validated', async () => {
    const dir = await copyOf('');
    const f = join(dir, 'vae/config.json');
    const o = JSON.parse(await readFile(f, 'utf8'));
    const cfg4 = parseVaeConfig({ ...o, latent_channels: 4 });
    await writeFile(f, JSON.stringify({ ...o, latent_channels: 4 }));
    // a VAE with 4 latent channels: every tensor in the shapes vaeKeys gives for it
    await rewrite(join(dir, 'vae/diffusion_pytorch_model.safetensors'), (m) => {
      m.clear();
      for (const k of vaeKeys(cfg4)) m.set(k.key, { dtype: 'F32', shape: k.shape, data: new Float32Array(k.shape.reduce((a, b) => a * b, 1)).fill(0.01) });
    });
    await withParts(dir, ['transformer', 'vae'], (c) => {
      expect(() => validateCheckpointParts(c, ['vae'])).not.toThrow();
      expect(() => validateCheckpointParts(c, ['transformer'])).not.toThrow();
      expect(() => validateCheckpointParts(c, ['transformer', 'vae'])).toThrow(/vae latent_channels 4 != transformer in_channels 16/);
    });
  });
});

describe('a missing part is named with a layout that works', () => {
  it('a stage on a folder that is another part', async () => {
    const t = await copyOf('transformer');
    const err = await openCheckpointParts(t, ['vae'], '`parallax decode`').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingCheckpointPartError);
    expect((err as Error).message).toMatch(/`parallax decode` needs the VAE, but .* is a transformer folder \(config.json \+ weights, no model_index.json\), without the VAE\. A folder that works has vae\/ \(config.json \+ diffusion_pytorch_model.safetensors\), or is the VAE folder itself\./);
    const v = await copyOf('vae');
    await expect(openCheckpointParts(v, ['transformer'], '`parallax forward`')).rejects.toThrow(/`parallax forward` needs the transformer, but .* is a VAE folder.*transformer\/ \(config.json \+ diffusion_pytorch_model.safetensors.*or is the transformer folder itself/);
    await expect(openCheckpointParts(v, ['text'], '`parallax encode-text`')).rejects.toThrow(/needs the text encoders, but .* is a VAE folder.*text_encoder\/ and text_encoder_2\/.*tokenizer\/ and tokenizer_2\//);
  });

  it('generate (every part) names each missing folder and no single-folder alternative', async () => {
    const dir = await copyOf('', ['vae', 'text_encoder_2', 'tokenizer_2', 'scheduler']);
    const err = (await openCheckpoint(dir).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(MissingCheckpointPartError);
    expect(err.message).toMatch(/needs the text encoders, the transformer, the VAE and the scheduler, but .* lacks text_encoder_2\/ \(no text_encoder_2\/config.json, though model_index.json lists it\), tokenizer_2\/ \(no tokenizer_2\/tokenizer_config.json\), vae\/ \(no vae\/config.json, though model_index.json lists it\), scheduler\/ \(no scheduler\/scheduler_config.json\)\./);
    expect(err.message).not.toMatch(/folder itself/);
    const t = await copyOf('transformer');
    await expect(openCheckpoint(t)).rejects.toThrow(/is a transformer folder .*without the text encoders, the VAE and the scheduler/);
  });

  it('null in model_index.json, or listed there but absent', async () => {
    const dir = await copyOf('', ['text_encoder_3']);
    const idx = join(dir, 'model_index.json');
    const o = JSON.parse(await readFile(idx, 'utf8'));
    await expect(openCheckpointParts(dir, ['text'])).rejects.toThrow(/lacks text_encoder_3\/ \(no text_encoder_3\/config.json, though model_index.json lists it\)/);
    await writeFile(idx, JSON.stringify({ ...o, text_encoder_3: [null, null], vae: [null, null] }));
    await withParts(dir, ['text'], (c) => expect(c.textEncoder3).toBeUndefined());
    await expect(openCheckpointParts(dir, ['vae'], '`parallax decode`')).rejects.toThrow(/lacks vae\/ \(model_index.json marks it null\)/);
  });

  it('a folder with no checkpoint in it', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await expect(openCheckpointParts(empty, ['transformer'])).rejects.toThrow(/model_index.json not found, and .* has no config.json nor any of transformer\/, vae\//);
    await writeFile(join(empty, 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel' }));
    await expect(openCheckpointParts(empty, ['transformer'])).rejects.toThrow(/config.json is neither a Vchitect transformer's nor an AutoencoderKL's/);
  });

  it('requirePart names a part that was not opened', async () => {
    const t = await copyOf('transformer');
    await withParts(t, ['transformer'], (c) => {
      expect(requirePart(c, 'transformer', c.transformer)).toBe(c.transformer);
      expect(() => requirePart(c, 'vae', c.vae)).toThrow(/the VAE was not opened \(needs vae\//);
    });
  });
});
