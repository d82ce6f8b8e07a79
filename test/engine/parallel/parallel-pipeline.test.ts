// Pipeline-level equivalence of parallel generation (parallel.md section 1): N ranks in one process (in-process
// transport, one Dawn device each) run the whole text-to-video pipeline — text encoders on rank 0 + broadcast,
// SP x CFG transformer, frame-parallel VAE — and must give the one-device GPU pipeline's latents and video for the
// same seed. Sizes do not divide: 15 visual tokens per frame (48x80 px), 3 frames over up to 4 ranks (a rank with
// no frame to decode). Also: layout rules, settings agreement, agreed cancellation and a failing rank.
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { InProcessParallelPipeline, resolveLayout } from '../../../engine/parallel/parallel-pipeline.js';
import type { ParallelLayout } from '../../../engine/parallel/parallel-transformer.js';
import type { GenerateResult } from '../../../engine/pipeline/text-to-video.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import { expectClose } from '../../helpers/compare.js';

const dirs: string[] = [];
let dir4: string; // 4 heads: SP 1, 2, 4
let dir3: string; // 3 heads: SP 3
const req = { prompt: 'a red kite over the dunes', negativePrompt: 'blurry', frames: 3, width: 48, height: 80, steps: 2, guidance: 5, guidanceMode: 'reference' as const, seed: 21 };
const single = new Map<string, GenerateResult>();

async function tiny(heads: number, seed: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'parallax-ppipe-'));
  dirs.push(dir);
  await makeTinyCheckpoint(dir, { seed, transformer: { num_attention_heads: heads, attention_head_dim: 16, num_layers: 2 } });
  return dir;
}

/** The one-device GPU pipeline's result (the reference for every layout), cached per checkpoint and guidance. */
async function oneDevice(dir: string, guidance = req.guidance): Promise<GenerateResult> {
  const key = `${dir}|${guidance}`;
  let r = single.get(key);
  if (!r) {
    const p = await TextToVideoPipeline.fromPretrained(dir, { backend: 'gpu' });
    try {
      r = await p.generate({ ...req, guidance });
    } finally {
      await p.dispose();
    }
    single.set(key, r);
  }
  return r;
}

/**
 * Same seed, same video: the latents must match the one-device run to f32 tolerance, and on our kernels they match
 * bit for bit (each output row is reduced in the same order whatever the number of rows a rank holds, and every
 * layout combines the CFG branches with the same kernels), so the decoded frames are identical too.
 */
function expectSameVideo(got: GenerateResult, want: GenerateResult, what: string): void {
  expectClose(got.latents.data, want.latents.data, { rtol: 1e-4, atol: 1e-5 }, `${what}: latents`);
  const differing = got.latents.data.reduce((n, v, i) => n + (Object.is(v, want.latents.data[i]) ? 0 : 1), 0);
  expect(differing, `${what}: latents that differ from the one-device run in any bit`).toBe(0);
  expect([got.video.width, got.video.height, got.video.frames.length]).toEqual([want.video.width, want.video.height, want.video.frames.length]);
  got.video.frames.forEach((f, i) => {
    let worst = 0;
    for (let j = 0; j < f.length; j++) worst = Math.max(worst, Math.abs(f[j]! - want.video.frames[i]![j]!));
    expect(worst, `${what}: frame ${i}, largest byte difference`).toBe(0);
  });
}

beforeAll(async () => {
  dir4 = await tiny(4, 31);
  dir3 = await tiny(3, 32);
}, 120_000);

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('resolveLayout', () => {
  it('defaults to CFG 2 on an even rank count when CFG is on, SP otherwise', () => {
    expect(resolveLayout({ ranks: 1 })).toEqual({ sp: 1, cfg: 1 });
    expect(resolveLayout({ ranks: 4, guidance: 5 })).toEqual({ sp: 2, cfg: 2 });
    expect(resolveLayout({ ranks: 4, guidance: 1 })).toEqual({ sp: 4, cfg: 1 });
    expect(resolveLayout({ ranks: 3, guidance: 5 })).toEqual({ sp: 3, cfg: 1 });
    expect(resolveLayout({ ranks: 4, sp: 4 })).toEqual({ sp: 4, cfg: 1 });
    expect(resolveLayout({ ranks: 8, cfgParallel: true })).toEqual({ sp: 4, cfg: 2 });
    expect(resolveLayout({ ranks: 2, cfgParallel: false })).toEqual({ sp: 2, cfg: 1 });
  });

  it('refuses layouts that do not fit, saying what would', () => {
    expect(() => resolveLayout({ ranks: 3, cfgParallel: true })).toThrow(/even number of GPUs; got 3/);
    expect(() => resolveLayout({ ranks: 4, sp: 3 })).toThrow(/--sp must be 4 \(or 2 with --cfg-parallel\)/);
    expect(() => resolveLayout({ ranks: 4, sp: 4, cfgParallel: true })).toThrow(/with --cfg-parallel, --sp must be 2/);
    expect(() => resolveLayout({ ranks: 2, cfgParallel: true, guidance: 1 })).toThrow(/needs classifier-free guidance/);
    expect(() => resolveLayout({ ranks: 0 })).toThrow(/at least one rank/);
  });
});

