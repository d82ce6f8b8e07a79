// trainStep / TrainState (engine/train/train-step.ts) on a 2-layer make-tiny checkpoint (D = 8, 2 frames of 4x4
// latents, 3 text tokens): the same (seed, step) reruns bit-identically (loss, norm and every parameter); one step's
// update equals the float64 AdamW reference applied to that step's read-back gradients and norm (clip folded in, no
// weight decay on 1-D tensors and the positional table); the loss and sampled gradients equal the float64 model's
// objective on the same (sigma, eps) draw (finite differences); the norm equals a float64 norm of the gradients;
// the EMA follows diffusers' decay; overfitting one fixed draw lowers the loss; bad arguments are named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { LN_EPS, VchitectTransformer } from '../../../engine/model/vchitect.js';
import { vchitectForward64, type VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import { adamwRef, emaRef } from '../../../engine/ops/optim.ref.js';
import { emaDecay } from '../../../engine/train/schedule.js';
import { Tensor } from '../../../engine/tensor.js';
import { decays, drawSigmaNoise, itemGradients, TrainState, trainStep, type TrainBatch, type TrainStepOptions } from '../../../engine/train/train-step.js';
import type { ModelShape } from '../../../engine/train/vchitect-backward.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
let dir: string;
let ckpt: Checkpoint;
const host = new Map<string, { shape: number[]; data: Float32Array }>();
const F = 2, Hl = 4, Wl = 4, Tn = 3;
let shape: ModelShape;
let C = 0, J = 0, P = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-train-step-'));
  await makeTinyCheckpoint(dir, { seed: 21, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
  const cfg = ckpt.transformer.config as unknown as Record<string, number>;
  shape = { numLayers: 2, heads: 2, patchSize: cfg.patch_size ?? 2, eps: LN_EPS };
  C = cfg.in_channels!;
  J = cfg.joint_attention_dim!;
  P = cfg.pooled_projection_dim!;
});

afterAll(async () => {
  await ckpt.close();
  rmSync(dir, { recursive: true, force: true });
});

function freshParams(): Map<string, Tensor> {
  return new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
}

function batch(seed = 5): TrainBatch {
  return {
    x0: Tensor.from(device, normal(F * C * Hl * Wl, seed), [1, F, C, Hl, Wl], 'f32'),
    context: Tensor.from(device, normal(Tn * J, seed + 1), [1, Tn, J], 'f32'),
    pooled: Tensor.from(device, normal(P, seed + 2), [1, P], 'f32'),
  };
}

const disposeBatch = (b: TrainBatch) => { b.x0.dispose(); b.context.dispose(); b.pooled.dispose(); };
const disposeAll = (m: Map<string, Tensor>) => { for (const t of m.values()) t.dispose(); };

async function readAll(m: ReadonlyMap<string, Tensor>): Promise<Map<string, Float32Array>> {
  const r = new Map<string, Float32Array>();
  for (const [k, t] of m) r.set(k, Float32Array.from(await t.read()));
  return r;
}

const OPTS: TrainStepOptions = { seed: 1234, lr: { lr: 1e-3, warmup: 2, schedule: 'constant', steps: 10 }, sigma: { sampling: 'logit_normal', shift: 3 } };

describe('flow-matching train step', () => {
  it('reruns bit-identically for the same (seed, step); different steps draw different sigma and noise', async () => {
    const run = async () => {
      const params = freshParams();
      const state = new TrainState(params, { ema: true });
      const b = batch();
      const res = [];
      for (let i = 0; i < 2; i++) res.push(await trainStep(state, params, shape, b, { ...OPTS, emaDecay: {} }));
      const p = await readAll(params);
      const e = await readAll(state.ema!);
      state.dispose(); disposeAll(params); disposeBatch(b);
      return { res, p, e };
    };
    const a = await run();
    const b = await run();
    expect(a.res.map((r) => [r.loss, r.gradNorm, r.sigma])).toEqual(b.res.map((r) => [r.loss, r.gradNorm, r.sigma]));
    for (const [k, v] of a.p) expect(Buffer.from(v.buffer).equals(Buffer.from(b.p.get(k)!.buffer)), k).toBe(true);
    for (const [k, v] of a.e) expect(Buffer.from(v.buffer).equals(Buffer.from(b.e.get(k)!.buffer)), k).toBe(true);
    expect(a.res[0]!.lr).toBeCloseTo(5e-4, 12);
    expect(a.res[1]!.lr).toBeCloseTo(1e-3, 12);
    expect(Number.isFinite(a.res[0]!.loss) && a.res[0]!.loss > 0).toBe(true);
    // Each step has its own draw.
    const d1 = drawSigmaNoise(1234, 1, 64, OPTS.sigma), d2 = drawSigmaNoise(1234, 2, 64, OPTS.sigma);
    expect(d1.sigma).not.toBe(d2.sigma);
    expect(d1.eps).not.toEqual(d2.eps);
    expect(d1.sigma > 0 && d1.sigma < 1).toBe(true);
  });

  for (const clip of [1, 1e-3]) it(`one step equals float64 AdamW applied to the step's gradients (clip ${clip}${clip < 1 ? ', active' : ''})`, async () => {
    const params = freshParams();
    const state = new TrainState(params);
    const b = batch();
    const before = await readAll(params);
    const lr = 3e-3;
    // A large weight decay, so that decaying the wrong tensors shows far above the tolerance.
    const wdOn = 0.5;
    const r = await trainStep(state, params, shape, b, { ...OPTS, lr, clip, keepGrads: true, adamw: { weightDecay: wdOn } });
    const grads = await readAll(r.grads!);
    disposeAll(r.grads!);
    const after = await readAll(params);
    // The norm against a float64 norm of the read-back gradients.
    let ss = 0;
    for (const g of grads.values()) for (const x of g) ss += x * x;
    expect(Math.abs(r.gradNorm - Math.sqrt(ss))).toBeLessThan(1e-5 * Math.sqrt(ss));
    if (clip < 1) expect(r.gradNorm).toBeGreaterThan(clip);
    expect(grads.size).toBeGreaterThan(20);
    let decayed = 0, moved = 0;
    for (const [k, g] of grads) {
      const h = host.get(k)!;
      const s = { param: Float64Array.from(before.get(k)!), m: new Float64Array(g.length), v: new Float64Array(g.length) };
      const wd = decays(k, h.shape) ? wdOn : 0;
      if (wd) decayed++;
      adamwRef(s, g, { lr, step: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd, clip, norm: r.gradNorm });
      const got = after.get(k)!;
      let worst = 0;
      // A step moves each weight by up to ~lr; f32 rounding of the weight and of the update are far below that.
      for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(got[i]! - s.param[i]!) / (1e-6 * Math.max(1, Math.abs(s.param[i]!)) + 1e-4 * lr));
      expect(worst, k).toBeLessThan(1);
      // And it moved wherever it has a gradient (no silently skipped update; the last block's text-only tensors have
      // none: its text output is dropped).
      if (g.some((x) => x !== 0)) { moved++; expect(got.some((x, i) => x !== before.get(k)![i]), k).toBe(true); }
    }
    expect(decayed).toBeGreaterThan(5);
    expect(moved).toBeGreaterThan(20);
    expect(decays('pos_embed.pos_embed', [1, 4, 8])).toBe(false);
    expect(decays('transformer_blocks.0.norm1.linear.bias', [48])).toBe(false);
    state.dispose(); disposeAll(params); disposeBatch(b);
  });

  it('loss and gradients are those of the flow-matching objective: against the float64 model on the same draw', async () => {
    const model = await VchitectTransformer.load(device, ckpt.transformer, { dtype: 'f32' });
    const d = model.dims;
    model.dispose();
    const cfg: VchitectConfig64 = {
      numLayers: d.numLayers, heads: d.heads, headDim: d.headDim, patchSize: d.patchSize, inChannels: d.inChannels,
      outChannels: d.outChannels, posEmbedMaxSize: d.M, jointAttentionDim: d.jointAttentionDim, pooledProjectionDim: d.pooledProjectionDim,
    };
    const params = freshParams();
    const state = new TrainState(params);
    const b = batch();
    const n = F * C * Hl * Wl;
    const r = await trainStep(state, params, shape, b, { ...OPTS, lr: 0, keepGrads: true });
    const grads = await readAll(r.grads!);
    disposeAll(r.grads!);
    state.dispose(); disposeAll(params); disposeBatch(b);
    // The same draw, independently: sigma and eps of (seed, step 1); x_t and the target in float64.
    const { sigma, eps } = drawSigmaNoise(OPTS.seed, 1, n, OPTS.sigma);
    expect(r.sigma).toBe(sigma);
    const x0 = normal(n, 5), ctx = normal(Tn * J, 6), pooled = normal(P, 7);
    const xt = Float64Array.from(x0, (x, i) => (1 - sigma) * x + sigma * eps[i]!);
    const w64 = new Map([...host].map(([k, h]) => [k, { shape: h.shape, data: Float64Array.from(h.data) }]));
    const loss64 = () => {
      const v = vchitectForward64(w64, cfg, {
        hiddenStates: { shape: [1, F, C, Hl, Wl], data: xt }, timestep: 1000 * sigma,
        encoderHiddenStates: { shape: [1, Tn, J], data: Float64Array.from(ctx) }, pooledProjections: { shape: [1, P], data: Float64Array.from(pooled) },
      }).data;
      let s = 0;
      for (let i = 0; i < n; i++) s += (v[i]! - (eps[i]! - x0[i]!)) ** 2;
      return s / n;
    };
    const want = loss64();
    expect(Math.abs(r.loss - want)).toBeLessThan(1e-4 * want);
    // Central differences of the float64 loss for a few entries of a few tensors (scaling of dOut included).
    const h = 1e-3;
    for (const k of ['proj_out.bias', 'proj_out.weight', 'transformer_blocks.0.attn.to_q.weight', 'pos_embed.proj.weight']) {
      const data = w64.get(k)!.data;
      const g = grads.get(k)!;
      let big = 0;
      for (const x of g) big = Math.max(big, Math.abs(x));
      expect(big, k).toBeGreaterThan(0);
      for (const i of [0, Math.floor(data.length / 3), data.length - 1]) {
        const v = data[i]!;
        data[i] = v + h; const lp = loss64();
        data[i] = v - h; const lm = loss64();
        data[i] = v;
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(g[i]! - fd), `${k}[${i}]: ${g[i]} vs finite difference ${fd}`).toBeLessThan(2e-3 * big + 1e-2 * Math.abs(fd) + 1e-5);
      }
    }
  });

  it('keeps the EMA as diffusers does: step 1 copies the weights (decay 0), step 2 uses decay (1 + 1) / (10 + 1)', async () => {
    const params = freshParams();
    const state = new TrainState(params, { ema: true });
    const b = batch();
    await trainStep(state, params, shape, b, { ...OPTS, emaDecay: {} });
    const p1 = await readAll(params);
    for (const [k, e] of await readAll(state.ema!)) expect(Buffer.from(e.buffer).equals(Buffer.from(p1.get(k)!.buffer)), k).toBe(true);
    await trainStep(state, params, shape, b, { ...OPTS, emaDecay: {} });
    const p2 = await readAll(params);
    const d = emaDecay(2);
    expect(d).toBeCloseTo(2 / 11, 12);
    for (const [k, e] of await readAll(state.ema!)) {
      const want = Float64Array.from(p1.get(k)!);
      emaRef(want, p2.get(k)!, d);
      for (let i = 0; i < e.length; i++) expect(Math.abs(e[i]! - want[i]!), k).toBeLessThan(1e-6 * Math.max(1, Math.abs(want[i]!)));
    }
    state.dispose(); disposeAll(params); disposeBatch(b);
  });

  it('overfits one fixed batch and draw: the loss falls', async () => {
    const params = freshParams();
    const state = new TrainState(params);
    const b = batch();
    const losses: number[] = [];
    for (let i = 0; i < 25; i++) losses.push((await trainStep(state, params, shape, b, { seed: 9, lr: 1e-2, sigma: { fixed: 0.5 }, drawStep: 1 })).loss);
    state.dispose(); disposeAll(params); disposeBatch(b);
    console.log('overfit losses', losses.map((l) => l.toFixed(4)).join(' '));
    expect(state.step).toBe(25);
    expect(losses.at(-1)!).toBeLessThan(0.5 * losses[0]!);
  });

  it('a K-item batch: item i draws index step * K + i, the gradients are the mean of the items\' (float64), the loss the mean', async () => {
    const params = freshParams();
    const items = [batch(5), batch(50), batch(500)];
    const K = items.length;
    // Each item alone, weight 1, at the draw the batch step will use (step 1: indices K .. 2K - 1).
    const alone: Map<string, Float32Array>[] = [];
    const losses: number[] = [];
    for (let i = 0; i < K; i++) {
      const draw = drawSigmaNoise(OPTS.seed, K + i, items[i]!.x0.numel, OPTS.sigma);
      const r = await itemGradients(params, shape, items[i]!, draw, 1, null);
      losses.push((await r.loss.read())[0]!);
      r.loss.dispose();
      alone.push(await readAll(r.grads));
      disposeAll(r.grads);
    }
    const state = new TrainState(params);
    const r = await trainStep(state, params, shape, items, { ...OPTS, lr: 0, keepGrads: true });
    const got = await readAll(r.grads!);
    disposeAll(r.grads!);
    expect(r.sigmas).toEqual([0, 1, 2].map((i) => drawSigmaNoise(OPTS.seed, K + i, 4, OPTS.sigma).sigma));
    expect(Math.abs(r.loss - (losses[0]! + losses[1]! + losses[2]!) / K)).toBeLessThan(1e-6 * r.loss);
    expect(got.size).toBe(alone[0]!.size);
    for (const [k, g] of got) {
      let scaleK = 0, worst = 0;
      const mean = g.map((_, j) => (alone[0]!.get(k)![j]! + alone[1]!.get(k)![j]! + alone[2]!.get(k)![j]!) / K);
      for (const x of mean) scaleK = Math.max(scaleK, Math.abs(x));
      for (let j = 0; j < g.length; j++) worst = Math.max(worst, Math.abs(g[j]! - mean[j]!));
      expect(worst, k).toBeLessThanOrEqual(1e-5 * scaleK + 1e-12);
    }
    // K = 1 keeps the single-item draw index (the step).
    const one = await trainStep(state, params, shape, [items[0]!], { ...OPTS, lr: 0 });
    expect(one.sigma).toBe(drawSigmaNoise(OPTS.seed, 2, 4, OPTS.sigma).sigma);
    state.dispose(); disposeAll(params); items.forEach(disposeBatch);
  });

  it('names bad arguments', async () => {
    const params = freshParams();
    const state = new TrainState(params);
    const b = batch();
    const bad = (o: Partial<TrainStepOptions>, bb: TrainBatch = b) => trainStep(state, params, shape, bb, { ...OPTS, ...o });
    await expect(bad({ seed: -1 })).rejects.toThrow(/seed must be an integer/);
    await expect(bad({ sigma: { fixed: 1.5 } })).rejects.toThrow(/sigma must be in \(0, 1\)/);
    await expect(bad({ lr: Number.NaN })).rejects.toThrow(/learning rate/);
    await expect(bad({ clip: -1 })).rejects.toThrow(/clip must be >= 0/);
    await expect(bad({ emaDecay: {} })).rejects.toThrow(/keeps no EMA/);
    const flat = Tensor.zeros(device, [F * C, Hl, Wl], 'f32');
    await expect(bad({}, { ...b, x0: flat })).rejects.toThrow(/x0 must be f32 with 5 axes/);
    flat.dispose();
    const other = new Map(params);
    other.delete('proj_out.bias');
    await expect(trainStep(state, other, shape, b, OPTS)).rejects.toThrow(/2?parameters but the TrainState/);
    expect(() => new TrainState(new Map())).toThrow(/no parameters/);
    const h = Tensor.zeros(device, [4], 'f16');
    expect(() => new TrainState(new Map([['w', h]]))).toThrow(/must be f32/);
    h.dispose();
    expect(state.step).toBe(0);
    state.dispose(); disposeAll(params); disposeBatch(b);
  });
});
