// The frozen half of training, computed once and cached on disk (OUT/cache/): every clip's VAE latents and every
// unique caption's (and the empty prompt's) text conditioning, as safetensors. Latents are the posterior mean of each
// frame, (mean - shift_factor) * scaling_factor (VaeModel.encodeLatent; decodeFrames inverts it), [F, C, h, w].
// Keys: a clip's file is named by SHA-256 of (the VAE folder, the clip file's bytes, its frame size), a caption's by
// (the text encoders, tokenizers and transformer config, the caption), so a changed VAE, clip or size rebuilds just
// what changed. Files are written via a temporary name. Errors name the meta file, its line and the clip.
// Extra prompts (the sample grids' prompts) are encoded and cached the same way in the same pass, but are not part
// of the fingerprint or the stats (sampling on or off does not change what --resume compares).

import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Device } from '../gpu/device.js';
import type { Checkpoint } from '../io/checkpoint.js';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';
import { VaeModel } from '../model/vae.js';
import { GpuTextEncoders } from '../pipeline/gpu-text-encoders.js';
import { vaeScaleFactor } from '../pipeline/reference-configs.js';
import { Tensor } from '../tensor.js';
import { fileFingerprint, textFingerprint, treeFingerprint } from './fingerprint.js';
import { decodeTrainClip } from './frame-cache.js';
import type { TrainClip } from './train-meta.js';

export interface CachedClip {
  clip: TrainClip;
  file: string;
  /** Latent frames F and their shape [F, C, h, w]. */
  shape: [number, number, number, number];
  /** Index into TrainCache.texts of its caption. */
  text: number;
}

export interface CachedText {
  text: string;
  file: string;
}

export interface TrainCache {
  clips: CachedClip[];
  /** texts[0] is the empty prompt (caption dropout). */
  texts: CachedText[];
  /** BuildCacheOptions.extraPrompts' conditioning, in their order (a caption's entry is its texts[] entry). */
  extra: CachedText[];
  /** SHA-256 over every clip's and caption's cache key, in table order: what --resume compares. */
  fingerprint: string;
  stats: { clipsEncoded: number; clipsReused: number; textsEncoded: number; textsReused: number };
}

export interface CacheProgress {
  (done: number, total: number, what: string): void;
}

export interface BuildCacheOptions {
  device: Device;
  ckpt: Checkpoint;
  /** Model folder (fingerprinted). */
  model: string;
  /** Meta file (for messages). */
  meta: string;
  dir: string;
  onProgress?: CacheProgress;
  /** More prompts to encode and cache (e.g. the sample prompts): in TrainCache.extra, not in the fingerprint or stats. */
  extraPrompts?: readonly string[];
}

const exists = async (p: string) => !!(await stat(p).catch(() => null));

/** Frame sizes the VAE and the transformer take: multiples of VAE scale x patch, patches within the position table. */
export function checkClipSize(c: TrainClip, ckpt: Checkpoint, meta: string): void {
  const s = vaeScaleFactor(ckpt.vae.config);
  const p = ckpt.transformer.config.patch_size;
  const M = ckpt.transformer.config.pos_embed_max_size;
  const m = s * p;
  const ok = (v: number) => v % m === 0 && v / m <= M;
  if (!ok(c.width) || !ok(c.height)) {
    const fit = (v: number) => Math.max(m, Math.min(m * M, Math.round(v / m) * m));
    const [sw, sh] = [fit(c.width), fit(c.height)];
    const sz = `${sw}x${sh}`;
    throw new Error(`${c.where}: clip ${c.rel} is ${c.width}x${c.height}; this model needs width and height that are multiples of ${m} (VAE x${s} times patch ${p}) and at most ${m * M} (pos_embed_max_size ${M}); re-export the clips at a size like ${sz} (\`parallax data curate ... --export-size ${sz}\`; \`parallax data synth --width ${sw} --height ${sh}\`)`);
  }
}

async function writeAtomic(path: string, tensors: Record<string, { shape: number[]; data: Float32Array }>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeSafetensors(tmp, Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }])));
  await rename(tmp, path);
}

/** RGB bytes (H x W x 3) -> planar [3, H, W] in [-1, 1]. */
export function rgbToPlanar(rgb: Uint8Array, height: number, width: number): Float32Array {
  const n = height * width;
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = rgb[3 * i + c]! / 127.5 - 1;
  return out;
}

