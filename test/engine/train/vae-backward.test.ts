// The VAE's training forward/backward (engine/train/vae-backward.ts, vae-modules.ts) on a very small make-tiny
// AutoencoderKL (block_out_channels [4, 8], layers_per_block 1, 2 groups, 16 latent channels), batches of 2 images:
// the GPU forward equals the inference VaeModel (f32); the float64 oracle (test/helpers/vae-train64.ts, composed of
// the op references) equals engine/reference/vae.ts and its analytic backward matches central finite differences for
// sampled entries of every parameter and of the input; every GPU gradient matches the oracle; reruns are
// bit-identical; quant_conv / post_quant_conv are included when present; bad arguments are named.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import type { AutoencoderKLConfig } from '../../../engine/io/configs.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { VaeModel } from '../../../engine/model/vae.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { vaeDecode64, vaeEncode64, type VaeConfig64 } from '../../../engine/reference/vae.js';
import { Tensor } from '../../../engine/tensor.js';
import { decoderForward, disposeVaeSaved, encoderForward, vaeBackward } from '../../../engine/train/vae-backward.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal, rng } from '../../helpers/random.js';
import { backward64, decoder64, encoder64, type Weights64 } from '../../helpers/vae-train64.js';

const device = await testDevice();
let dir: string;
let ckpt: Checkpoint;
let cfg: AutoencoderKLConfig;
const w64: Weights64 = new Map();
const params = new Map<string, Tensor>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vae-bw-'));
  const tiny = await makeTinyCheckpoint(dir, { seed: 21, vae: { block_out_channels: [4, 8], layers_per_block: 1, norm_num_groups: 2 } });
  cfg = tiny.vae;
  ckpt = await openCheckpoint(dir);
  const store = ckpt.vae.weights;
  for (const k of store.keys()) {
    const shape = [...store.info(k).shape];
    const data = await store.readFloat32(k);
    w64.set(k, { shape, data: Float64Array.from(data) });
    params.set(k, Tensor.from(device, data, shape, 'f32'));
  }
});

afterAll(async () => {
  for (const t of params.values()) t.dispose();
  await ckpt?.close();
  rmSync(dir, { recursive: true, force: true });
});

const f32 = (d: Float64Array) => d.map(Math.fround);
const cfg64 = (c: AutoencoderKLConfig): VaeConfig64 => ({
  inChannels: c.in_channels, outChannels: c.out_channels, latentChannels: c.latent_channels, blockOutChannels: c.block_out_channels,
  layersPerBlock: c.layers_per_block, normNumGroups: c.norm_num_groups, scalingFactor: c.scaling_factor, shiftFactor: c.shift_factor ?? 0,
});

/** Image n of a batch [N, C, H, W] as [C, H, W]. */
const item = (t: Tensor64, n: number): Tensor64 => {
  const per = t.data.length / t.shape[0]!;
  return { shape: t.shape.slice(1), data: t.data.slice(n * per, (n + 1) * per) };
};

/** GPU forward + backward of one half; the outputs, the input gradient and every parameter gradient, read back. */
async function gpuPass(half: 'encoder' | 'decoder', p: Map<string, Tensor>, x: Tensor64, dOut: Float64Array) {
  const xt = Tensor.from(device, x.data, x.shape, 'f32');
  const { out, saved } = half === 'encoder' ? encoderForward(p, cfg, xt) : decoderForward(p, cfg, xt);
  const dO = Tensor.from(device, dOut, out.shape, 'f32');
  const { grads, dInput } = vaeBackward(saved, dO);
  const o = Float32Array.from(await out.read());
  const dx = Float32Array.from(await dInput!.read());
  const g = new Map<string, Float32Array>();
  for (const [k, t] of grads) { g.set(k, Float32Array.from(await t.read())); t.dispose(); }
  disposeVaeSaved(saved);
  for (const t of [xt, out, dO, dInput!]) t.dispose();
  return { o, dx, g, shape: out.shape };
}

