// Given initial latents on the GPU: the WebGPU pipeline started from a latents file equals the float64 reference
// pipeline started from the same file (latents within 1e-4 of their scale, frames within 1/255) for 'reference' and 'constant'
// guidance, with and without a negative prompt; the parallel layouts (in-process SP 2 and CFG 2) started from the
// same file give the one-device video bit for bit; ranks given different latents fail naming the difference.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../../engine/io/dtype.js';
import { writeSafetensors } from '../../../engine/io/safetensors.js';
import { generateOnRank, InProcessParallelPipeline } from '../../../engine/parallel/parallel-pipeline.js';
import type { GenerateResult } from '../../../engine/pipeline/text-to-video.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import { expectClose } from '../../helpers/compare.js';
import { normal } from '../../helpers/random.js';

const size = { frames: 2, width: 32, height: 48, steps: 2, guidance: 4 };
const shape = [1, 2, 16, 6, 4];
let dir: string;
let ckpt: string;
let file: string;
let given: Float32Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-init-gpu-'));
  ckpt = join(dir, 'tiny');
  await makeTinyCheckpoint(ckpt, { seed: 8, transformer: { num_layers: 2 } });
  // not the engine's Philox noise: latents from elsewhere (another generator), stored as BF16 like a torch bf16 run
  given = Float32Array.from(normal(shape.reduce((a, b) => a * b, 1), 77), (v) => bf16BitsToF32(f32ToBf16Bits(v))); // bf16-exact
  file = join(dir, 'given.safetensors');
  await writeSafetensors(file, { latents: { dtype: 'BF16', shape, data: given } });
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function maxByteDiff(a: GenerateResult, b: GenerateResult): number {
  let worst = 0;
  a.video.frames.forEach((f, i) => {
    for (let j = 0; j < f.length; j++) worst = Math.max(worst, Math.abs(f[j]! - b.video.frames[i]![j]!));
  });
  return worst;
}

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

let oneDevice: GenerateResult;
describe('GPU pipeline from given latents', () => {
  it('equals the float64 reference pipeline from the same latents: reference/constant guidance, with/without a negative prompt', async () => {
    const combos = [
      { guidanceMode: 'reference' as const, negativePrompt: '' },
      { guidanceMode: 'reference' as const, negativePrompt: 'blurry, low quality' },
      { guidanceMode: 'constant' as const, negativePrompt: '' },
      { guidanceMode: 'constant' as const, negativePrompt: 'blurry, low quality' },
    ];
    const run = async (backend: 'gpu' | 'reference') => {
      const p = await TextToVideoPipeline.fromPretrained(ckpt, { backend });
      try {
        const out: GenerateResult[] = [];
        for (const c of combos) out.push(await p.generate({ prompt: 'a lighthouse at dusk', ...size, ...c, seed: 1, initLatents: file }));
        return out;
      } finally {
        await p.dispose();
      }
    };
    const gpu = await run('gpu');
    const ref = await run('reference');
    combos.forEach((c, i) => {
      const what = `${c.guidanceMode}, negative prompt ${JSON.stringify(c.negativePrompt)}`;
      expect(gpu[i]!.init).toMatchObject({ source: 'file', path: file, dtype: 'BF16' });
      expect(gpu[i]!.initialLatents.data, `${what}: the file's values`).toEqual(given);
      // Within 1e-4 of the latents' scale (|gpu - ref| <= 1e-5 + 1e-4 max|ref|), as gpu-backend.test.ts compares them.
      expectClose(gpu[i]!.latents.data, ref[i]!.latents.data, { rtol: 1e-4, atol: 1e-5 }, `${what}: latents`);
      expect(maxByteDiff(gpu[i]!, ref[i]!), `${what}: largest frame byte difference`).toBeLessThanOrEqual(1);
      expect(gpu[i]!.schedule).toEqual(ref[i]!.schedule);
    });
    // the four settings are four different generations (guidance mode and negative prompt both matter)
    for (let i = 1; i < 4; i++) expect(sameBits(gpu[i]!.latents.data, gpu[0]!.latents.data), `combo ${i} vs 0`).toBe(false);
    oneDevice = gpu[1]!;
  }, 600_000);
});

describe('parallel layouts from given latents: same latents in, same video out', () => {
  const req = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry, low quality', guidanceMode: 'reference' as const, ...size, seed: 1, initLatents: '' };
  for (const layout of [{ sp: 2, cfg: 1 as const }, { sp: 1, cfg: 2 as const }]) {
    it(`in-process SP ${layout.sp} x CFG ${layout.cfg}: the one-device video bit for bit`, async () => {
      expect(oneDevice, 'needs the one-device run above').toBeDefined();
      const pp = await InProcessParallelPipeline.create(ckpt, { devices: [0, 0], layout });
      try {
        const got = await pp.generate({ ...req, initLatents: file, seed: 99 });
        expect(got.init).toEqual(oneDevice.init);
        expect(sameBits(got.latents.data, oneDevice.latents.data), 'latents bit for bit').toBe(true);
        expect(maxByteDiff(got, oneDevice)).toBe(0);
      } finally {
        await pp.dispose();
      }
    }, 600_000);
  }

  it('ranks given different initial latents fail with the difference instead of drifting apart', async () => {
    const pp = await InProcessParallelPipeline.create(ckpt, { devices: [0, 0], layout: { sp: 2, cfg: 1 } });
    try {
      const [a, b] = pp.ranks;
      const res = await Promise.allSettled([
        generateOnRank(a!, { ...req, steps: 1, initLatents: file }),
        generateOnRank(b!, { ...req, steps: 1, initLatents: { shape, data: Float32Array.from(given, (v) => v + 1) } }),
      ]);
      for (const r of res) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/rank 1 got different settings than rank 0 \(initLatents: "sha256 [0-9a-f]{64}" vs "sha256 [0-9a-f]{64}"\).*same --init-latents file contents/);
      }
      // seeded noise on one rank, a file on the other: refused too
      const mixed = await Promise.allSettled([generateOnRank(a!, { ...req, steps: 1, initLatents: undefined }), generateOnRank(b!, { ...req, steps: 1, initLatents: file })]);
      expect(mixed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
      expect(String((mixed[0] as PromiseRejectedResult).reason)).toMatch(/initLatents: "sha256 [0-9a-f]{64}" vs "seed"/);
    } finally {
      await pp.dispose();
    }
  }, 600_000);
});
