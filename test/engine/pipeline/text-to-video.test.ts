// TextToVideoPipeline: end to end on a tiny checkpoint against an independent float64 chain (reference models +
// sample64), the CFG/negative-prompt path and settings validation on a fake backend, and loader errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, truncate, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint, type TinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import type { WeightStore } from '../../../engine/io/sharded.js';
import { loadCheckpointTokenizers } from '../../../engine/text/tokenizers.js';
import { TextToVideoPipeline } from '../../../engine/pipeline/text-to-video.js';
import type { BackendModelInfo, ModelBackend, Tensor32, TextConditioning } from '../../../engine/pipeline/backend.js';
import { philoxNormalNoise } from '../../../engine/pipeline/noise.js';
import { clipTextForward64 } from '../../../engine/reference/clip.js';
import { t5EncoderForward64 } from '../../../engine/reference/t5.js';
import { vchitectForward64 } from '../../../engine/reference/vchitect.js';
import { decodeLatents64, toUint8Image64 } from '../../../engine/reference/vae.js';
import { sample64 } from '../../../engine/reference/flow-match.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';

let dir: string;
let tiny: TinyCheckpoint;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-t2v-'));
  tiny = await makeTinyCheckpoint(join(dir, 'ckpt'), { transformer: { num_layers: 1 }, seed: 77 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function weights64(w: WeightStore): Promise<Map<string, Tensor64>> {
  const m = new Map<string, Tensor64>();
  for (const k of w.keys()) {
    if (w.info(k).dtype === 'I64') continue;
    m.set(k, { shape: w.info(k).shape, data: Float64Array.from(await w.readFloat32(k)) });
  }
  return m;
}

describe('TextToVideoPipeline on the tiny checkpoint (reference backend)', () => {
  it('matches an independent float64 chain: encoders -> conditioning -> sample64 -> VAE', async () => {
    const s = { prompt: 'a red fox in the snow', negativePrompt: 'blurry', width: 16, height: 32, frames: 2, steps: 2, guidance: 5, guidanceMode: 'constant' as const, seed: 7 };
    const pipe = await TextToVideoPipeline.fromPretrained(tiny.dir);
    const res = await pipe.generate(s);
    await pipe.dispose();
    expect(res.latents.shape).toEqual([1, 2, 16, 4, 2]);
    expect(res.video.width).toBe(16);
    expect(res.video.height).toBe(32);
    expect(res.video.frames.length).toBe(2);
    expect(res.timings.stepMs.length).toBe(2);

    // Independent chain.
    const ck = await openCheckpoint(tiny.dir);
    const tok = await loadCheckpointTokenizers(ck);
    const cl = tiny.textEncoder;
    const cg = tiny.textEncoder2;
    const t5c = tiny.textEncoder3;
    const wl = await weights64(ck.textEncoder!.weights);
    const wg = await weights64(ck.textEncoder2!.weights);
    const wt = await weights64(ck.textEncoder3!.weights);
    const J = tiny.transformer.joint_attention_dim;
    const clipCfg = (c: typeof cl) => ({ vocabSize: c.vocab_size, hiddenSize: c.hidden_size, intermediateSize: c.intermediate_size, numLayers: c.num_hidden_layers, heads: c.num_attention_heads, maxPositionEmbeddings: c.max_position_embeddings, hiddenAct: c.hidden_act as 'gelu', layerNormEps: c.layer_norm_eps, projectionDim: c.projection_dim, eosTokenId: c.eos_token_id });
    const encode = (p: string) => {
      const l = clipTextForward64(wl, clipCfg(cl), tok.clipL.encode(p));
      const g = clipTextForward64(wg, clipCfg(cg), tok.clipG.encode(p));
      const t5 = t5EncoderForward64(wt, { vocabSize: t5c.vocab_size, dModel: t5c.d_model, dKv: t5c.d_kv, dFf: t5c.d_ff, numLayers: t5c.num_layers, heads: t5c.num_heads, relativeAttentionNumBuckets: t5c.relative_attention_num_buckets, relativeAttentionMaxDistance: t5c.relative_attention_max_distance, layerNormEpsilon: t5c.layer_norm_epsilon, feedForwardProj: 'gated-gelu' }, tok.t5!.encode(p));
      const hl = l.hiddenStates[l.hiddenStates.length - 2];
      const hg = g.hiddenStates[g.hiddenStates.length - 2];
      const T = 77 + t5.shape[0];
      const e = new Float64Array(T * J);
      for (let r = 0; r < 77; r++) {
        for (let c = 0; c < cl.hidden_size; c++) e[r * J + c] = hl.data[r * cl.hidden_size + c];
        for (let c = 0; c < cg.hidden_size; c++) e[r * J + cl.hidden_size + c] = hg.data[r * cg.hidden_size + c];
      }
      e.set(t5.data, 77 * J);
      // The pipeline hands the transformer float32 conditioning.
      const e32 = Float64Array.from(Float32Array.from(e));
      const pooled = Float64Array.from(Float32Array.from([...l.textEmbeds.data, ...g.textEmbeds.data]));
      return { ehs: { shape: [1, T, J], data: e32 }, pooled: { shape: [1, pooled.length], data: pooled } };
    };
    const cond = encode(s.prompt);
    const uncond = encode(s.negativePrompt);
    const tr = tiny.transformer;
    const wtr = await weights64(ck.transformer.weights);
    const vcfg = { numLayers: tr.num_layers, heads: tr.num_attention_heads, headDim: tr.attention_head_dim, patchSize: tr.patch_size, inChannels: tr.in_channels, outChannels: tr.out_channels, posEmbedMaxSize: tr.pos_embed_max_size, jointAttentionDim: J, pooledProjectionDim: tr.pooled_projection_dim };
    const shape = [1, 2, 16, 4, 2];
    const noise: Tensor64 = { shape, data: Float64Array.from(philoxNormalNoise(shape, 7)) };
    const want = sample64((x, t, branch) => {
      const c = branch === 'cond' ? cond : uncond;
      return vchitectForward64(wtr, vcfg, { hiddenStates: x, timestep: t, encoderHiddenStates: c.ehs, pooledProjections: c.pooled });
    }, noise, { numSteps: 2, shift: tiny.scheduler.shift, guidance: 5, guidanceMode: 'constant' });
    let maxErr = 0;
    let maxRef = 0;
    for (let i = 0; i < want.data.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(res.latents.data[i] - want.data[i]));
      maxRef = Math.max(maxRef, Math.abs(want.data[i]));
    }
    expect(maxRef).toBeGreaterThan(0.1);
    expect(maxErr).toBeLessThan(1e-4 * (1 + maxRef));
    const v = tiny.vae;
    const frames = toUint8Image64(decodeLatents64(await weights64(ck.vae.weights), { inChannels: 3, outChannels: 3, latentChannels: 16, blockOutChannels: v.block_out_channels, layersPerBlock: v.layers_per_block, normNumGroups: v.norm_num_groups, scalingFactor: v.scaling_factor, shiftFactor: v.shift_factor ?? 0 }, want));
    await ck.close();
    // frames: reference is planar [F,3,H,W]; the pipeline gives interleaved HWC.
    let off = 0;
    for (let f = 0; f < 2; f++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < 32 * 16; p++) {
          const d = Math.abs(res.video.frames[f][p * 3 + c] - frames[(f * 3 + c) * 512 + p]);
          if (d > 1) off++;
        }
      }
    }
    expect(off).toBe(0);
  });

  it('rejects a corrupt checkpoint with the loader\'s error naming the file', async () => {
    const bad = await makeTinyCheckpoint(join(dir, 'bad'), { transformer: { num_layers: 1 } });
    const f = join(bad.dir, 'vae', 'diffusion_pytorch_model.safetensors');
    await truncate(f, (await stat(f)).size - 100);
    await expect(TextToVideoPipeline.fromPretrained(bad.dir)).rejects.toThrow(/vae\/diffusion_pytorch_model\.safetensors/);
    await writeFile(join(bad.dir, 'transformer', 'config.json'), '{ not json');
    await expect(TextToVideoPipeline.fromPretrained(bad.dir)).rejects.toThrow(/transformer\/config\.json: invalid JSON/);
    await expect(TextToVideoPipeline.fromPretrained(join(dir, 'nope'))).rejects.toThrow(/model_index\.json not found/);
  });
});

