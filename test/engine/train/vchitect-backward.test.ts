// modelForward / modelBackward (engine/train/vchitect-backward.ts) on 2- and 3-layer make-tiny checkpoints (D = 8;
// 2 frames of 4x4 latents and 3 text tokens, 1 frame of 4x6 and 5 tokens, 3 layers over 3 frames of 2x4): the forward
// equals the inference model (engine/model/vchitect.ts); the gradients of L = sum(dOut * out) match central finite
// differences of the float64 reference vchitectForward64 for a random sample of entries of every parameter tensor and
// of the input latents (tolerance relative to each tensor's largest gradient); a rerun is bit-identical.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { LN_EPS, VchitectTransformer } from '../../../engine/model/vchitect.js';
import type { Tensor64 } from '../../../engine/reference/tensor64.js';
import { vchitectForward64, type VchitectConfig64 } from '../../../engine/reference/vchitect.js';
import { Tensor } from '../../../engine/tensor.js';
import { disposeModelSaved, modelBackward, modelForward, type ModelShape } from '../../../engine/train/vchitect-backward.js';
import { expectClose } from '../../helpers/compare.js';
import { testDevice } from '../../helpers/gpu.js';
import { normal, rng } from '../../helpers/random.js';

const device = await testDevice();
let dir: string;
interface Loaded { ckpt: Checkpoint; weights64: Map<string, Tensor64>; params: Map<string, Tensor> }
const loaded = new Map<number, Loaded>();

/** A make-tiny checkpoint with `layers` blocks (D = 8), opened once, as float64 and GPU f32 tensors by name. */
async function load(layers: number): Promise<Loaded> {
  const have = loaded.get(layers);
  if (have) return have;
  const sub = join(dir, `l${layers}`);
  await makeTinyCheckpoint(sub, { seed: 11 + layers, transformer: { num_layers: layers, num_attention_heads: 2, attention_head_dim: 4 } });
  const ckpt = await openCheckpoint(sub);
  const weights64 = new Map<string, Tensor64>();
  const params = new Map<string, Tensor>();
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) {
    const shape = [...store.info(k).shape];
    const data = await store.readFloat32(k);
    weights64.set(k, { shape, data: Float64Array.from(data) });
    params.set(k, Tensor.from(device, data, shape, 'f32'));
  }
  const l = { ckpt, weights64, params };
  loaded.set(layers, l);
  return l;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-vchitect-bw-'));
});

