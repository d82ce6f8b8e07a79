// Given initial latents (diffusers' `latents=`): loading a safetensors file of each float dtype (path or bytes) or a
// tensor, the errors for a wrong shape / dtype / content, and in the pipeline (float64 reference backend): the seeded
// initial latents fed back give the same latents and video bit for bit, a file source is recorded with its hashes,
// and the recorded schedule is the one the model was called with (the shifted flow-match sigmas).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { writeSafetensors, type DType } from '../../../engine/io/safetensors.js';
import { mulberry32 } from '../../../engine/mulberry32.js';
import type { ModelBackend } from '../../../engine/pipeline/backend.js';
import { GenerateOptionsError } from '../../../engine/pipeline/generate-options.js';
import { loadInitLatents } from '../../../engine/pipeline/init-latents.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const size = { width: 32, height: 16, frames: 3 };
const shape = [1, 3, 16, 2, 4];
const n = shape.reduce((a, b) => a * b, 1);

/** Values exactly representable in F16 and BF16 (k/8, |k| <= 32), so every dtype must load them unchanged. */
function exactValues(count: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (Math.floor(r() * 65) - 32) / 8);
}

let dir: string;
let ckpt: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-init-latents-'));
  ckpt = join(dir, 'tiny');
  await makeTinyCheckpoint(ckpt, { seed: 5 });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadInitLatents', () => {
  const want = exactValues(n, 1);
  for (const dtype of ['F32', 'F16', 'BF16', 'F64'] as DType[]) {
    it(`reads tensor "latents" stored as ${dtype} (path and bytes), recording the file's and the values' SHA-256`, async () => {
      const f = join(dir, `init-${dtype}.safetensors`);
      await writeSafetensors(f, { latents: { dtype, shape, data: want } });
      const bytes = new Uint8Array(readFileSync(f));
      for (const src of [f, bytes]) {
        const { latents, info } = await loadInitLatents(src, shape, size);
        expect(latents.shape).toEqual(shape);
        expect(Buffer.from(f32Bytes(latents.data)).equals(Buffer.from(f32Bytes(want)))).toBe(true);
        expect(info).toEqual({ source: 'file', ...(typeof src === 'string' ? { path: f } : {}), fileSha256: sha256(bytes), dtype, sha256: sha256(f32Bytes(want)) });
      }
    });
  }

  it('takes a file\'s only tensor whatever its name, and a Float32Array / Float64Array tensor', async () => {
    const f = join(dir, 'other-name.safetensors');
    await writeSafetensors(f, { noise: { dtype: 'F32', shape, data: want } });
    expect((await loadInitLatents(f, shape, size)).latents.data).toEqual(want);
    for (const data of [want, Float64Array.from(want)]) {
      const { latents, info } = await loadInitLatents({ shape, data }, shape, size);
      expect(latents.data).toEqual(want);
      expect(latents.data).not.toBe(data);
      expect(info).toEqual({ source: 'tensor', sha256: sha256(f32Bytes(want)) });
    }
  });

  it('errors name the problem and the expected shape for the requested size', async () => {
    const file = async (name: string, tensors: Parameters<typeof writeSafetensors>[1]) => {
      const f = join(dir, name);
      await writeSafetensors(f, tensors);
      return f;
    };
    const expected = /(expected|of shape) \[1, 3, 16, 2, 4\] \(32x16 px, 3 frames: \[1, F, 16, H\/8, W\/8\]\)/;
    const cases: [Parameters<typeof loadInitLatents>[0], RegExp[]][] = [
      [await file('two-frames.safetensors', { latents: { dtype: 'F32', shape: [1, 2, 16, 2, 4], data: want.subarray(0, n / 3 * 2) } }), [/shape \[1, 2, 16, 2, 4\] does not fit/, expected]],
      [await file('no-batch.safetensors', { latents: { dtype: 'F32', shape: [3, 16, 2, 4], data: want } }), [/shape \[3, 16, 2, 4\]/, expected]],
      // channels-first (diffusers' [B, C, F, h, w] video layout) is refused, not silently permuted
      [await file('cf.safetensors', { latents: { dtype: 'F32', shape: [1, 16, 3, 2, 4], data: want } }), [/shape \[1, 16, 3, 2, 4\]/, expected]],
      [await file('int.safetensors', { latents: { dtype: 'I32', shape, data: Int32Array.from(want, Math.round) } }), [/dtype I32/, /float dtype \(F32, F16, BF16, F64\)/, expected]],
      [await file('two.safetensors', { a: { dtype: 'F32', shape, data: want }, b: { dtype: 'F32', shape, data: want } }), [/expected a tensor named "latents" \(or a single tensor\), found a, b/]],
      [await file('nan.safetensors', { latents: { dtype: 'F32', shape, data: Float32Array.from(want, (v, i) => (i === 7 ? NaN : v)) } }), [/element 7 is NaN/]],
      [join(dir, 'missing.safetensors'), [/missing\.safetensors: cannot read the file \(ENOENT\)/]],
      [new Uint8Array(64), [/not a readable safetensors file/]],
      [{ shape, data: want.subarray(1) }, [/values for shape/]],
      [{ shape: [1, 3, 16, 4, 2], data: want }, [/shape \[1, 3, 16, 4, 2\]/, expected]],
    ];
    for (const [src, res] of cases) {
      const err = await loadInitLatents(src, shape, size).then(() => null, (e: unknown) => e);
      expect(err, String(src)).toBeInstanceOf(GenerateOptionsError);
      for (const re of res) expect((err as Error).message).toMatch(re);
    }
  });
});

