// The training memory check (engine/train/memory.ts): the sizes it suggests fit and one more does not, the message
// names the cause (binding limit or budget), and the estimate grows with frames and batch as it should.
import { describe, expect, it } from 'vitest';
import { checkTrainFits, estimateTrainMemory, memoryBudget, type StepGeometry } from '../../../engine/train/memory.js';

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
    // --recompute: 4 of 6 blocks keep only their input (1 of them offloaded); the one rerunning counts twice
    const r = estimateTrainMemory({ ...G, checkpointed: 4, offloaded: 1 });
    const perUnit = e.activations / (40 * 6 + 24);
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

  it('budgets 70% of host memory on a CPU adapter, nothing on a GPU unless a limit is given', () => {
    expect(memoryBudget({ isFallbackAdapter: false, description: 'llvmpipe (LLVM 15.0.7, 256 bits)' })).toBeGreaterThan(0);
    expect(memoryBudget({ isFallbackAdapter: false, description: 'NVIDIA H100' })).toBeUndefined();
    expect(memoryBudget({ isFallbackAdapter: false, description: 'NVIDIA H100' }, 5e9)).toBe(5e9);
  });
});
