// inspectCheckpoint / formatInspect / estimateMemory on tiny checkpoints, with parameter counts checked
// against closed-form formulas from the spec, and a size sanity check at the real 2B configuration.
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint, type TinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { inspectCheckpoint, formatInspect, estimateMemory, formatMemoryEstimate } from '../../../engine/io/inspect.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { transformerKeys } from '../../../engine/io/keys.js';
import type { VchitectTransformerConfig } from '../../../engine/io/configs.js';
import type { WeightStore } from '../../../engine/io/sharded.js';

let root = '';
let tiny: TinyCheckpoint;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'insp-'));
  tiny = await makeTinyCheckpoint(join(root, 'a'), { dtype: 'F16', transformerShards: 2 });
});
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** Transformer parameter count from the spec's layer list (closed form). */
function transformerParams(c: VchitectTransformerConfig): number {
  const D = c.num_attention_heads * c.attention_head_dim;
  const lin = (o: number, i: number) => o * i + o;
  const ff = lin(4 * D, D) + lin(D, 4 * D);
  const block = (last: boolean) =>
    lin(6 * D, D) + lin((last ? 2 : 6) * D, D) + (last ? 14 : 15) * lin(D, D) + ff + (last ? 0 : ff);
  let n = D * c.in_channels * c.patch_size ** 2 + D + c.pos_embed_max_size ** 2 * D;
  n += lin(D, 256) + lin(D, D) + lin(D, c.pooled_projection_dim) + lin(D, D) + lin(D, c.joint_attention_dim);
  n += lin(2 * D, D) + lin(c.patch_size ** 2 * c.out_channels, D);
  for (let i = 0; i < c.num_layers; i++) n += block(i === c.num_layers - 1);
  return n;
}

describe('inspect', () => {
  it('summarizes sub-models with parameter counts, dtypes and bytes', async () => {
    const insp = await inspectCheckpoint(tiny.dir);
    expect(insp.validation).toEqual({ ok: true, problems: [] });
    expect(insp.textTokens).toEqual({ clip: 77, t5: 256, total: 333 });
    expect(insp.subModels.map((s) => s.name)).toEqual(['transformer', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'vae']);
    const t = insp.subModels[0];
    expect(t.parameters).toBe(transformerParams(tiny.transformer));
    expect(t.dtypes).toEqual({ F16: t.parameters });
    expect(t.bytes).toBe(2 * t.parameters);
    expect(t.shards).toBe(2);
    expect(t.className).toBe('VchitectXLTransformerModel');
    const clip = insp.subModels[1];
    const h = tiny.textEncoder.hidden_size;
    const layer = 4 * (h * h + h) + 2 * 2 * h + (tiny.textEncoder.intermediate_size * h + tiny.textEncoder.intermediate_size) + (h * tiny.textEncoder.intermediate_size + h);
    const i64 = clip.dtypes.I64 ?? 0;
    expect(clip.parameters - i64).toBe(tiny.textEncoder.vocab_size * h + 77 * h + 2 * layer + 2 * h + tiny.textEncoder.projection_dim * h);
    expect(insp.totalParameters).toBe(insp.subModels.reduce((a, s) => a + s.parameters, 0));
    const text = formatInspect(insp);
    expect(text).toContain('validation      OK');
    expect(text).toMatch(/transformer .*VchitectXLTransformerModel/);
    expect(text).toContain('D=64');
    expect(text).toContain('2 shards');
  });

  it('reports validation problems instead of throwing', async () => {
    const b = await makeTinyCheckpoint(join(root, 'b'));
    const p = join(b.dir, 'transformer/config.json');
    const cfg = JSON.parse(await readFile(p, 'utf8'));
    await writeFile(p, JSON.stringify({ ...cfg, pos_embed_max_size: 8 }));
    const insp = await inspectCheckpoint(b.dir);
    expect(insp.validation.ok).toBe(false);
    expect(formatInspect(insp)).toMatch(/FAILED:\n.*pos_embed_max_size is 8 but the weights say 16/);
  });
});