function checkAgainstOracle(label: string, w: Weights64, half: 'encoder' | 'decoder', x: Tensor64, dOut: Float64Array,
  got: { o: Float32Array; dx: Float32Array; g: Map<string, Float32Array> }): void {
  const run = (ww: Weights64, xx: Tensor64) => (half === 'encoder' ? encoder64(ww, cfg, xx) : decoder64(ww, cfg, xx));
  const s = run(w, x);
  expectClose(got.o, s.out.data, { rtol: 1e-4, atol: 1e-5 }, `${label}: GPU forward vs float64`);
  const { grads, dInput } = backward64(w, s, dOut);
  const prefix = half === 'encoder' ? ['encoder.', 'quant_conv.'] : ['decoder.', 'post_quant_conv.'];
  const names = [...w.keys()].filter((k) => prefix.some((p) => k.startsWith(p)));
  expect([...grads.keys()].sort(), `${label}: the oracle's gradient names`).toEqual([...names].sort());
  expect([...got.g.keys()].sort(), `${label}: GPU gradient names (every parameter of the ${half}, nothing else)`).toEqual([...names].sort());
  // The oracle against central differences of its own forward (sampled entries of every tensor and the input). Some
  // gradients are zero by symmetry (to_k.bias: softmax ignores a shift shared by every key), so each tensor's error is
  // taken relative to the larger of its own largest gradient and 1e-3 of the largest over all tensors.
  const L = (xx: Tensor64) => { const o = run(w, xx).out.data; let t = 0; for (let i = 0; i < o.length; i++) t += dOut[i]! * o[i]!; return t; };
  const amax = (a: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!)); return m; };
  const global = Math.max(...names.map((k) => amax(grads.get(k)!)));
  const fd = (data: Float64Array, f: () => number, an: Float64Array, sample: number, seed: number) => {
    const pick = rng(seed);
    let err = 0;
    for (let j = 0; j < Math.min(sample, data.length); j++) {
      const i = Math.floor(pick() * data.length);
      const v = data[i]!;
      const h = 1e-4;
      data[i] = v + h; const lp = f();
      data[i] = v - h; const lm = f();
      data[i] = v;
      err = Math.max(err, Math.abs((lp - lm) / (2 * h) - an[i]!));
    }
    return err / Math.max(amax(an), 1e-3 * global);
  };
  for (const k of names) {
    const e = fd(w.get(k)!.data, () => L(x), grads.get(k)!, 3, k.length);
    expect(e, `${label}: float64 ${k} vs finite differences`).toBeLessThan(1e-5);
  }
  const xe = fd(x.data, () => L(x), dInput, 8, 3);
  expect(xe, `${label}: float64 input gradient vs finite differences`).toBeLessThan(1e-5);
  // The GPU gradients against the oracle, every entry (relative to each tensor's largest gradient, with the same floor).
  for (const k of names) expectClose(got.g.get(k)!, grads.get(k)!, { rtol: 2e-4, atol: 2e-4 * 1e-3 * global }, `${label}: GPU d${k}`);
  expectClose(got.dx, dInput, { rtol: 2e-4, atol: 1e-7 }, `${label}: GPU input gradient`);
}