/** A fast fake backend recording what the pipeline asks for. */
class FakeBackend implements ModelBackend {
  readonly info: BackendModelInfo = { name: 'fake', latentChannels: 3, patchSize: 2, vaeScale: 8, posEmbedMaxSize: 8, jointDim: 4, pooledDim: 2, shift: 3, numTrainTimesteps: 1000 };
  prompts: string[] = [];
  calls: { t: number; prompt: number }[] = [];
  pairCalls = 0;
  usePair = false;
  async encodeText(prompt: string): Promise<TextConditioning> {
    this.prompts.push(prompt);
    const id = this.prompts.length;
    return { promptEmbeds: new Float32Array(4).fill(id), tokens: 1, jointDim: 4, pooled: Float32Array.of(prompt.length, id) };
  }
  async velocity(x: Tensor32, t: number, text: TextConditioning): Promise<Float32Array> {
    this.calls.push({ t, prompt: text.pooled[1] });
    return x.data.map((v, i) => Math.sin(v + i) * 0.5 + text.pooled[0] * 0.01 - text.pooled[1] * 0.1);
  }
  async decode(x: Tensor32) {
    const [, f, , h, w] = x.shape;
    return { width: w * 8, height: h * 8, frames: Array.from({ length: f }, () => new Uint8Array(w * 8 * h * 8 * 3)) };
  }
  async dispose() {}
}

