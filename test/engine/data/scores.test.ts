// Model-score rules and loaders: the OCR box filter, area and clip rule; the LAION head collapsed to one affine map
// equals running its layers one after another (float64, tiny random weights written as safetensors in LAION's
// layout); the aesthetic scorer wiring.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../../engine/io/safetensors.js';
import { aestheticFrames, collapseLinear, edgeMiddleFrames, laionAestheticScorer, loadAestheticHead, ocrRule, quadArea, textRatio } from '../../../engine/data/scores.js';
import { rng } from '../../helpers/random.js';

describe('scores', () => {
  it('frame choice: 10/50/90% for aesthetics, first/middle/last for watermark and text', () => {
    expect(aestheticFrames(0, 20)).toEqual([2, 10, 18]);
    expect(aestheticFrames(5, 6)).toEqual([5, 5, 5]);
    expect(edgeMiddleFrames(10, 31)).toEqual([10, 20, 30]);
  });

  it('OCR: confident boxes of >= 4 characters count; more than one frame over 2% drops the clip', () => {
    expect(quadArea([[0, 0], [10, 0], [10, 5], [0, 5]])).toBe(50);
    expect(quadArea([[0, 0], [4, 4], [0, 8], [-4, 4]])).toBe(32);
    const box = (conf: number, text: string) => ({ quad: [[0, 0], [10, 0], [10, 3], [0, 3]] as [number, number][], confidence: conf, text });
    expect(textRatio([box(0.9, 'SALE'), box(0.39, 'HIDDEN'), box(0.9, 'abc'), box(0.4, ' ab c ')], 100, 10)).toBeCloseTo(0.06, 12);
    // Detection-only boxes (CRAFT: no text read) count by confidence alone.
    const det = (conf: number) => ({ quad: [[0, 0], [10, 0], [10, 3], [0, 3]] as [number, number][], confidence: conf });
    expect(textRatio([det(0.75), det(0.39), box(0.9, 'abc')], 100, 10)).toBeCloseTo(0.03, 12);
    expect(ocrRule([0.03, 0.01, 0.021])).toEqual({ ocr: 0.03, drop: true });
    expect(ocrRule([0.03, 0.02, 0])).toEqual({ ocr: 0.03, drop: false });
  });

  it('the LAION head collapses to one affine map equal to running the layers; loads from safetensors', async () => {
    const r = rng(3);
    const dims = [6, 5, 4, 3, 2, 1];
    const layers = dims.slice(0, -1).map((inp, k) => ({ in: inp, out: dims[k + 1]!, weight: Float32Array.from({ length: inp * dims[k + 1]! }, () => r() - 0.5), bias: Float32Array.from({ length: dims[k + 1]! }, () => r() - 0.5) }));
    const run = (e: number[]) => layers.reduce((x, l) => Array.from({ length: l.out }, (_, o) => x.reduce((s, v, i) => s + v * l.weight[o * l.in + i]!, l.bias[o]!)), e)[0]!;
    const head = collapseLinear(layers);
    const e = [0.3, -0.2, 0.5, 0.1, -0.7, 0.25];
    expect(head.w.reduce((s, w, i) => s + w * e[i]!, head.b)).toBeCloseTo(run(e), 12);
    const dir = await mkdtemp(join(tmpdir(), 'parallax-aes-'));
    try {
      const file = join(dir, 'aes.safetensors');
      const ids = [0, 2, 4, 6, 7]; // LAION's Sequential: Linear, Dropout, Linear, Dropout, Linear, Dropout, Linear, Linear
      await writeSafetensors(file, Object.fromEntries(layers.flatMap((l, k) => [
        [`layers.${ids[k]}.weight`, { dtype: 'F32' as const, shape: [l.out, l.in], data: l.weight }],
        [`layers.${ids[k]}.bias`, { dtype: 'F32' as const, shape: [l.out], data: l.bias }],
      ])));
      const loaded = await loadAestheticHead(file);
      expect(loaded.b).toBeCloseTo(head.b, 12);
      expect([...loaded.w].map((v) => +v.toFixed(12))).toEqual([...head.w].map((v) => +v.toFixed(12)));
      const scorer = laionAestheticScorer({ name: 'stub', width: 2, height: 1, dim: 6, embed: async (f) => f.map(() => Float32Array.from(e)) }, loaded);
      const got = await scorer.score([new Uint8Array(6), new Uint8Array(6)]);
      expect(got.length).toBe(2);
      expect(got[0]).toBeCloseTo(run(e.map((v) => Math.fround(v))), 6);
      expect(() => laionAestheticScorer({ name: 'stub', width: 2, height: 1, dim: 5, embed: async () => [] }, loaded)).toThrow(/takes 6-d embeddings/);
      await writeSafetensors(join(dir, 'bad.safetensors'), { x: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
      await expect(loadAestheticHead(join(dir, 'bad.safetensors'))).rejects.toThrow(/no layers.N.weight/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
