// vaeTrainStep / vaeObjective / vaeLatentStats (engine/train/vae-train-step.ts) on a very small make-tiny
// AutoencoderKL (block_out_channels [4, 8], layers_per_block 1, 2 groups, 16 latent channels), 2 images of 8x12:
// the loss, its reconstruction and KL terms and every gradient against the float64 objective of
// test/helpers/vae-train64.ts on the same Philox draw (whose analytic gradient is checked by central differences), the
// logvar clamp (clamped channels get exactly no gradient), one step against adamwRef, bit-identical reruns, the loss
// falling on one fixed batch, the latent statistics against float64, and bad arguments named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AutoencoderKLConfig } from '../../../engine/io/configs.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { ADAMW_DEFAULTS } from '../../../engine/ops/optim.js';
import { adamwRef } from '../../../engine/ops/optim.ref.js';
import { randnRef } from '../../../engine/ops/random.ref.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { Tensor } from '../../../engine/tensor.js';
import { decays, TrainState } from '../../../engine/train/update.js';
import { drawVaeNoise, vaeLatentStats, vaeObjective, vaeTrainStep, type VaeTrainStepOptions } from '../../../engine/train/vae-train-step.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { rng, uniform } from '../../helpers/random.js';
import { encoder64, objective64, type Weights64 } from '../../helpers/vae-train64.js';

const device = await testDevice();
let dir: string;
let cfg: AutoencoderKLConfig;
const host = new Map<string, { shape: number[]; data: Float32Array }>();
const [N, H, W] = [2, 8, 12];
const imgData = Float64Array.from(uniform(N * 3 * H * W, 17), Math.fround);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vae-step-'));
  cfg = (await makeTinyCheckpoint(dir, { seed: 23, vae: { block_out_channels: [4, 8], layers_per_block: 1, norm_num_groups: 2 } })).vae;
  const ckpt = await openCheckpoint(dir);
  const store = ckpt.vae.weights;
  for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
  await ckpt.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const freshParams = (edit?: (k: string, d: Float32Array) => void) => new Map([...host].map(([k, h]) => {
  const d = Float32Array.from(h.data);
  edit?.(k, d);
  return [k, Tensor.from(device, d, h.shape, 'f32')] as const;
}));
const weights64 = (p: Map<string, Float32Array>): Weights64 => new Map([...p].map(([k, d]) => [k, { shape: host.get(k)!.shape, data: Float64Array.from(d) }]));
const images = () => Tensor.from(device, imgData, [N, 3, H, W], 'f32');
const disposeAll = (m: ReadonlyMap<string, Tensor>) => { for (const t of m.values()) t.dispose(); };
async function readAll(m: ReadonlyMap<string, Tensor>): Promise<Map<string, Float32Array>> {
  const r = new Map<string, Float32Array>();
  for (const [k, t] of m) r.set(k, Float32Array.from(await t.read()));
  return r;
}
const amax = (a: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!)); return m; };
const L = () => cfg.latent_channels;
const nz = () => N * L() * (H / 2) * (W / 2);
const x64 = (): Tensor64 => ({ shape: [N, 3, H, W], data: imgData });

/** GPU objective for an eps, read back: loss, recon, kl and every gradient. */
async function gpuObjective(p: Map<string, Tensor>, eps: Float32Array, klWeight: number) {
  const img = images();
  const r = vaeObjective(p, cfg, img, eps, klWeight);
  const [loss, recon, kl] = [(await r.loss.read())[0]!, (await r.recon.read())[0]!, (await r.kl.read())[0]!];
  const grads = await readAll(r.grads);
  disposeAll(r.grads);
  for (const t of [r.loss, r.recon, r.kl, img]) t.dispose();
  return { loss, recon, kl, grads };
}

function compareGrads(label: string, got: Map<string, Float32Array>, want: Map<string, Float64Array>): void {
  expect([...got.keys()].sort(), `${label}: gradient names`).toEqual([...host.keys()].sort());
  const global = Math.max(...[...want.values()].map(amax));
  for (const [k, g] of want) expectClose(got.get(k)!, g, { rtol: 5e-4, atol: 5e-4 * 1e-3 * global }, `${label}: d${k}`);
}

