// Sample grids from the training cache's text conditioning (samples.ts, train-cache.ts extraPrompts): on a 2-layer
// make-tiny checkpoint, the latents, the frames and the grid PNG's bytes equal what the previous path made (a
// GpuBackend with the checkpoint's text encoders and TextToVideoPipeline.generate), with and without guidance; the
// extra prompts leave the cache's fingerprint and stats as they were; the text encoders are not loaded (their
// tensors throw when read).
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device } from '../../../engine/gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { FLOAT_DTYPES } from '../../../engine/io/dtype.js';
import { MemoryWeights } from '../../../engine/io/memory-weights.js';
import type { WeightStore } from '../../../engine/io/sharded.js';
import type { TextConditioning } from '../../../engine/pipeline/backend.js';
import { GpuBackend } from '../../../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import { frameGrid, generateSamples, writeSamples, type SamplePrompt, type SampleSettings } from '../../../engine/train/samples.js';
import { buildTrainCache, readTextConditioning } from '../../../engine/train/train-cache.js';
import type { HostTensors } from '../../../engine/train/train-checkpoint.js';
import { readTrainClips } from '../../../engine/train/train-meta.js';
import { encodeRgbPng } from '../../../engine/video/png.js';
import { testDevice } from '../../helpers/gpu.js';
import { trainFixture, type TrainFixture } from '../../helpers/train-fixture.js';

let f: TrainFixture;
let device: Device;
let ckpt: Checkpoint;
let weights: HostTensors;
let prompts: SamplePrompt[];

beforeAll(async () => {
  f = await trainFixture('samples');
  device = await testDevice();
  ckpt = await openCheckpoint(f.model);
  weights = new Map();
  for (const k of ckpt.transformer.weights.keys()) {
    const info = ckpt.transformer.weights.info(k);
    if (!(FLOAT_DTYPES as readonly string[]).includes(info.dtype)) continue;
    // nudged away from the checkpoint's values: the samples must use these weights, not the folder's
    const data = await ckpt.transformer.weights.readFloat32(k);
    weights.set(k, { shape: [...info.shape], data: data.map((v, i) => v + 1e-3 * Math.sin(i)) });
  }
  const caption = (await readTrainClips(f.meta))[0]!.text;
  prompts = [{ text: 'a green triangle moving up on a black background', kind: 'heldout' }, { text: caption, kind: 'train' }];
}, 120_000);

afterAll(async () => {
  await ckpt?.close();
  await rm(f.dir, { recursive: true, force: true });
});

/** The sample grid as `parallax train` made it before: the checkpoint's text encoders inside TextToVideoPipeline.generate. */
async function oldWay(s: SampleSettings): Promise<{ latents: Float32Array; frames: Uint8Array[] }[]> {
  const c: Checkpoint = { ...ckpt, transformer: { ...ckpt.transformer, weights: new MemoryWeights('transformer (training)', weights) } };
  const pipe = new TextToVideoPipeline(await GpuBackend.create(c, { device }));
  try {
    const out = [];
    for (const p of prompts) {
      const r = await pipe.generate({ prompt: p.text, frames: s.frames, width: s.width, height: s.height, steps: s.steps, guidance: s.guidance, seed: s.seed });
      out.push({ latents: r.latents.data, frames: r.video.frames });
    }
    return out;
  } finally {
    await pipe.dispose();
  }
}

/** The checkpoint with text encoders whose tensors throw when read: the new path must not load them. */
function noTextEncoders(): Checkpoint {
  const poison = (w: WeightStore): WeightStore => new Proxy(w, {
    get: (t, k) => {
      if (k === 'read' || k === 'readFloat32') return (key: string) => Promise.reject(new Error(`${t.name}: ${key} was read`));
      const v = Reflect.get(t, k) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  return { ...ckpt, textEncoder: { ...ckpt.textEncoder!, weights: poison(ckpt.textEncoder!.weights) }, textEncoder2: { ...ckpt.textEncoder2!, weights: poison(ckpt.textEncoder2!.weights) } };
}

describe('sample grids from the cached prompt embeddings', () => {
  it('give the same latents, frames and PNG as the text encoders did, and leave the cache fingerprint alone', async () => {
    const clips = (await readTrainClips(f.meta)).slice(0, 1);
    const dir = join(f.dir, 'cache');
    const plain = await buildTrainCache(clips, { device, ckpt, model: f.model, meta: f.meta, dir });
    const withExtra = await buildTrainCache(clips, { device, ckpt, model: f.model, meta: f.meta, dir, extraPrompts: prompts.map((p) => p.text) });
    expect(withExtra.fingerprint).toBe(plain.fingerprint);
    expect(withExtra.stats).toEqual({ clipsEncoded: 0, clipsReused: 1, textsEncoded: 0, textsReused: 2 });
    expect(plain.extra).toEqual([]);
    expect(withExtra.extra.map((t) => t.text)).toEqual(prompts.map((p) => p.text));
    // the training caption's entry is the caption's own cache file
    expect(withExtra.extra[1]!.file).toBe(withExtra.texts[1]!.file);

    const texts = new Map<string, TextConditioning>();
    for (const t of [withExtra.texts[0]!, ...withExtra.extra]) {
      const c = await readTextConditioning(t);
      texts.set(t.text, { promptEmbeds: c.context, tokens: c.tokens, jointDim: c.jointDim, pooled: c.pooled });
    }
    for (const guidance of [1, 4]) {
      const settings: SampleSettings = { frames: 4, width: 32, height: 32, steps: 2, guidance, seed: 3 };
      const before = await oldWay(settings);
      const now = await generateSamples({ device, ckpt: noTextEncoders(), weights, prompts, texts, settings });
      expect(now.length).toBe(prompts.length);
      now.forEach((n, i) => {
        expect(n.latents.some((v) => v !== 0)).toBe(true);
        expect(n.latents).toEqual(before[i]!.latents);
        expect(n.frames.length).toBe(before[i]!.frames.length);
        n.frames.forEach((fr, j) => expect(Buffer.from(fr).equals(Buffer.from(before[i]!.frames[j]!)), `prompt ${i} frame ${j}`).toBe(true));
      });
      // the two prompts' samples differ (the conditioning reaches the transformer)
      expect(now[0]!.latents).not.toEqual(now[1]!.latents);

      const png = await writeSamples({ device, ckpt, weights, prompts, texts, settings, dir: join(f.dir, `samples-${guidance}`), step: 7 });
      const rows = before.map(({ frames: fr }) => [fr[0]!, fr[Math.floor((fr.length - 1) / 2)]!, fr[fr.length - 1]!]);
      const g = frameGrid(rows, 32, 32);
      expect((await readFile(png)).equals(Buffer.from(encodeRgbPng(g.rgb, g.width, g.height)))).toBe(true);
    }
  }, 300_000);

  it('refuses a prompt without conditioning with a clear error', async () => {
    const settings: SampleSettings = { frames: 1, width: 32, height: 32, steps: 1, guidance: 1, seed: 3 };
    await expect(generateSamples({ device, ckpt, weights, prompts, texts: new Map(), settings })).rejects.toThrow(/no text conditioning for the sample prompt "a green triangle/);
  }, 120_000);
});
