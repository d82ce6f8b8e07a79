// Clip parallelism through the parallel text-to-video pipeline (`generate --long clip-parallel`): N ranks in one
// process (in-process transport, one Dawn device each) must give the latents and video of one device computing the
// same N clips (dual-scope attention depends on the clip layout, so the reference is the one-device N-clip run),
// with uneven clips (5 latent frames over 2 and 3 ranks). Also the layout rules and the early layout errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { formatDualScope, parseDualScope, type DualScopeOptions } from '../../../engine/parallel/clip-layout.js';
import { InProcessParallelPipeline, resolveLayout } from '../../../engine/parallel/parallel-pipeline.js';
import type { GenerateResult } from '../../../engine/pipeline/text-to-video.js';

let dir: string;
const req = { prompt: 'a paper boat on a long river', negativePrompt: 'blurry', frames: 5, width: 48, height: 32, steps: 2, guidance: 4, guidanceMode: 'reference' as const, seed: 5 };
const dual: Partial<DualScopeOptions> = { window: 1, topK: 2, bias: 1 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-clippipe-'));
  await makeTinyCheckpoint(dir, { seed: 41, transformer: { num_attention_heads: 2, attention_head_dim: 16, num_layers: 2 } });
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function run(devices: number, clips: number): Promise<GenerateResult> {
  const pp = await InProcessParallelPipeline.create(dir, { devices: Array(devices).fill(0), layout: { sp: 1, cfg: 1, clip: { clips, ...dual } }, timeoutMs: 60_000 });
  try {
    return await pp.generate(req);
  } finally {
    await pp.dispose();
  }
}

describe('resolveLayout --long clip-parallel', () => {
  it('one clip per rank, no SP or CFG split, and clear refusals', () => {
    expect(resolveLayout({ ranks: 3, long: 'clip-parallel', dualScope: { window: 2 } })).toEqual({ sp: 1, cfg: 1, clip: { clips: 3, window: 2 } });
    expect(() => resolveLayout({ ranks: 2, long: 'clip-parallel', cfgParallel: true })).toThrow(/drop --cfg-parallel/);
    expect(() => resolveLayout({ ranks: 2, long: 'clip-parallel', sp: 2 })).toThrow(/drop --sp 2/);
    expect(() => resolveLayout({ ranks: 2, long: 'dualparal' as never })).toThrow(/--long dualparal has no SP x CFG layout: .*dualparal-generate/);
    expect(() => resolveLayout({ ranks: 2, long: 'fifo' as never })).toThrow(/--long fifo: the long-video strategies are: clip-parallel, dualparal/);
  });

  it('parses and formats --dual-scope', () => {
    const o = parseDualScope('window=4, top-k=8,switch=850,bias=2.5,rope=window,ends=mask');
    expect(o).toEqual({ window: 4, topK: 8, switchT: 850, bias: 2.5, rope: 'window', ends: 'mask' });
    expect(parseDualScope(formatDualScope(o))).toEqual(o);
    expect(() => parseDualScope('window=-1')).toThrow(/integer >= 0/);
    expect(() => parseDualScope('halo=3')).toThrow(/"halo" is unknown \(keys: window=<p>/);
    expect(() => parseDualScope('rope=relative')).toThrow(/rope=global or rope=window/);
  });
});

describe('clip-parallel generation equals the one-device N-clip generation', () => {
  for (const N of [2, 3]) {
    it(`N = ${N}: 5 latent frames, uneven clips, latents and video bit for bit`, async () => {
      const want = await run(1, N);
      const got = await run(N, N);
      expect(got.backend).toBe(`webgpu-f32-clip${N}`);
      const differing = got.latents.data.reduce((n, v, i) => n + (Object.is(v, want.latents.data[i]) ? 0 : 1), 0);
      expect(differing, 'latents that differ from the one-device run in any bit').toBe(0);
      expect(got.video.frames.length).toBe(5);
      got.video.frames.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(want.video.frames[i]!)), `frame ${i}`).toBe(true));
    }, 600_000);
  }

  it('the clip layout matters: 2 clips differ from 1 (dual-scope is not full attention)', async () => {
    const one = await run(1, 1);
    const two = await run(1, 2);
    const differing = one.latents.data.reduce((n, v, i) => n + (Object.is(v, two.latents.data[i]) ? 0 : 1), 0);
    expect(differing).toBeGreaterThan(0);
  }, 600_000);

  it('a clip shorter than the halo is refused with what would fit', async () => {
    await expect(InProcessParallelPipeline.create(dir, { devices: [0, 0, 0], layout: { sp: 1, cfg: 1, clip: { clips: 3, window: 2 } }, timeoutMs: 60_000 }).then(async (pp) => {
      try {
        return await pp.generate(req);
      } finally {
        await pp.dispose();
      }
    })).rejects.toThrow(/clip 2 has 1 latent frames, but each clip needs at least 2.*at most 2 ranks/);
  }, 600_000);
});

