// The analytical costs of the long-video strategies against counts done by hand on small shapes, and the FLOPs of a
// forward against the figures docs/parallelism.md derived for the 2B model at 768x432x40 (127 TFLOP in the linears,
// 19 in attention). bench/long.ts checks the SP and clip byte counts against the bytes the ranks really send.
import { describe, expect, it } from 'vitest';
import { clipLayout } from '../../../engine/parallel/clip-layout.js';
import { blockLayout } from '../../../engine/parallel/dualparal-plan.js';
import { clipForwardBytes, clipVelocityGatherBytes, dualParalStepBytes, forwardFlops, spForwardBytes, spVelocityGatherBytes, type CostDims } from '../../../engine/parallel/long-cost.js';

const small: CostDims = { D: 2, heads: 2, layers: 1, L: 4, T: 2, velocity: 64 };

describe('bytes sent per rank', () => {
  it('Ulysses SP 2: (P-1)/P of (4 nL + 3 nT) + 2 nL rows out and back in the last layer, + 2 nT before it', () => {
    // nL = 2, nT = 1: last layer 15 rows, earlier layers 17; 4 bytes x 3 frames x rows x D 2 / 2
    expect(spForwardBytes(small, 3, 2, 4)).toBe(4 * 3 * 15 * 2 / 2);
    expect(spForwardBytes({ ...small, layers: 2 }, 3, 2, 4)).toBe(4 * 3 * (17 + 15) * 2 / 2);
    expect(spForwardBytes(small, 3, 1, 4)).toBe(0);
    // velocity rows: nL = 2 rows of 64 to 1 other rank per frame
    expect(spVelocityGatherBytes(small, 3, 2, 4)).toBe(4 * 3 * 2 * 64);
  });

  it('SP with H % P != 0: the all-gather of K/V (k, v and ck, cv rows to every other rank)', () => {
    // heads 3, P 2: nL = 2, nT = 1, 2 x 3 rows of D 2, 3 frames, to 1 rank
    expect(spForwardBytes({ ...small, heads: 3 }, 3, 2, 4)).toBe(4 * 3 * 2 * 3 * 2);
  });

  it('clip parallelism: G frames to N-1 ranks, p halo frames per neighbour, frame 0 text K/V from rank 0', () => {
    // 6 frames on 3 ranks, p = 1, top-k 3: clips 2,2,2; share 1, stride 2: G = {0, 2, 4}, one per rank.
    const layout = clipLayout(6, 3, { window: 1, topK: 3 });
    expect(layout.global).toEqual([0, 2, 4]);
    const frame = 6 * 2 * 2 * 4; // S = 6 rows of K and V (2D) in f32
    expect(clipForwardBytes(small, layout, 1, 4)).toBe((1 * 2 + 1 * 2) * frame);
    expect(clipForwardBytes(small, layout, 0, 4)).toBe((1 * 2 + 1 * 1) * frame + 2 * 2 * 2 * 4 * 2);
    expect(clipForwardBytes(small, layout, 2, 4)).toBe((1 * 2 + 1 * 1) * frame);
    expect(clipForwardBytes({ ...small, layers: 3 }, layout, 1, 4)).toBe(3 * 4 * frame);
    expect(clipForwardBytes(small, clipLayout(6, 1), 0, 4)).toBe(0);
    // the velocity all-gather: 2 frames x L 4 x 64 values to 2 others
    expect(clipVelocityGatherBytes(small, layout, 1, 4)).toBe(2 * 4 * 64 * 4 * 2);
  });

  it('DualParal: each block window (B + C frames, S rows, CFG batch) to the next rank; the last returns the velocity of each block\'s own frames (block 0: B + C)', () => {
    const blocks = blockLayout(14, 4, 2); // 3 blocks
    expect(dualParalStepBytes(small, blocks, 4, 0, 2, 2)).toBe(3 * 6 * 6 * 2 * 2 * 2);
    expect(dualParalStepBytes(small, blocks, 4, 3, 2, 2)).toBe((6 + 4 + 4) * 4 * 64 * 2); // blocks of 6, 4 and 4 own frames
    expect(dualParalStepBytes(small, blocks, 1, 0, 2, 2)).toBe(0);
  });
});

describe('FLOPs of a forward', () => {
  const twoB: CostDims = { D: 1536, heads: 24, layers: 24, L: 1296, T: 333, velocity: 64 };
  it('the 2B model at 768x432x40 with full temporal attention: 127 TFLOP linear, 19 TFLOP attention', () => {
    const f = forwardFlops(twoB, 40, { kind: 'full' });
    expect(f.linear / 1e12).toBeCloseTo(126.8, 0);
    expect((f.attention + f.temporal) / 1e12).toBeCloseTo(19.2, 0);
  });

  it('temporal attention: F^2 (full), per clip F_r (F_r + 2p + |G|), per DualParal block (B + C)(B + 2C)', () => {
    const S = small.L + small.T;
    const per = 4 * S * small.D * small.layers;
    expect(forwardFlops(small, 6, { kind: 'full' }).temporal).toBe(per * 36);
    // clips 2,2,2, p = 1, |G| = 3: 3 x 2 x (2 + 2 + 3)
    expect(forwardFlops(small, 6, { kind: 'clip', layout: clipLayout(6, 3, { window: 1, topK: 3 }) }).temporal).toBe(per * 42);
    // 3 blocks of B = 4, C = 2: each 6 queries x 8 keys; the linears run on 3 x 6 = 18 frame windows
    const b = forwardFlops(small, 14, { kind: 'blocks', layout: blockLayout(14, 4, 2) });
    expect(b.temporal).toBe(per * 3 * 6 * 8);
    expect(b.linear).toBe(forwardFlops(small, 18, { kind: 'full' }).linear);
  });
});
