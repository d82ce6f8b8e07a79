// Border positions of each long-video layout kind (clip starts, DualParal block starts, none for SP), and the
// border-consistency measure on tiny real generations of the existing strategies on the same prompt and seed:
// Ulysses SP on 2 ranks and clip parallelism on 2 ranks (in-process, one device each), measured at the clip layout's
// borders, and DualParal on 2 ranks at its block start (latents and the streamed MP4's frames): the values are finite
// and the borders are the layout's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { clipLayout } from '../../../engine/parallel/clip-layout.js';
import { blockLayout } from '../../../engine/parallel/dualparal-plan.js';
import { blockBorders, clipBorders, generationBorders, layoutBorders } from '../../../engine/parallel/layout-borders.js';
import { generateDualParalInProcess } from '../../../engine/parallel/dualparal-generate.js';
import { InProcessParallelPipeline } from '../../../engine/parallel/parallel-pipeline.js';
import type { ParallelLayout } from '../../../engine/parallel/parallel-transformer.js';
import type { GenerateResult } from '../../../engine/pipeline/text-to-video.js';
import { readVideoFrames } from '../../../engine/video/decode.js';

describe('layout borders', () => {
  it('clip parallelism: the clip starts after the first (7 frames on 3 ranks: 3, 2, 2)', () => {
    expect(clipBorders(clipLayout(7, 3, { window: 1 }))).toEqual([3, 5]);
    expect(clipBorders(clipLayout(7, 1))).toEqual([]);
    expect(layoutBorders({ kind: 'clip', layout: clipLayout(64, 4, { window: 8 }) })).toEqual([16, 32, 48]);
  });

  it('DualParal: the block starts after the first (n*B + C frames, block k >= 1 starts at C + kB)', () => {
    // B = 4, C = 2, 3 blocks: [0, 6), [6, 10), [10, 14)
    expect(blockBorders(blockLayout(14, 4, 2))).toEqual([6, 10]);
    expect(blockBorders(blockLayout(12, 4, 0))).toEqual([4, 8]);
    expect(layoutBorders({ kind: 'dualparal', layout: blockLayout(6, 4, 2) })).toEqual([]);
  });

  it('SP has no borders', () => {
    expect(layoutBorders({ kind: 'sp' })).toEqual([]);
  });
});

describe('border consistency of tiny real generations (same prompt and seed)', () => {
  let dir: string;
  const req = { prompt: 'a red kite over a beach', negativePrompt: '', frames: 6, width: 32, height: 32, steps: 2, guidance: 3, guidanceMode: 'reference' as const, seed: 11 };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parallax-borders-'));
    await makeTinyCheckpoint(dir, { seed: 13, transformer: { num_attention_heads: 2, attention_head_dim: 16, num_layers: 2 } });
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  async function run(layout: ParallelLayout): Promise<GenerateResult> {
    const pp = await InProcessParallelPipeline.create(dir, { devices: [0, 0], layout, timeoutMs: 60_000 });
    try {
      return await pp.generate(req);
    } finally {
      await pp.dispose();
    }
  }

  it('SP 2 and clip parallelism on 2 ranks: finite ratios at the clip layout borders', async () => {
    const clips = clipLayout(req.frames, 2, { window: 1, topK: 2 });
    const borders = layoutBorders({ kind: 'clip', layout: clips });
    expect(borders).toEqual([3]);
    const clip = generationBorders(await run({ sp: 1, cfg: 1, clip: { clips: 2, window: 1, topK: 2 } }), borders);
    const sp = generationBorders(await run({ sp: 2, cfg: 1 }), borders);
    expect(layoutBorders({ kind: 'sp' })).toEqual([]);
    for (const [name, r] of [['clip', clip], ['sp', sp]] as const) {
      for (const m of [r.latents, r.video]) {
        expect(m.borders, name).toEqual([3]);
        expect(m.changes.length, name).toBe(req.frames - 1);
        for (const v of [m.across, m.inside, m.ratio]) {
          expect(Number.isFinite(v), `${name}: ${JSON.stringify(m)}`).toBe(true);
          expect(v!, name).toBeGreaterThan(0);
        }
        expect(m.across, name).toBe(m.changes[2]);
      }
    }
    // the two strategies compute different videos (dual-scope attention is not full attention)
    expect(clip.latents.changes).not.toEqual(sp.latents.changes);
  }, 300_000);

  it('DualParal on 2 ranks (layers 1 + 1): finite ratios at its block start, on the latents and the streamed MP4', async () => {
    const layout = blockLayout(req.frames, 2, 2); // blocks [0, 4), [4, 6)
    const borders = layoutBorders({ kind: 'dualparal', layout });
    expect(borders).toEqual([4]);
    const out = join(dir, 'dualparal.mp4');
    const r = await generateDualParalInProcess({ model: dir, devices: [0, 0], settings: req, blockFrames: 2, contextFrames: 2, out, fps: 8, timeoutMs: 60_000 }, 2);
    expect(r.layers).toEqual([[0, 1], [1, 2]]);
    const frames = await readVideoFrames(out, { width: req.width, height: req.height });
    const m = generationBorders({ latents: r.latents, video: { width: req.width, height: req.height, frames } }, borders);
    for (const x of [m.latents, m.video]) {
      expect(x.borders).toEqual([4]);
      expect(x.changes.length).toBe(req.frames - 1);
      for (const v of [x.across, x.inside, x.ratio]) {
        expect(Number.isFinite(v), JSON.stringify(x)).toBe(true);
        expect(v!).toBeGreaterThan(0);
      }
      expect(x.across).toBe(x.changes[3]);
    }
  }, 300_000);
});