/** Weight store stand-in with only shapes, for size estimates at the real configuration. */
function shapeOnlyStore(specs: { key: string; shape: number[] }[]): WeightStore {
  const m = new Map(specs.map((s) => [s.key, s]));
  const info = (k: string) => ({ name: k, dtype: 'BF16' as const, shape: m.get(k)!.shape, begin: 0, end: 0 });
  return {
    name: 'fake', keys: () => [...m.keys()], has: (k) => m.has(k), info, fileOf: () => 'fake',
    read: () => Promise.reject(new Error('no data')), readFloat32: () => Promise.reject(new Error('no data')), close: async () => {},
  };
}

describe('estimateMemory', () => {
  it('counts weights at the compute dtype and grows with frames and resolution', async () => {
    const ck = await openCheckpoint(tiny.dir);
    const a = estimateMemory(ck, { frames: 4, width: 64, height: 48, dtype: 'F16' });
    const b = estimateMemory(ck, { frames: 8, width: 64, height: 48, dtype: 'F16' });
    const c = estimateMemory(ck, { frames: 4, width: 128, height: 96, dtype: 'F32' });
    expect(a.estimate).toBe(true);
    expect(a.weights.transformer).toBe(2 * transformerParams(tiny.transformer));
    expect(c.weights.transformer).toBe(4 * transformerParams(tiny.transformer));
    expect(b.activations.transformer).toBeGreaterThan(a.activations.transformer * 1.5);
    expect(c.activations.vae).toBeGreaterThan(a.activations.vae * 4);
    expect(a.peakAllResident).toBeGreaterThanOrEqual(a.peakSequential);
    expect(formatMemoryEstimate(a)).toMatch(/ESTIMATE/);
    expect(a.notes.join('\n')).toMatch(/L=12, T=333\)/); // 77 + 256 text tokens
    await ck.close();
  });

  it("uses the checkpoint's text lengths (32 tokens on the shapes preset) unless told", async () => {
    const shapes = await makeTinyCheckpoint(join(root, 'shapes'), { preset: 'shapes' });
    const ck = await openCheckpoint(shapes.dir);
    const opts = { frames: 8, width: 64, height: 64, dtype: 'F32' } as const;
    const m = estimateMemory(ck, opts);
    expect(m.notes.join('\n')).toMatch(/8 frames x 48 tokens \(L=16, T=32\)/);
    expect(m.activations.transformer).toBe(estimateMemory(ck, { ...opts, textTokens: 32 }).activations.transformer);
    expect(m.activations.transformer).toBeLessThan(estimateMemory(ck, { ...opts, textTokens: 333 }).activations.transformer);
    const insp = await inspectCheckpoint(ck);
    expect(insp.textTokens).toEqual({ clip: 16, t5: 16, total: 32 });
    expect(formatInspect(insp)).toMatch(/text tokens +32 per prompt \(16 CLIP \+ 16 T5\)/);
    await ck.close();
  });

  it('gives ~2 B transformer parameters and tens of GiB at the real 2B reference size', async () => {
    const ck = await openCheckpoint(tiny.dir);
    const real: VchitectTransformerConfig = {
      sample_size: 128, patch_size: 2, in_channels: 16, out_channels: 16, num_layers: 24, attention_head_dim: 64,
      num_attention_heads: 24, joint_attention_dim: 4096, caption_projection_dim: 1536, pooled_projection_dim: 2048, pos_embed_max_size: 192,
    };
    const fake: Checkpoint = { ...ck, transformer: { ...ck.transformer, config: real, weights: shapeOnlyStore(transformerKeys(real)) } };
    const params = transformerParams(real);
    expect(params).toBeGreaterThan(1.5e9);
    expect(params).toBeLessThan(3e9);
    const m = estimateMemory(fake, { frames: 40, width: 768, height: 432, dtype: 'BF16' });
    expect(m.weights.transformer).toBe(2 * params);
    expect(m.activations.transformer).toBeGreaterThan(2 ** 30);
    expect(m.activations.transformer).toBeLessThan(200 * 2 ** 30);
    console.log(`real-size transformer params ${params}; ${formatMemoryEstimate(m)}`);
    await ck.close();
  });
});