const cases: { layout: ParallelLayout; heads: 3 | 4 }[] = [
  { layout: { sp: 1, cfg: 1 }, heads: 4 },
  { layout: { sp: 2, cfg: 1 }, heads: 4 },
  { layout: { sp: 3, cfg: 1 }, heads: 3 },
  { layout: { sp: 4, cfg: 1 }, heads: 4 },
  { layout: { sp: 1, cfg: 2 }, heads: 4 },
  { layout: { sp: 2, cfg: 2 }, heads: 4 },
];

describe('parallel text-to-video (in-process ranks) reproduces the one-device pipeline', () => {
  for (const { layout, heads } of cases) {
    const n = layout.sp * layout.cfg;
    it(`SP ${layout.sp} x CFG ${layout.cfg} (${n} rank${n > 1 ? 's' : ''}, ${heads} heads)`, async () => {
      const dir = heads === 4 ? dir4 : dir3;
      const want = await oneDevice(dir);
      const pp = await InProcessParallelPipeline.create(dir, { devices: Array(n).fill(0), layout });
      try {
        const steps: number[] = [];
        const got = await pp.generate({ ...req, onStep: (s) => void steps.push(s.step) });
        expect(steps, 'onStep runs once per step (rank 0 only)').toEqual([0, 1]);
        expect(got.backend).toBe(`webgpu-f32-sp${layout.sp}-cfg${layout.cfg}`);
        expectSameVideo(got, want, `sp${layout.sp} x cfg${layout.cfg}`);
        // every rank ends with the same latents, bit for bit (they all took the same Euler steps)
        // placement: text encoders only on rank 0; the VAE only on ranks that had frames to decode (3 frames)
        const tensors = pp.ranks.map((p) => p.backend.weightsLoaded().tensors);
        const t = pp.ranks[0]!.backend.transformer.model.weights.report.tensors;
        if (n > 1) expect(tensors[1]).toBeLessThan(tensors[0]!);
        if (n === 4) {
          expect(tensors[3], 'rank 3 decodes no frame: transformer only').toBe(t);
          expect(tensors[1]! - t, 'rank 1: transformer + VAE').toBeGreaterThan(0);
        }
        const stats = pp.stagingStats();
        expect(stats.length).toBe(n);
        if (n > 1) expect(stats.every((s) => s.bytesSent > 0)).toBe(true);
      } finally {
        await pp.dispose();
      }
    }, 600_000);
  }

  it('f16 (shader-f16): SP 2 x CFG 2 (Ulysses) and SP 3 (all-gather of K/V, 4 heads) give the one-device f16 video', async (ctx) => {
    const probe = await TextToVideoPipeline.fromPretrained(dir4, { backend: 'gpu', backendOptions: { dtype: 'f16' } }).catch(() => null);
    if (!probe) return ctx.skip(); // adapter without shader-f16
    let want: GenerateResult;
    try {
      want = await probe.generate(req);
    } finally {
      await probe.dispose();
    }
    for (const layout of [{ sp: 2, cfg: 2 as const }, { sp: 3, cfg: 1 as const }]) {
      const pp = await InProcessParallelPipeline.create(dir4, { devices: Array(layout.sp * layout.cfg).fill(0), layout, dtype: 'f16' });
      try {
        const got = await pp.generate(req);
        expect(got.backend).toBe(`webgpu-f16-sp${layout.sp}-cfg${layout.cfg}`);
        expect(pp.backend.transformer.model.attentionExchange).toBe(layout.sp === 3 ? 'kv-allgather' : 'ulysses');
        expectSameVideo(got, want, `f16 sp${layout.sp} x cfg${layout.cfg}`);
      } finally {
        await pp.dispose();
      }
    }
  }, 600_000);

  it('CFG off (guidance 1) on a CFG-2 world: both branch groups run the conditional pass', async () => {
    const want = await oneDevice(dir4, 1);
    const pp = await InProcessParallelPipeline.create(dir4, { devices: [0, 0], layout: { sp: 1, cfg: 2 } });
    try {
      expectSameVideo(await pp.generate({ ...req, guidance: 1 }), want, 'guidance 1');
    } finally {
      await pp.dispose();
    }
  }, 600_000);
});