describe('TextToVideoPipeline.generate({ initLatents }) on the float64 reference backend', () => {
  const req = { prompt: 'a paper boat', negativePrompt: 'blurry', frames: 2, width: 32, height: 16, steps: 3, guidance: 3, guidanceMode: 'constant' as const };

  it('the seeded initial latents fed back (tensor and file, another seed) give the same latents and video bit for bit', async () => {
    const pipe = await TextToVideoPipeline.fromPretrained(ckpt, { backend: 'reference' });
    try {
      const a = await pipe.generate({ ...req, seed: 11 });
      expect(a.init).toEqual({ source: 'seed', seed: 11 });
      expect(a.initialLatents.shape).toEqual([1, 2, 16, 2, 4]);
      expect(a.initialLatents.data).toEqual(pipe.noise(a.initialLatents.shape, 11));
      const f = join(dir, 'fed-back.safetensors');
      await writeSafetensors(f, { latents: { dtype: 'F32', shape: a.initialLatents.shape, data: a.initialLatents.data } });
      for (const initLatents of [a.initialLatents, f]) {
        const b = await pipe.generate({ ...req, seed: 12, initLatents });
        expect(b.init.source).toBe(typeof initLatents === 'string' ? 'file' : 'tensor');
        if (b.init.source !== 'seed') expect(b.init.sha256).toBe(sha256(f32Bytes(a.initialLatents.data)));
        expect(Buffer.from(f32Bytes(b.latents.data)).equals(Buffer.from(f32Bytes(a.latents.data)))).toBe(true);
        b.video.frames.forEach((fr, i) => expect(Buffer.from(fr).equals(Buffer.from(a.video.frames[i]!)), `frame ${i}`).toBe(true));
      }
      // and other latents give another video (the option is not ignored)
      const other = Float32Array.from(a.initialLatents.data, (v) => -v);
      const c = await pipe.generate({ ...req, seed: 11, initLatents: { shape: a.initialLatents.shape, data: other } });
      expect(c.latents.data).not.toEqual(a.latents.data);
    } finally {
      await pipe.dispose();
    }
  }, 600_000);

  it('records the schedule the model ran (shifted sigmas, timesteps = sigma*1000), and a wrong shape fails before any model call', async () => {
    const pipe = await TextToVideoPipeline.fromPretrained(ckpt, { backend: 'reference' });
    const b = pipe.backend as ModelBackend;
    const seen: number[] = [];
    let encodes = 0;
    const velocity = b.velocity.bind(b);
    const encodeText = b.encodeText.bind(b);
    b.velocity = (lat, t, text) => {
      seen.push(t);
      return velocity(lat, t, text);
    };
    b.encodeText = (p) => {
      encodes++;
      return encodeText(p);
    };
    try {
      const steps = 4;
      const r = await pipe.generate({ ...req, steps, guidance: 1, seed: 3 });
      expect(r.schedule.timesteps).toEqual(seen);
      expect(r.schedule.sigmas.length).toBe(steps + 1);
      expect(r.schedule.sigmas[steps]).toBe(0);
      // spec section 4: sigmas = linspace over the shifted training range, mapped by shift*s/(1+(shift-1)*s)
      const shift = b.info.shift;
      const sh = (s: number) => (shift * s) / (1 + (shift - 1) * s);
      const lo = sh(1 / b.info.numTrainTimesteps);
      for (let i = 0; i < steps; i++) {
        const u = 1 + (lo - 1) * (i / (steps - 1));
        expect(r.schedule.sigmas[i]).toBeCloseTo(sh(u), 6);
        expect(r.schedule.timesteps[i]).toBe(Math.fround(r.schedule.sigmas[i]! * 1000));
      }
      if (shift !== 1) expect(r.schedule.sigmas[1]).not.toBeCloseTo(1 + (lo - 1) / (steps - 1), 3);

      encodes = 0;
      seen.length = 0;
      await expect(pipe.generate({ ...req, seed: 3, initLatents: { shape: [1, 3, 16, 2, 4], data: new Float32Array(96 * 3) } })).rejects.toThrow(/expected \[1, 2, 16, 2, 4\]/);
      expect([encodes, seen.length]).toEqual([0, 0]);
    } finally {
      await pipe.dispose();
    }
  }, 600_000);
});