describe('VAE training forward/backward', () => {
  it('encoder on 2 images of 8x12: forward = inference VaeModel and the float64 reference; gradients vs the float64 oracle and finite differences; bit-identical rerun', async () => {
    const [N, H, W] = [2, 8, 12];
    const x: Tensor64 = { shape: [N, 3, H, W], data: f32(normal(N * 3 * H * W, 5)) };
    // The oracle's forward is the model reference's, image by image.
    const s = encoder64(w64, cfg, x);
    expect(s.out.shape).toEqual([N, 2 * cfg.latent_channels, H / 2, W / 2]);
    for (let n = 0; n < N; n++) expectClose(item(s.out, n).data, vaeEncode64(w64, cfg64(cfg), item(x, n)).data, { rtol: 1e-12, atol: 1e-13 }, `oracle encode image ${n}`);
    const dOut = f32(normal(s.out.data.length, 6));
    const r1 = await gpuPass('encoder', params, x, dOut);
    // The inference model on each image.
    const model = await VaeModel.load(device, ckpt.vae, { dtype: 'f32' });
    for (let n = 0; n < N; n++) {
      const img = Tensor.from(device, item(x, n).data, [3, H, W], 'f32');
      const m = model.encode(img);
      const per = r1.o.length / N;
      expectClose(r1.o.subarray(n * per, (n + 1) * per), await m.read(), { rtol: 1e-5, atol: 1e-6 }, `training encoder vs VaeModel.encode, image ${n}`);
      img.dispose(); m.dispose();
    }
    model.dispose();
    checkAgainstOracle('encoder', w64, 'encoder', x, dOut, r1);
    const r2 = await gpuPass('encoder', params, x, dOut);
    expect(Buffer.from(r2.o.buffer).equals(Buffer.from(r1.o.buffer))).toBe(true);
    expect(Buffer.from(r2.dx.buffer).equals(Buffer.from(r1.dx.buffer))).toBe(true);
    for (const [k, g] of r1.g) expect(Buffer.from(r2.g.get(k)!.buffer).equals(Buffer.from(g.buffer)), k).toBe(true);
  }, 300_000);

  it('decoder on 2 latents of 3x5: forward = inference VaeModel and the float64 reference; gradients vs the float64 oracle and finite differences; bit-identical rerun', async () => {
    const [N, h, w] = [2, 3, 5];
    const L = cfg.latent_channels;
    const z: Tensor64 = { shape: [N, L, h, w], data: f32(normal(N * L * h * w, 7)) };
    const s = decoder64(w64, cfg, z);
    expect(s.out.shape).toEqual([N, 3, 2 * h, 2 * w]);
    for (let n = 0; n < N; n++) expectClose(item(s.out, n).data, vaeDecode64(w64, cfg64(cfg), item(z, n)).data, { rtol: 1e-12, atol: 1e-13 }, `oracle decode latent ${n}`);
    const dOut = f32(normal(s.out.data.length, 8));
    const r1 = await gpuPass('decoder', params, z, dOut);
    const model = await VaeModel.load(device, ckpt.vae, { dtype: 'f32' });
    for (let n = 0; n < N; n++) {
      const zt = Tensor.from(device, item(z, n).data, [L, h, w], 'f32');
      const m = model.decode(zt);
      const per = r1.o.length / N;
      expectClose(r1.o.subarray(n * per, (n + 1) * per), await m.read(), { rtol: 1e-5, atol: 1e-6 }, `training decoder vs VaeModel.decode, latent ${n}`);
      zt.dispose(); m.dispose();
    }
    model.dispose();
    checkAgainstOracle('decoder', w64, 'decoder', z, dOut, r1);
    const r2 = await gpuPass('decoder', params, z, dOut);
    expect(Buffer.from(r2.o.buffer).equals(Buffer.from(r1.o.buffer))).toBe(true);
    expect(Buffer.from(r2.dx.buffer).equals(Buffer.from(r1.dx.buffer))).toBe(true);
    for (const [k, g] of r1.g) expect(Buffer.from(r2.g.get(k)!.buffer).equals(Buffer.from(g.buffer)), k).toBe(true);
  }, 300_000);

  it('with quant_conv and post_quant_conv (1x1 convs): both halves against the model reference and the oracle', async () => {
    const L = cfg.latent_channels;
    const extra: [string, number][] = [['quant_conv', 2 * L], ['post_quant_conv', L]];
    const w = new Map(w64);
    const p = new Map(params);
    extra.forEach(([name, c], i) => {
      const wt = f32(normal(c * c, 30 + i, 0.2));
      const b = f32(normal(c, 40 + i, 0.1));
      w.set(`${name}.weight`, { shape: [c, c, 1, 1], data: wt });
      w.set(`${name}.bias`, { shape: [c], data: b });
      p.set(`${name}.weight`, Tensor.from(device, wt, [c, c, 1, 1], 'f32'));
      p.set(`${name}.bias`, Tensor.from(device, b, [c], 'f32'));
    });
    try {
      const x: Tensor64 = { shape: [1, 3, 4, 6], data: f32(normal(72, 9)) };
      const re = await gpuPass('encoder', p, x, f32(normal(2 * L * 2 * 3, 10)));
      expectClose(re.o, vaeEncode64(w, { ...cfg64(cfg), useQuantConv: true }, item(x, 0)).data, { rtol: 1e-4, atol: 1e-5 }, 'encoder with quant_conv vs vaeEncode64');
      checkAgainstOracle('encoder + quant_conv', w, 'encoder', x, f32(normal(2 * L * 2 * 3, 10)), re);
      const z: Tensor64 = { shape: [1, L, 2, 2], data: f32(normal(L * 4, 11)) };
      const rd = await gpuPass('decoder', p, z, f32(normal(3 * 4 * 4, 12)));
      expectClose(rd.o, vaeDecode64(w, { ...cfg64(cfg), usePostQuantConv: true }, item(z, 0)).data, { rtol: 1e-4, atol: 1e-5 }, 'decoder with post_quant_conv vs vaeDecode64');
      checkAgainstOracle('decoder + post_quant_conv', w, 'decoder', z, f32(normal(3 * 4 * 4, 12)), rd);
    } finally {
      for (const [name] of extra) for (const s of ['weight', 'bias']) p.get(`${name}.${s}`)!.dispose();
    }
  }, 300_000);

  it('names bad arguments', () => {
    const img = Tensor.zeros(device, [1, 4, 8, 8], 'f32');
    expect(() => encoderForward(params, cfg, img)).toThrow(/images must be f32 \[N, 3, H, W\]/);
    img.dispose();
    const odd = Tensor.zeros(device, [1, 3, 8, 7], 'f32');
    expect(() => encoderForward(params, cfg, odd)).toThrow(/must be a multiple of 2/);
    odd.dispose();
    const z3 = Tensor.zeros(device, [cfg.latent_channels, 2, 2], 'f32');
    expect(() => decoderForward(params, cfg, z3)).toThrow(/z must be f32 \[N, 16, H, W\]/);
    z3.dispose();
    const missing = new Map(params);
    missing.delete('decoder.mid_block.attentions.0.to_k.weight');
    const z = Tensor.zeros(device, [1, cfg.latent_channels, 2, 2], 'f32');
    const live = device.pool.stats.liveBytes;
    expect(() => decoderForward(missing, cfg, z)).toThrow(/parameter decoder\.mid_block\.attentions\.0\.to_k\.weight missing/);
    expect(device.pool.stats.liveBytes, 'a forward failing part way frees what it made').toBe(live);
    const { out, saved } = decoderForward(params, cfg, z);
    const bad = Tensor.zeros(device, [1, 3, 4, 5], 'f32');
    expect(() => vaeBackward(saved, bad)).toThrow(/dOut is f32\[1, 3, 4, 5\], expected the forward's output f32\[1, 3, 4, 4\]/);
    disposeVaeSaved(saved);
    expect(() => vaeBackward(saved, out)).toThrow(/disposed/);
    for (const t of [z, out, bad]) t.dispose();
    const img8 = Tensor.zeros(device, [1, 3, 8, 8], 'f32');
    expect(() => encoderForward(params, { ...cfg, norm_num_groups: 3 }, img8)).toThrow(/norm_num_groups 3 must divide/);
    img8.dispose();
  });
});
