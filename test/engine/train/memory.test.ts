// The training memory check (engine/train/memory.ts): the sizes it suggests fit and one more does not, the message
// names the cause (binding limit or budget), and the estimate grows with frames and batch as it should; per rank, it
// follows the SP row split (uneven splits padded), the ZeRO stage's shards and the memory plan, and suggests the
// layouts (--recompute, --zero 3, a larger --sp) that would fit. Against measured peaks: memory-measured.test.ts.
import { describe, expect, it } from 'vitest';
import { checkTrainFits, estimateTrainMemory, memoryBudget, type StepGeometry, type ZeroGeometry } from '../../../engine/train/memory.js';

const G: StepGeometry = { params: 1e6, layers: 6, dim: 64, ema: true, frames: 16, height: 8, width: 8, channels: 16, patch: 2, tokens: 154, joint: 96, pooled: 80, batch: 8 };

describe('training memory estimate', () => {
  it('counts weights, optimizer state, one item of activations and the batch inputs', () => {
    const e = estimateTrainMemory(G);
    expect(e.persistent).toBe(1e6 * 4 * 6);
    expect(estimateTrainMemory({ ...G, ema: false }).persistent).toBe(1e6 * 4 * 5);
    const rows = 16 * (16 + 154);
    expect(e.largestTensor).toBe(4 * rows * 4 * 64);
    expect(estimateTrainMemory({ ...G, batch: 16 }).activations).toBe(e.activations); // items run one after another
    expect(estimateTrainMemory({ ...G, batch: 16 }).inputs).toBe(2 * e.inputs);
    expect(estimateTrainMemory({ ...G, frames: 32 }).activations).toBe(2 * e.activations);
    // --recompute: 4 of 6 blocks keep only their input (1 of them offloaded); the one rerunning holds its activations again, next to their gradients (counted twice)
    const r = estimateTrainMemory({ ...G, checkpointed: 4, offloaded: 1 });
    const perUnit = e.activations / (40 * 6 + 24);
    expect(perUnit).toBe(4 * rows * 64);
    expect(r.activations / perUnit).toBeCloseTo(40 * 2 + 3 + 80 + 24, 9);
  });

  it('passes what fits; otherwise names the largest --frames and --batch that fit, and they do', () => {
    const big = { maxBinding: 2 ** 31 };
    expect(checkTrainFits(G, big).total).toBe(estimateTrainMemory(G).total);
    const budget = estimateTrainMemory({ ...G, frames: 5 }).total + 1;
    let msg = '';
    try { checkTrainFits(G, { maxBinding: 2 ** 31, budget }); } catch (e) { msg = (e as Error).message; }
    expect(msg).toMatch(/does not fit: it needs about .* but the budget is/);
    const frames = Number(/--frames (\d+)/.exec(msg)![1]);
    expect(frames).toBe(5);
    expect(estimateTrainMemory({ ...G, frames: frames + 1 }).total).toBeGreaterThan(budget);
    const binding = estimateTrainMemory({ ...G, frames: 3 }).largestTensor;
    expect(() => checkTrainFits(G, { maxBinding: binding })).toThrow(/storage binding limit.*--frames 3 \(at --batch 8\)/);
    expect(() => checkTrainFits(G, { maxBinding: 2 ** 31, budget: 1000 })).toThrow(/Nothing smaller fits either/);
  });

  it('holds ceil(n / P) of the visual rows of every frame and of the text rows per SP rank (uneven splits padded)', () => {
    // 16 visual + 154 text rows per frame; block activations 40 x 6 + 24 per row, per-rank rows: 16 x (ceil(16/P) + ceil(154/P))
    const unit = 4 * 64;
    const ends = 8 * 16 * 16; // the replicated ends: 8 x D per visual row of the whole item
    const kv = (P: number) => (4 % P ? 4 * 16 * 170 * 6 : 0); // the K/V all-gather's gathered rows (4 heads do not split over 3)
    for (const [P, perFrame] of [[2, 8 + 77], [3, 6 + 52], [4, 4 + 39]] as const) {
      const e = estimateTrainMemory({ ...G, sp: P, heads: 4 });
      expect(e.activations).toBe(unit * (16 * perFrame * (40 * 6 + 24) + ends + kv(P)));
      expect(e.persistent).toBe(estimateTrainMemory(G).persistent); // SP replicates the weights and optimizer state
      expect(e.largestTensor).toBe(unit * Math.max(4 * 16 * perFrame, 16 * 170)); // the feed-forward's, or a whole-item gather
    }
    expect(estimateTrainMemory({ ...G, sp: 2, heads: 4 }).total).toBeLessThan(estimateTrainMemory(G).total);
    expect(() => estimateTrainMemory({ ...G, sp: 0 })).toThrow(/sp must be an integer >= 1/);
  });

  it("counts the ZeRO stage's shards on the rank holding the most", () => {
    // 6 blocks of 100 elements + a non-block unit of 400: rank 0 owns blocks 0-2 (300), rank 1 blocks 3-5 and the rest (700)
    const units = [0, 0, 0, 1, 1, 1, 1].map((owner, i) => ({ numel: i < 6 ? 100 : 400, owner }));
    const Z = (stage: ZeroGeometry['stage']): StepGeometry => ({ ...G, params: 1000, batch: 1, zero: { stage, ranks: 2, units } });
    // stage 0: weights, m, v, EMA, gradient sum and one item's gradients, all whole
    expect(estimateTrainMemory(Z(0)).persistent).toBe(4 * 1000 * 6);
    // stage 1: weights whole, m, v, EMA of rank 1's 700, gradients whole (sum + item)
    expect(estimateTrainMemory(Z(1)).persistent).toBe(4 * (1000 + 3 * 700 + 2 * 1000));
    // stage 2, one item: its own sums (700) + the block being reduced and the non-block unit waiting
    expect(estimateTrainMemory(Z(2)).persistent).toBe(4 * (1000 + 3 * 700 + 700 + 400 + 100));
    // ... more items: the earlier items' whole sum and a block's
    expect(estimateTrainMemory({ ...Z(2), batch: 3 }).persistent).toBe(4 * (1000 + 3 * 700 + 700 + 1000 + 100));
    // stage 3: weights too are its own units plus one gathered block (it owns the non-block unit); rank 0: 300 + 400 + 100
    expect(estimateTrainMemory(Z(3)).persistent).toBe(4 * Math.max(700 + 100 + 3 * 700 + 700 + 500, 300 + 400 + 100 + 3 * 300 + 300 + 500));
    // the activations do not depend on the stage
    expect(estimateTrainMemory(Z(3)).activations).toBe(estimateTrainMemory(G).activations);
    expect(() => estimateTrainMemory({ ...Z(3), zero: { stage: 3, ranks: 2, units: units.slice(1) } })).toThrow(/6 units for 6 blocks \(expected 7\)/);
  });

  it('suggests --recompute, --offload, --zero 3 or a larger --sp when that would fit, and they do', () => {
    const big = { maxBinding: 2 ** 31 };
    const msgOf = (g: StepGeometry, budget: number) => {
      try { checkTrainFits(g, { ...big, budget }); } catch (e) { return (e as Error).message; }
      return '';
    };
    // between recompute-everything and the plain run: --recompute 0 is named (and --sp 2 also fits)
    const rec = { ...G, checkpointed: 6, offloaded: 0 };
    let budget = estimateTrainMemory(rec).total + 1;
    let msg = msgOf(G, budget);
    expect(msg).toMatch(/At this size it fits with --recompute 0 \(/);
    const sp = Number(/--sp (\d+) \(/.exec(msg)![1]);
    expect(estimateTrainMemory({ ...G, sp }).total).toBeLessThanOrEqual(budget);
    expect(estimateTrainMemory({ ...G, sp: sp - 1 }).total).toBeGreaterThan(budget);
    // recompute alone is not enough, with offload it is
    budget = estimateTrainMemory({ ...G, checkpointed: 6, offloaded: 6 }).total + 1;
    expect(budget).toBeLessThan(estimateTrainMemory(rec).total);
    expect(msgOf(G, budget)).toMatch(/--recompute 0 --offload 1/);
    expect(msgOf({ ...G, checkpointed: 6 }, budget)).toMatch(/it fits with --offload 1 /);
    // ZeRO 3 over 2 data-parallel ranks (which recomputes every block)
    const units = Array.from({ length: 7 }, (_, i) => ({ numel: i < 6 ? 1e5 : 4e5, owner: i < 3 ? 0 : 1 }));
    const z0: StepGeometry = { ...G, batch: 1, zero: { stage: 0, ranks: 2, units } };
    const z3: StepGeometry = { ...z0, zero: { stage: 3, ranks: 2, units }, checkpointed: 6 };
    budget = estimateTrainMemory(z3).total + 1;
    msg = msgOf(z0, budget);
    expect(msg).toMatch(/\(ZeRO 0 over 2 data-parallel ranks\) does not fit: it needs about .* per rank/);
    expect(msg).toMatch(/--zero 3 \(/);
    expect(msg).toMatch(/--sp \d+ \(\d+ ranks in --devices for 2 data-parallel ranks/);
    expect(msg).not.toMatch(/drop --recompute/);
    expect(msgOf({ ...z0, checkpointed: 3 }, budget)).toMatch(/--zero 3 \([^)]*; drop --recompute\)/); // ZeRO 3 refuses --recompute
    // at ZeRO 3 no --recompute is suggested (it is refused there)
    expect(msgOf(z3, 1000)).not.toMatch(/--recompute/);
  });

  it('budgets 70% of host memory on a CPU adapter, nothing on a GPU unless a limit is given', () => {
    expect(memoryBudget({ isFallbackAdapter: false, description: 'llvmpipe (LLVM 15.0.7, 256 bits)' })).toBeGreaterThan(0);
    expect(memoryBudget({ isFallbackAdapter: false, description: 'NVIDIA H100' })).toBeUndefined();
    expect(memoryBudget({ isFallbackAdapter: false, description: 'NVIDIA H100' }, 5e9)).toBe(5e9);
  });
});
