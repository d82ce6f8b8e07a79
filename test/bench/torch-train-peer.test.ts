// The PyTorch training peer of bench:train (bench/torch-train-peer.ts driving bench/torch_vchitect_grad.py --train)
// against engine/train/train-step.ts on a 2-layer make-tiny checkpoint, two items of 2 frames of 4x4 latents: both
// sides take the same weights, items and (sigma, eps) draws, so their losses and gradient norms agree at step 1
// (forward, loss, backward) and step 2 (after one clipped AdamW update with weight decay on the matrices only); a
// peer given another weight decay disagrees at step 2, so the comparison can see the optimizer. Skipped when no
// python has torch (found as bench/peers.ts finds it). No timing is asserted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { LN_EPS } from '../../engine/model/vchitect.js';
import { Tensor } from '../../engine/tensor.js';
import { drawSigmaNoise, TrainState, trainStep } from '../../engine/train/train-step.js';
import { findTorchPython } from '../../bench/peers.js';
import { startTorchTrain, type HostDraw, type HostItem } from '../../bench/torch-train-peer.js';
import { testDevice } from '../helpers/gpu.js';

const torchPython = findTorchPython();
const K = 2, F = 2, C = 16, HL = 4, WL = 4, T = 3, J = 96, P = 80;
const SEED = 77;
const SIGMA = { sampling: 'logit_normal', shift: 3 } as const;
const HYPER = { lr: 1e-3, weightDecay: 0.5, clip: 0.05, threads: 1 };
let dir: string;
const host = new Map<string, { shape: number[]; data: Float32Array }>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-torch-train-'));
  await makeTinyCheckpoint(dir, { seed: 9, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  const ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
  await ckpt.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function items(): HostItem[] {
  let s = 1;
  const rnd = (n: number) => Float32Array.from({ length: n }, () => { s = (s * 16807) % 2147483647; return 2 * (s / 2147483647) - 1; });
  return Array.from({ length: K }, () => ({
    x0: { shape: [1, F, C, HL, WL], data: rnd(F * C * HL * WL) },
    context: { shape: [1, T, J], data: rnd(T * J) },
    pooled: { shape: [1, P], data: rnd(P) },
  }));
}

async function engineSteps(its: HostItem[]) {
  const device = await testDevice();
  const params = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
  const state = new TrainState(params, { ema: true });
  const batch = its.map((it) => ({
    x0: Tensor.from(device, it.x0.data, it.x0.shape, 'f32'),
    context: Tensor.from(device, it.context.data, it.context.shape, 'f32'),
    pooled: Tensor.from(device, it.pooled.data, it.pooled.shape, 'f32'),
  }));
  const out = [];
  for (let i = 0; i < 2; i++) {
    out.push(await trainStep(state, params, { numLayers: 2, heads: 2, patchSize: 2, eps: LN_EPS }, batch,
      { seed: SEED, lr: HYPER.lr, sigma: SIGMA, adamw: { weightDecay: HYPER.weightDecay }, clip: HYPER.clip, emaDecay: {} }));
  }
  for (const b of batch) { b.x0.dispose(); b.context.dispose(); b.pooled.dispose(); }
  state.dispose();
  for (const t of params.values()) t.dispose();
  return out;
}

async function torchSteps(its: HostItem[], draws: HostDraw[][], weightDecay: number) {
  const peer = await startTorchTrain(join(dir, 'transformer'), dir, its, draws, { ...HYPER, weightDecay });
  if ('error' in peer) throw new Error(peer.error);
  try {
    return [await peer.step(), await peer.step()];
  } finally {
    peer.close();
  }
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe.skipIf(!torchPython)('PyTorch training peer (torch_vchitect_grad.py --train)', () => {
  it('agrees with trainStep on the first two losses and gradient norms; another weight decay does not', async () => {
    const its = items();
    const n = its[0]!.x0.data.length;
    const draws = [1, 2].map((d) => its.map((_, i) => drawSigmaNoise(SEED, d * K + i, n, SIGMA)));
    const ours = await engineSteps(its);
    const theirs = await torchSteps(its, draws, HYPER.weightDecay);
    expect(ours[0]!.gradNorm).toBeGreaterThan(HYPER.clip); // the clip is active
    for (let s = 0; s < 2; s++) {
      expect(rel(ours[s]!.loss, theirs[s]!.loss)).toBeLessThan(2e-5);
      expect(rel(ours[s]!.gradNorm, theirs[s]!.grad_norm)).toBeLessThan(1e-4);
    }
    const noDecay = await torchSteps(its, draws, 0);
    expect(rel(noDecay[0]!.loss, theirs[0]!.loss)).toBeLessThan(1e-6); // step 1 is before any update
    expect(rel(ours[1]!.loss, noDecay[1]!.loss)).toBeGreaterThan(10 * rel(ours[1]!.loss, theirs[1]!.loss));
  }, 120_000);
});