afterAll(async () => {
  for (const l of loaded.values()) {
    for (const t of l.params.values()) t.dispose();
    await l.ckpt.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('Vchitect whole-model forward/backward', () => {
  // [layers, F, Hl, Wl, T]: two frames (text broadcast in block 0, temporal branch on), one frame of a non-square
  // grid, and 3 layers (a middle block: per-frame text stream in and out) over 3 frames of 2x4 latents.
  for (const [layers, F, Hl, Wl, Tn] of [[2, 2, 4, 4, 3], [2, 1, 4, 6, 5], [3, 3, 2, 4, 2]] as const) it(`${layers} layers, F=${F}, latent ${Hl}x${Wl}, T=${Tn}: matches the inference forward, finite differences of the float64 reference, and reruns bit-identically`, async () => {
    const { ckpt, weights64, params } = await load(layers);
    const model = await VchitectTransformer.load(device, ckpt.transformer, { dtype: 'f32' });
    const d = model.dims;
    const cfg: VchitectConfig64 = {
      numLayers: d.numLayers, heads: d.heads, headDim: d.headDim, patchSize: d.patchSize, inChannels: d.inChannels,
      outChannels: d.outChannels, posEmbedMaxSize: d.M, jointAttentionDim: d.jointAttentionDim, pooledProjectionDim: d.pooledProjectionDim,
    };
    expect(d.numLayers).toBe(layers);
    const shape: ModelShape = { numLayers: d.numLayers, heads: d.heads, patchSize: d.patchSize, eps: LN_EPS };
    const hidden = normal(F * d.inChannels * Hl * Wl, F + 10 * layers);
    const context = normal(Tn * d.jointAttentionDim, 2);
    const pooled = normal(d.pooledProjectionDim, 3);
    const timestep = 613.25;
    const outN = F * d.outChannels * Hl * Wl;
    const dOut = normal(outN, 4);
    const hs: number[] = [1, F, d.inChannels, Hl, Wl];
    const inputs = () => ({
      hidden: Tensor.from(device, hidden, hs, 'f32'),
      timestep: Tensor.from(device, [timestep], [1], 'f32'),
      context: Tensor.from(device, context, [1, Tn, d.jointAttentionDim], 'f32'),
      pooled: Tensor.from(device, pooled, [1, d.pooledProjectionDim], 'f32'),
    });

    // (a) forward == inference model.
    const inA = inputs();
    const ref = model.forward({ hidden: inA.hidden, timestep, context: inA.context, pooled: inA.pooled });
    const refOut = await ref.read();
    ref.dispose();
    model.dispose();
    const run = async () => {
      const inp = inputs();
      const { out, saved } = modelForward(params, shape, inp);
      const dO = Tensor.from(device, dOut, out.shape, 'f32');
      const { grads, dHidden } = modelBackward(saved, dO);
      const o = await out.read();
      const g = new Map<string, Float32Array>();
      for (const [k, t] of grads) { g.set(k, Float32Array.from(await t.read())); t.dispose(); }
      const dh = Float32Array.from(await dHidden.read());
      disposeModelSaved(saved);
      for (const t of [out, dO, dHidden, ...Object.values(inp)]) t.dispose();
      return { o: Float32Array.from(o), g, dh };
    };
    const r1 = await run();
    expect(r1.o.length).toBe(outN);
    expectClose(r1.o, refOut, { rtol: 2e-4, atol: 2e-5 }, 'training forward vs inference forward');

    // (b) gradients vs central differences of the float64 reference.
    const loss = (w: Map<string, Tensor64>, hid: Float64Array): number => {
      const out = vchitectForward64(w, cfg, {
        hiddenStates: { shape: hs, data: hid }, timestep,
        encoderHiddenStates: { shape: [1, Tn, d.jointAttentionDim], data: context },
        pooledProjections: { shape: [1, d.pooledProjectionDim], data: pooled },
      });
      let s = 0;
      for (let i = 0; i < outN; i++) s += dOut[i]! * out.data[i]!;
      return s;
    };
    const want64 = loss(weights64, hidden);
    let s = 0;
    for (let i = 0; i < outN; i++) s += dOut[i]! * r1.o[i]!;
    expect(Math.abs(s - want64)).toBeLessThan(1e-3 * Math.max(1, Math.abs(want64)));
    const h = 1e-3;
    const pick = rng(5 + F + 10 * layers);
    const checkEntries = (label: string, data: Float64Array, got: Float32Array, f: () => number) => {
      expect(got.length, `${label}: gradient size`).toBe(data.length);
      let norm = 0;
      for (const v of got) norm = Math.max(norm, Math.abs(v));
      const n = Math.min(6, data.length);
      for (let j = 0; j < n; j++) {
        const i = Math.floor(pick() * data.length);
        const v = data[i]!;
        data[i] = v + h; const lp = f();
        data[i] = v - h; const lm = f();
        data[i] = v;
        const fd = (lp - lm) / (2 * h);
        const err = Math.abs(got[i]! - fd);
        if (err > 2e-3 * norm + 1e-4 + 1e-2 * Math.abs(fd)) {
          throw new Error(`${label}[${i}]: GPU gradient ${got[i]} vs finite difference ${fd} (max |grad| ${norm})`);
        }
      }
    };
    const names = [...weights64.keys()];
    const missing = names.filter((k) => !r1.g.has(k));
    expect(missing, 'parameters without a gradient').toEqual([]);
    expect([...r1.g.keys()].filter((k) => !weights64.has(k)), 'gradients of unknown names').toEqual([]);
    for (const k of names) {
      const w = weights64.get(k)!;
      checkEntries(k, w.data, r1.g.get(k)!, () => loss(weights64, hidden));
    }
    checkEntries('hidden_states', hidden, r1.dh, () => loss(weights64, hidden));

    // (c) bit-identical rerun.
    const r2 = await run();
    expect(Buffer.from(r2.o.buffer).equals(Buffer.from(r1.o.buffer))).toBe(true);
    expect(Buffer.from(r2.dh.buffer).equals(Buffer.from(r1.dh.buffer))).toBe(true);
    for (const [k, g] of r1.g) expect(Buffer.from(r2.g.get(k)!.buffer).equals(Buffer.from(g.buffer)), k).toBe(true);
  }, 900_000);
});