describe('VAE training step', () => {
  it('the objective (recon, KL with weight 0.5) and every gradient match the float64 objective on the same draw; its gradient matches central differences', async () => {
    const eps = drawVaeNoise(7, 1, nz());
    expect(Array.from(eps)).toEqual(Array.from(randnRef(nz(), 7, (1n << 32n) + 1n), Math.fround));
    const params = freshParams();
    const got = await gpuObjective(params, eps, 0.5);
    disposeAll(params);
    const w = weights64(new Map([...host].map(([k, h]) => [k, h.data])));
    const want = objective64(w, cfg, x64(), eps, 0.5);
    expect(want.kl).toBeGreaterThan(0);
    for (const [name, g, e] of [['loss', got.loss, want.loss], ['recon', got.recon, want.recon], ['kl', got.kl, want.kl]] as const) {
      expect(Math.abs(g - e), `${name}: GPU ${g} vs float64 ${e}`).toBeLessThan(2e-5 * Math.abs(e) + 1e-7);
    }
    compareGrads('objective', got.grads, want.grads);
    // The analytic float64 gradient of the whole objective against central differences: 2 entries of every tensor.
    const pick = rng(3);
    const global = Math.max(...[...want.grads.values()].map(amax));
    for (const [k, t] of w) {
      const an = want.grads.get(k)!;
      for (let j = 0; j < 2; j++) {
        const i = Math.floor(pick() * t.data.length);
        const v = t.data[i]!;
        const h = 1e-4;
        t.data[i] = v + h; const lp = objective64(w, cfg, x64(), eps, 0.5, false).loss;
        t.data[i] = v - h; const lm = objective64(w, cfg, x64(), eps, 0.5, false).loss;
        t.data[i] = v;
        const fd = (lp - lm) / (2 * h);
        expect(Math.abs(fd - an[i]!), `${k}[${i}]: analytic ${an[i]} vs finite difference ${fd}`).toBeLessThan(1e-6 * Math.max(amax(an), 1e-3 * global));
      }
    }
  }, 300_000);

  it('clamps logvar to [-30, 20] (diffusers\' DiagonalGaussianDistribution): clamped channels give KL terms as float64 and exactly no gradient', async () => {
    // encoder.conv_out's logvar channels 0 and 1 (output channels L, L + 1) get biases 26 and -37 and zero weights:
    // every pixel of channel 0 clamps to 20, every pixel of channel 1 to -30; channel 2 gets 22 plus its weights (partly clamped).
    const Lc = L();
    const edit = (k: string, d: Float32Array) => {
      if (k === 'encoder.conv_out.bias') { d[Lc] = 26; d[Lc + 1] = -37; d[Lc + 2] = 20; }
      if (k === 'encoder.conv_out.weight') {
        const per = d.length / (2 * Lc);
        d.fill(0, Lc * per, (Lc + 2) * per);
        for (let i = (Lc + 2) * per; i < (Lc + 3) * per; i++) d[i] = d[i]! * 40;
      }
    };
    const params = freshParams(edit);
    const eps = drawVaeNoise(8, 1, nz());
    const got = await gpuObjective(params, eps, 1e-6);
    const hostEdited = new Map([...host].map(([k, h]) => { const d = Float32Array.from(h.data); edit(k, d); return [k, d] as const; }));
    const want = objective64(weights64(hostEdited), cfg, x64(), eps, 1e-6);
    disposeAll(params);
    const per = (H / 2) * (W / 2);
    const ch = (c: number) => Array.from({ length: N * per }, (_, j) => want.logvar[Math.floor(j / per) * Lc * per + c * per + (j % per)]!);
    expect(ch(0).every((v) => v === 20)).toBe(true);
    expect(ch(1).every((v) => v === -30)).toBe(true);
    const c2 = ch(2);
    expect(c2.some((v) => v === 20) && c2.some((v) => v < 20), 'channel 2 partly clamped').toBe(true);
    // KL of the clamped posterior: 0.5 / N sum (mean^2 + e^lv - 1 - lv), e^20 included.
    let kl = 0;
    for (let i = 0; i < want.mean.length; i++) kl += want.mean[i]! ** 2 + Math.exp(want.logvar[i]!) - 1 - want.logvar[i]!;
    kl *= 0.5 / N;
    expect(want.kl).toBeCloseTo(kl, 6);
    expect(kl).toBeGreaterThan(0.5 * per * Math.exp(20));
    expect(Math.abs(got.kl - want.kl) / want.kl).toBeLessThan(2e-5);
    expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(2e-5);
    // Fully clamped channels: no gradient reaches their bias (nor their zeroed weights) on the GPU, exactly.
    const gb = got.grads.get('encoder.conv_out.bias')!;
    expect([gb[Lc], gb[Lc + 1]]).toEqual([0, 0]);
    expect(Math.abs(gb[Lc + 2]!)).toBeGreaterThan(0);
    expect(want.grads.get('encoder.conv_out.bias')![Lc]).toBe(0);
    compareGrads('clamped', got.grads, want.grads);
  }, 120_000);

  it('a step is AdamW on the objective\'s gradient (clip on, weight decay on kernels only); two runs of two steps with EMA are bit-identical', async () => {
    const o: VaeTrainStepOptions = { seed: 5, lr: 1e-3, adamw: { weightDecay: 0.5 }, clip: 0.5, emaDecay: {} };
    // The step's gradient: the objective on (seed 5, step 1)'s draw.
    const p0 = freshParams();
    const g = await gpuObjective(p0, drawVaeNoise(5, 1, nz()), 1e-6);
    disposeAll(p0);
    let norm = 0;
    for (const k of host.keys()) for (const v of g.grads.get(k)!) norm += v * v;
    norm = Math.sqrt(norm);
    const run = async () => {
      const params = freshParams();
      const state = new TrainState(params, { ema: true });
      const img = images();
      const rs = [await vaeTrainStep(state, params, cfg, { images: img }, o)];
      const after1 = await readAll(params);
      rs.push(await vaeTrainStep(state, params, cfg, { images: img }, o));
      const out = { rs, after1, params: await readAll(params), ema: await readAll(state.ema!) };
      state.dispose(); disposeAll(params); img.dispose();
      return out;
    };
    const a = await run();
    expect(a.rs.map((r) => r.step)).toEqual([1, 2]);
    expect(a.rs[0]!.lr).toBe(1e-3);
    expect(Math.abs(a.rs[0]!.gradNorm - norm) / norm).toBeLessThan(1e-5);
    expect(a.rs[0]!.gradNorm).toBeGreaterThan(0.5); // the clip is active
    expect(Math.abs(a.rs[0]!.loss - g.loss)).toBe(0);
    for (const k of ['encoder.conv_in.weight', 'decoder.conv_out.bias', 'decoder.mid_block.attentions.0.to_q.weight']) {
      const s = { param: Float64Array.from(host.get(k)!.data), m: new Float64Array(host.get(k)!.data.length), v: new Float64Array(host.get(k)!.data.length) };
      adamwRef(s, g.grads.get(k)!, { ...ADAMW_DEFAULTS, lr: 1e-3, step: 1, weightDecay: decays(k, host.get(k)!.shape) ? 0.5 : 0, clip: 0.5, norm: a.rs[0]!.gradNorm });
      expectClose(a.after1.get(k)!, s.param, { rtol: 1e-6, atol: 1e-7 }, `${k} after one step`);
    }
    const b = await run();
    expect(b.rs).toEqual(a.rs);
    for (const [k, v] of a.params) expect(Buffer.from(b.params.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    for (const [k, v] of a.ema) expect(Buffer.from(b.ema.get(k)!.buffer).equals(Buffer.from(v.buffer)), `ema ${k}`).toBe(true);
  }, 120_000);

  it('lowers the loss on one fixed batch', async () => {
    const params = freshParams();
    const state = new TrainState(params);
    const img = images();
    const losses: number[] = [];
    let live = 0;
    for (let i = 0; i < 30; i++) {
      losses.push((await vaeTrainStep(state, params, cfg, { images: img }, { seed: 1, lr: 2e-2 })).loss);
      if (i === 0) live = device.pool.stats.liveBytes;
    }
    expect(device.pool.stats.liveBytes, 'GPU memory held after 30 steps vs after 1').toBe(live);
    state.dispose(); disposeAll(params); img.dispose();
    const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
    const last = (losses[27]! + losses[28]! + losses[29]!) / 3;
    expect(last, `losses ${losses.map((l) => l.toFixed(3)).join(' ')}`).toBeLessThan(0.5 * first);
    // Below the error of the best constant output (the images' variance): it reconstructs, not just averages.
    const m = imgData.reduce((a, v) => a + v, 0) / imgData.length;
    const variance = imgData.reduce((a, v) => a + (v - m) ** 2, 0) / imgData.length;
    expect(last).toBeLessThan(variance);
  }, 300_000);

  it('vaeLatentStats: shift = mean and scaling = 1 / std of the posterior means over every batch, as float64', async () => {
    const params = freshParams();
    const a = images();
    const bData = Float64Array.from(uniform(3 * H * W, 29), Math.fround);
    const b = Tensor.from(device, bData, [1, 3, H, W], 'f32');
    const st = await vaeLatentStats(params, cfg, [a, b]);
    disposeAll(params); a.dispose(); b.dispose();
    const w = weights64(new Map([...host].map(([k, h]) => [k, h.data])));
    const means: number[] = [];
    for (const x of [x64(), { shape: [1, 3, H, W], data: bData }]) {
      const m = encoder64(w, cfg, x).out;
      const per = (m.data.length / m.shape[0]!);
      for (let n = 0; n < m.shape[0]!; n++) means.push(...m.data.subarray(n * per, n * per + per / 2));
    }
    const mean = means.reduce((s, v) => s + v, 0) / means.length;
    const std = Math.sqrt(means.reduce((s, v) => s + (v - mean) ** 2, 0) / means.length);
    expect(st.count).toBe(means.length);
    expect(Math.abs(st.shiftFactor - mean)).toBeLessThan(1e-5 * std);
    expect(Math.abs(st.scalingFactor * std - 1)).toBeLessThan(1e-4);
  });

  it('names bad arguments', async () => {
    const params = freshParams();
    const state = new TrainState(params);
    const img = images();
    const o = { seed: 1, lr: 1e-3 };
    const bad = Tensor.zeros(device, [3, H, W], 'f32');
    await expect(vaeTrainStep(state, params, cfg, { images: bad }, o)).rejects.toThrow(/images must be f32 \[N, 3, H, W\]/);
    bad.dispose();
    const odd = Tensor.zeros(device, [1, 3, 8, 9], 'f32');
    await expect(vaeTrainStep(state, params, cfg, { images: odd }, o)).rejects.toThrow(/multiple of 2/);
    odd.dispose();
    await expect(vaeTrainStep(state, params, cfg, { images: img }, { ...o, klWeight: -1 })).rejects.toThrow(/klWeight must be a finite number >= 0/);
    await expect(vaeTrainStep(state, params, cfg, { images: img }, { ...o, seed: -2 })).rejects.toThrow(/seed must be an integer/);
    await expect(vaeTrainStep(state, params, cfg, { images: img }, { ...o, lr: Number.NaN })).rejects.toThrow(/learning rate must be a finite number/);
    await expect(vaeTrainStep(state, params, cfg, { images: img }, { ...o, emaDecay: {} })).rejects.toThrow(/keeps no EMA/);
    const fewer = new Map(params);
    fewer.delete('decoder.conv_out.bias');
    await expect(vaeTrainStep(state, fewer, cfg, { images: img }, o)).rejects.toThrow(/parameters but the TrainState has/);
    expect(() => vaeObjective(params, cfg, img, new Float32Array(3), 1e-6)).toThrow(/eps has 3 values, the latents \[2, 16, 4, 6\] have 768/);
    await expect(vaeLatentStats(params, cfg, [])).rejects.toThrow(/no images/);
    // A failure part way (the decoder's last parameter missing, after the encoder ran) frees what the step made.
    const live = device.pool.stats.liveBytes;
    expect(() => vaeObjective(fewer, cfg, img, drawVaeNoise(1, 1, nz()), 1e-6)).toThrow(/parameter decoder\.conv_out\.bias missing/);
    expect(device.pool.stats.liveBytes).toBe(live);
    expect(state.step).toBe(0);
    state.dispose(); disposeAll(params); img.dispose();
  });
});