describe('parallel pipeline control', () => {
  it('a cancellation stops every rank at the same step and the pipeline stays usable', async () => {
    const pp = await InProcessParallelPipeline.create(dir4, { devices: [0, 0], layout: { sp: 2, cfg: 1 } });
    try {
      const ac = new AbortController();
      await expect(pp.generate({ ...req, steps: 4, signal: ac.signal, onStep: (s) => { if (s.step === 0) ac.abort(new Error('user cancelled')); } })).rejects.toThrow('user cancelled');
      const again = await pp.generate({ ...req, steps: 1 });
      expect(again.latents.data.length).toBeGreaterThan(0);
    } finally {
      await pp.dispose();
    }
  }, 600_000);

  it('a rank that fails mid-generation ends every rank with an error naming it, in bounded time', async () => {
    // 4 heads do not split over 3 ranks: SP 3 takes the all-gather of K/V instead of Ulysses, same video
    const pp = await InProcessParallelPipeline.create(dir4, { devices: [0, 0, 0], layout: { sp: 3, cfg: 1 }, timeoutMs: 60_000 });
    try {
      expect(pp.ranks.map((r) => r.backend.transformer.model.attentionExchange)).toEqual(['kv-allgather', 'kv-allgather', 'kv-allgather']);
      expectSameVideo(await pp.generate(req), await oneDevice(dir4), 'sp3 x cfg1, 4 heads (all-gather of K/V)');
    } finally {
      await pp.dispose();
    }
    const ok = await InProcessParallelPipeline.create(dir4, { devices: [0, 0], layout: { sp: 2, cfg: 1 }, timeoutMs: 60_000 });
    try {
      // rank 1's VAE decode throws: rank 0 (waiting in the frame all-gather) must fail at once, naming rank 1
      const b1 = ok.ranks[1]!.backend as unknown as { decode: () => Promise<never> };
      const orig = b1.decode;
      b1.decode = async () => {
        throw new Error('simulated VAE failure');
      };
      const t0 = Date.now();
      const err = await ok.generate({ ...req, steps: 1 }).then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/rank 1/);
      expect(err?.message).toMatch(/simulated VAE failure/);
      expect(Date.now() - t0).toBeLessThan(30_000);
      b1.decode = orig;
      await expect(ok.generate({ ...req, steps: 1 })).rejects.toThrow(/failed earlier and must be recreated/);
    } finally {
      await ok.dispose();
    }
  }, 600_000);

  it('a corrupt checkpoint fails the parallel load with the loader\'s error naming the file', async () => {
    const bad = await tiny(4, 33);
    const f = join(bad, 'transformer', 'diffusion_pytorch_model.safetensors');
    truncateSync(f, statSync(f).size - 64);
    const t0 = Date.now();
    await expect(InProcessParallelPipeline.create(bad, { devices: [0, 0], layout: { sp: 2, cfg: 1 }, timeoutMs: 60_000 })).rejects.toThrow(/transformer\/diffusion_pytorch_model\.safetensors/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 120_000);

  it('ranks that get different settings fail with the difference instead of drifting apart', async () => {
    const pp = await InProcessParallelPipeline.create(dir4, { devices: [0, 0], layout: { sp: 2, cfg: 1 } });
    try {
      const [a, b] = pp.ranks;
      const { generateOnRank } = await import('../../../engine/parallel/parallel-pipeline.js');
      const res = await Promise.allSettled([generateOnRank(a!, { ...req, steps: 1 }), generateOnRank(b!, { ...req, steps: 1, seed: 22 })]);
      for (const r of res) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/rank 1 got different settings than rank 0 \(seed: 22 vs 21\)/);
      }
    } finally {
      await pp.dispose();
    }
  }, 600_000);
});