/** Builds (or reuses) the latent and text caches of the clips. */
export async function buildTrainCache(clips: readonly TrainClip[], o: BuildCacheOptions): Promise<TrainCache> {
  const latDir = join(o.dir, 'latents');
  const txtDir = join(o.dir, 'text');
  await mkdir(latDir, { recursive: true });
  await mkdir(txtDir, { recursive: true });
  for (const c of clips) checkClipSize(c, o.ckpt, o.meta);
  const vaeKey = await treeFingerprint(o.model, ['vae']);
  const textKey = await treeFingerprint(o.model, ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'tokenizer', 'tokenizer_2', 'tokenizer_3', 'transformer/config.json']);
  const stats = { clipsEncoded: 0, clipsReused: 0, textsEncoded: 0, textsReused: 0 };
  const captions = ['', ...new Set(clips.map((c) => c.text).filter((t) => t !== ''))];
  const captionIndex = new Map(captions.map((t, i) => [t, i]));
  const total = clips.length + captions.length;
  let done = 0;
  const tick = (what: string) => o.onProgress?.(++done, total, what);

  // latents
  let vae: VaeModel | undefined;
  const cached: CachedClip[] = [];
  const keys: string[] = [];
  try {
    for (const c of clips) {
      if (!(await exists(c.path))) throw new Error(`${c.where}: clip ${c.rel} not found (${c.path})`);
      const key = textFingerprint(`${vaeKey}\n${await fileFingerprint(c.path)}\n${c.width}x${c.height}`);
      keys.push(key);
      const file = join(latDir, `${key.slice(0, 32)}.safetensors`);
      let shape: [number, number, number, number] | undefined;
      if (await exists(file)) {
        const r = await openSafetensors(file).catch(() => null);
        if (r?.has('latents')) shape = r.info('latents').shape as [number, number, number, number];
        await r?.close();
      }
      if (shape) stats.clipsReused++;
      else {
        vae ??= await VaeModel.load(o.device, o.ckpt.vae, { dtype: 'f32' });
        shape = await encodeClip(vae, c, o.meta, file);
        stats.clipsEncoded++;
      }
      cached.push({ clip: c, file, shape, text: captionIndex.get(c.text)! });
      tick(c.rel);
    }
  } finally {
    vae?.dispose();
  }

  // text: the captions, then the extra prompts that are not captions
  const extraOnly = [...new Set(o.extraPrompts ?? [])].filter((t) => !captionIndex.has(t));
  const enc = new GpuTextEncoders(o.device, o.ckpt, 'f32', o.ckpt.transformer.config.joint_attention_dim);
  const texts: CachedText[] = [];
  const extraFiles = new Map<string, CachedText>();
  const encodeOrReuse = async (t: string): Promise<{ key: string; file: string; encoded: boolean }> => {
    const key = textFingerprint(`${textKey}\n${t}`);
    const file = join(txtDir, `${key.slice(0, 32)}.safetensors`);
    if (await exists(file)) return { key, file, encoded: false };
    const e = await enc.encode(t);
    await writeAtomic(file, { context: { shape: [e.tokens, e.jointDim], data: e.promptEmbeds }, pooled: { shape: [e.pooled.length], data: e.pooled } });
    return { key, file, encoded: true };
  };
  try {
    for (const t of captions) {
      const { key, file, encoded } = await encodeOrReuse(t);
      keys.push(key);
      if (encoded) stats.textsEncoded++;
      else stats.textsReused++;
      texts.push({ text: t, file });
      tick(t === '' ? '(empty prompt)' : t);
    }
    for (const t of extraOnly) extraFiles.set(t, { text: t, file: (await encodeOrReuse(t)).file });
  } finally {
    await enc.dispose();
  }
  const extra = (o.extraPrompts ?? []).map((t) => (captionIndex.has(t) ? texts[captionIndex.get(t)!]! : extraFiles.get(t)!));
  return { clips: cached, texts, extra, fingerprint: textFingerprint(keys.join('\n')), stats };
}

async function encodeClip(vae: VaeModel, c: TrainClip, meta: string, file: string): Promise<[number, number, number, number]> {
  const { data, shape } = await encodeFramesToLatents(vae, await decodeTrainClip(c), c.height, c.width);
  await writeAtomic(file, { latents: { shape, data } });
  return shape;
}

/** RGB frames (interleaved, height x width) -> their VAE latents [F, C, h, w] (posterior mean, scaled as the cache stores them). */
export async function encodeFramesToLatents(vae: VaeModel, frames: readonly Uint8Array[], height: number, width: number): Promise<{ data: Float32Array; shape: [number, number, number, number] }> {
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (const f of frames) {
    const img = Tensor.from(vae.device, rgbToPlanar(f, height, width), [3, height, width], 'f32', 'frame');
    const lat = vae.encodeLatent(img);
    img.dispose();
    shape = [...lat.shape];
    parts.push(Float32Array.from(await lat.read()));
    lat.dispose();
  }
  const per = parts[0]!.length;
  const data = new Float32Array(per * parts.length);
  parts.forEach((p, i) => data.set(p, i * per));
  return { data, shape: [parts.length, shape[0]!, shape[1]!, shape[2]!] };
}

/** Reads a clip's cached latents [F, C, h, w] (frames start..start+count). */
export async function readClipLatents(c: CachedClip, start: number, count: number): Promise<Float32Array> {
  const r = await openSafetensors(c.file);
  try {
    const all = await r.readFloat32('latents');
    const per = c.shape[1] * c.shape[2] * c.shape[3];
    return all.slice(start * per, (start + count) * per);
  } finally {
    await r.close();
  }
}

/** Reads a cached text conditioning: context [T, J], pooled [P]. */
export async function readTextConditioning(t: CachedText): Promise<{ context: Float32Array; tokens: number; jointDim: number; pooled: Float32Array }> {
  const r = await openSafetensors(t.file);
  try {
    const [tokens, jointDim] = r.info('context').shape as [number, number];
    return { context: await r.readFloat32('context'), tokens, jointDim, pooled: await r.readFloat32('pooled') };
  } finally {
    await r.close();
  }
}
