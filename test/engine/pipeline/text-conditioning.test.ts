// SD3 text-conditioning assembly (spec section 3) checked element by element on random awkward sizes.
import { describe, expect, it } from 'vitest';
import { assembleTextConditioning, type Matrix } from '../../../engine/pipeline/text-conditioning.js';

function rand(rows: number, cols: number, seed: number): Matrix {
  let s = seed;
  const data = Float64Array.from({ length: rows * cols }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1);
  return { rows, cols, data };
}

describe('assembleTextConditioning', () => {
  it('CLIP-L | CLIP-G on channels, zero pad to J, then T5 rows; pooled = L then G', () => {
    const [dl, dg, J, nT5, S] = [5, 7, 19, 11, 9];
    const clipL = rand(S, dl, 1);
    const clipG = rand(S, dg, 2);
    const t5 = rand(nT5, J, 3);
    const pl = rand(1, 3, 4).data;
    const pg = rand(1, 4, 5).data;
    const c = assembleTextConditioning({ clipL, clipG, t5, t5Tokens: 999, clipLPooled: pl, clipGPooled: pg }, J, 7);
    expect(c.tokens).toBe(S + nT5);
    expect(c.jointDim).toBe(J);
    expect(c.promptEmbeds.length).toBe((S + nT5) * J);
    for (let r = 0; r < S + nT5; r++) {
      for (let ch = 0; ch < J; ch++) {
        let want: number;
        if (r < S) want = ch < dl ? clipL.data[r * dl + ch] : ch < dl + dg ? clipG.data[r * dg + ch - dl] : 0;
        else want = t5.data[(r - S) * J + ch];
        expect(c.promptEmbeds[r * J + ch]).toBe(Math.fround(want));
      }
    }
    expect(Array.from(c.pooled)).toEqual([...Array.from(pl), ...Array.from(pg)].map(Math.fround));
  });

  it('without T5: zeros for t5Tokens rows', () => {
    const c = assembleTextConditioning({ clipL: rand(3, 2, 1), clipG: rand(3, 2, 2), t5: null, t5Tokens: 4, clipLPooled: [1], clipGPooled: [2] }, 6, 2);
    expect(c.tokens).toBe(7);
    expect(Array.from(c.promptEmbeds.subarray(18)).every((v) => v === 0)).toBe(true);
    expect(c.promptEmbeds.subarray(0, 18).some((v) => v !== 0)).toBe(true);
  });

  it('names size mismatches', () => {
    const base = { clipL: rand(3, 2, 1), clipG: rand(3, 2, 2), t5: rand(2, 6, 3), t5Tokens: 2, clipLPooled: [1], clipGPooled: [2] };
    expect(() => assembleTextConditioning(base, 7, 2)).toThrow(/T5 width 6 != joint_attention_dim 7/);
    expect(() => assembleTextConditioning(base, 6, 3)).toThrow(/pooled_projection_dim 3/);
    expect(() => assembleTextConditioning({ ...base, clipG: rand(4, 2, 2) }, 6, 2)).toThrow(/CLIP-G has 4/);
    expect(() => assembleTextConditioning({ ...base, t5: null }, 3, 2)).toThrow(/exceeds joint_attention_dim 3/);
  });
});