class GuidedBackend extends FakeBackend {
  guidedCalls = 0;
  begun: unknown[] = [];
  async guidedVelocity(x: Tensor32, t: number, c: TextConditioning, u: TextConditioning, w: number): Promise<Float32Array> {
    this.guidedCalls++;
    const vc = await this.velocity(x, t, c);
    const vu = await this.velocity(x, t, u);
    return vu.map((v, i) => v + w * (vc[i]! - v));
  }
  async beginGeneration(s: unknown): Promise<void> {
    this.begun.push(s);
  }
}

class PairBackend extends FakeBackend {
  async velocityPair(x: Tensor32, t: number, c: TextConditioning, u: TextConditioning): Promise<[Float32Array, Float32Array]> {
    this.pairCalls++;
    return [await this.velocity(x, t, c), await this.velocity(x, t, u)];
  }
}

describe('TextToVideoPipeline with a fake backend', () => {
  const base = { prompt: 'cat', width: 32, height: 16, frames: 3, steps: 3, seed: 11 };

  it('encodes the negative prompt through the backend (not zeros) and runs both branches per step', async () => {
    const b = new FakeBackend();
    const r = await new TextToVideoPipeline(b).generate({ ...base, negativePrompt: 'ugly dog' });
    expect(b.prompts).toEqual(['cat', 'ugly dog']);
    expect(b.calls.length).toBe(6);
    expect(b.calls.filter((c) => c.prompt === 2).length).toBe(3);
    expect(r.settings).toMatchObject({ negativePrompt: 'ugly dog', guidance: 7.5, guidanceMode: 'reference' });
    expect(r.latents.shape).toEqual([1, 3, 3, 2, 4]);
    expect(r.video.frames.length).toBe(3);
  });

  it('guidance <= 1 skips the negative prompt; velocityPair is used when present and gives the same result', async () => {
    const b = new FakeBackend();
    await new TextToVideoPipeline(b).generate({ ...base, guidance: 1 });
    expect(b.prompts).toEqual(['cat']);
    expect(b.calls.length).toBe(3);
    const a = await new TextToVideoPipeline(new FakeBackend()).generate({ ...base, guidanceMode: 'constant' });
    const pb = new PairBackend();
    const p = await new TextToVideoPipeline(pb).generate({ ...base, guidanceMode: 'constant' });
    expect(pb.pairCalls).toBe(3);
    expect(Array.from(p.latents.data)).toEqual(Array.from(a.latents.data));
    const ref = await new TextToVideoPipeline(new FakeBackend()).generate({ ...base, guidanceMode: 'reference' });
    expect(Array.from(ref.latents.data)).not.toEqual(Array.from(a.latents.data));
  });

  it('guidedVelocity is preferred when present (same result); beginGeneration sees the resolved settings first', async () => {
    const a = await new TextToVideoPipeline(new FakeBackend()).generate(base);
    const gb = new GuidedBackend();
    const g = await new TextToVideoPipeline(gb).generate(base);
    expect(gb.guidedCalls).toBe(3);
    expect(gb.begun).toEqual([g.settings]);
    for (let i = 0; i < a.latents.data.length; i++) expect(Math.abs(g.latents.data[i]! - a.latents.data[i]!)).toBeLessThan(1e-5);
    const off = new GuidedBackend();
    await new TextToVideoPipeline(off).generate({ ...base, guidance: 1 });
    expect(off.guidedCalls).toBe(0);
  });

  it('uses the injected noise function with the latent shape and seed; defaults the seed randomly', async () => {
    const seen: [number[], number][] = [];
    const pipe = new TextToVideoPipeline(new FakeBackend(), { noise: (shape, seed) => (seen.push([[...shape], seed]), new Float32Array(shape.reduce((a, b) => a * b, 1))) });
    await pipe.generate({ ...base, steps: 1 });
    expect(seen).toEqual([[[1, 3, 3, 2, 4], 11]]);
    const r = await pipe.generate({ ...base, seed: undefined, steps: 1 });
    expect(Number.isSafeInteger(r.settings.seed)).toBe(true);
    const bad = new TextToVideoPipeline(new FakeBackend(), { noise: () => new Float32Array(2) });
    await expect(bad.generate(base)).rejects.toThrow(/noise function returned 2 values/);
  });

  it('an AbortSignal stops generation between steps', async () => {
    const b = new FakeBackend();
    const ac = new AbortController();
    const p = new TextToVideoPipeline(b).generate({ ...base, steps: 5, signal: ac.signal, onStep: (st) => { if (st.step === 1) ac.abort(new Error('stop here')); } });
    await expect(p).rejects.toThrow('stop here');
    expect(b.calls.length).toBe(4); // 2 steps x (cond + uncond)
  });

  it('validates settings with errors that name the fix', async () => {
    const pipe = new TextToVideoPipeline(new FakeBackend());
    const bad = async (o: object, re: RegExp) => expect(pipe.generate({ ...base, ...o })).rejects.toThrow(re);
    await bad({ width: 40 }, /width 40 is not a multiple of 16.*try 32 or 48/);
    await bad({ height: 8 }, /height 8 is not a multiple of 16/);
    await bad({ width: 144 }, /width 144 exceeds the model's maximum 128/);
    await bad({ frames: 0 }, /frames must be an integer >= 1, got 0/);
    await bad({ frames: 1.5 }, /frames must be an integer/);
    await bad({ steps: 0 }, /steps must be an integer >= 1/);
    await bad({ guidance: Number.NaN }, /guidance must be a finite number/);
    await bad({ guidanceMode: 'cosine' }, /guidanceMode must be one of reference, constant, got "cosine"/);
    await bad({ seed: -1 }, /seed must be an integer/);
  });
});
