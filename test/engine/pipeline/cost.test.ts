// Cost estimate sanity: linear in steps, CFG doubles the transformer calls, more frames and pixels cost more.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { estimateGenerationCost } from '../../../engine/pipeline/cost.js';

let dir: string;
let ck: Checkpoint;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-cost-'));
  ck = await openCheckpoint((await makeTinyCheckpoint(join(dir, 'c'))).dir);
});
afterAll(async () => {
  await ck.close();
  await rm(dir, { recursive: true, force: true });
});

describe('estimateGenerationCost', () => {
  it('scales with steps, CFG, frames and size', () => {
    const base = { frames: 3, width: 64, height: 48, steps: 4, guidance: 7.5 };
    const a = estimateGenerationCost(ck, base);
    expect(a.velocityCalls).toBe(8);
    expect(estimateGenerationCost(ck, { ...base, guidance: 1 }).velocityCalls).toBe(4);
    expect(estimateGenerationCost(ck, { ...base, steps: 8 }).velocityFlops).toBe(a.velocityFlops);
    const f2 = estimateGenerationCost(ck, { ...base, frames: 6 });
    expect(f2.velocityFlops / a.velocityFlops).toBeCloseTo(2, 6);
    expect(f2.decodeFlops / a.decodeFlops).toBeCloseTo(2, 6);
    expect(estimateGenerationCost(ck, { ...base, width: 128 }).velocityFlops).toBeGreaterThan(a.velocityFlops);
    expect(a.totalFlops).toBeCloseTo(a.textEncodeFlops + 8 * a.velocityFlops + a.decodeFlops, 0);
    expect(a.velocityFlops).toBe(estimateGenerationCost(ck, base, 333).velocityFlops); // 77 + 256 text tokens
  });

  it("counts the checkpoint's text tokens: 32 on the shapes preset", async () => {
    const s = await openCheckpoint((await makeTinyCheckpoint(join(dir, 'shapes'), { preset: 'shapes' })).dir);
    const base = { frames: 8, width: 64, height: 64, steps: 4, guidance: 7.5 };
    const c = estimateGenerationCost(s, base);
    expect(c.velocityFlops).toBe(estimateGenerationCost(s, base, 32).velocityFlops);
    expect(c.velocityFlops).toBeLessThan(estimateGenerationCost(s, base, 333).velocityFlops);
    await s.close();
  });
});
