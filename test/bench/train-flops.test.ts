// bench/train-flops.ts (bench:train's analytic step FLOPs) against the FLOPs the engine's own dispatches declare when
// the transformer's training forward and backward run on a profiled device (matmul / linear flops = 2 rows N K of
// the shapes actually dispatched; attention 4 Sq Sk D), on 2-layer make-tiny checkpoints with and without the
// temporal attention. The known differences are written out here from the model's shape, not from the code under
// test: the engine's patch embed is a conv2d (no flops declared), the last block still runs to_add_out and
// to_add_out_temporal (zero / unused weights) and one frame still runs the temporal branch (its output times 0),
// and its attention backward recomputes P twice (3.5x the forward, plus
// the D = rowsum(dO O) pass) where the analytic count uses FlashAttention-2's 2.5x.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Device, type ProfileEntry } from '../../engine/gpu/device.js';
import { openCheckpoint } from '../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { LN_EPS } from '../../engine/model/vchitect.js';
import { Tensor } from '../../engine/tensor.js';
import { disposeModelSaved, modelBackward, modelForward } from '../../engine/train/vchitect-backward.js';
import { trainStepFlops, type TrainShape } from '../../bench/train-flops.js';
import { normal } from '../helpers/random.js';

const D = 8, H = 2, LAYERS = 2, C = 16, P = 2, J = 96, POOLED = 80, FF = 4 * D;
let device: Device;
let dir: string;
const params = new Map<string, Tensor>();

beforeAll(async () => {
  // dW as the transpose + matmul path (the GPU default), so bwd.matmul holds dX and dW as the count assumes; the CPU
  // default linear_dw declares the same dW flops under its own op plus db's.
  process.env.PARALLAX_KERNEL_LINEAR_DW = 'linear_dw_matmul';
  device = await Device.create({ label: 'flops', profile: 'host' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-train-flops-'));
  await makeTinyCheckpoint(dir, { seed: 3, transformer: { num_layers: LAYERS, num_attention_heads: H, attention_head_dim: D / H } });
  const ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) params.set(k, Tensor.from(device, await store.readFloat32(k), [...store.info(k).shape], 'f32'));
  await ckpt.close();
});

afterAll(() => {
  delete process.env.PARALLAX_KERNEL_LINEAR_DW;
  for (const t of params.values()) t.dispose();
  device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const byOp = (entries: ProfileEntry[]) => {
  const r: Record<string, number> = {};
  for (const e of entries) if (e.flops) r[e.op] = (r[e.op] ?? 0) + e.flops;
  return r;
};

/** Declared flops by op of one training forward and its backward at F frames of hl x wl latents and T text tokens. */
async function engineFlops(F: number, hl: number, wl: number, T: number) {
  const hidden = Tensor.from(device, normal(F * C * hl * wl, 1), [1, F, C, hl, wl], 'f32');
  const context = Tensor.from(device, normal(T * J, 2), [1, T, J], 'f32');
  const pooled = Tensor.from(device, normal(POOLED, 3), [1, POOLED], 'f32');
  const timestep = Tensor.from(device, [400], [1], 'f32');
  await device.takeProfile();
  const { out, saved } = modelForward(params, { numLayers: LAYERS, heads: H, patchSize: P, eps: LN_EPS }, { hidden, timestep, context, pooled });
  await device.sync();
  const fwd = byOp(await device.takeProfile());
  const { grads, dHidden } = modelBackward(saved, out);
  await device.sync();
  const bwd = byOp(await device.takeProfile());
  for (const t of [out, dHidden, hidden, context, pooled, timestep, ...grads.values()]) t.dispose();
  disposeModelSaved(saved);
  return { fwd, bwd };
}

describe('analytic training-step FLOPs', () => {
  for (const [F, hl, wl, T] of [[3, 4, 4, 5], [1, 4, 6, 3]] as const) {
    it(`match the engine's declared matmul and attention flops (${F} frame(s) of ${hl}x${wl}, ${T} text tokens)`, async () => {
      const shape: TrainShape = { D, layers: LAYERS, ffInner: FF, channels: C, patch: P, jointDim: J, pooledDim: POOLED, frames: F, hl, wl, textTokens: T };
      const a = trainStepFlops(shape);
      const { fwd, bwd } = await engineFlops(F, hl, wl, T);
      const V = F * (hl / P) * (wl / P);
      const patchEmbed = 2 * V * C * P * P * D; // conv2d: declares no flops
      // The engine runs every block's 9 visual (q, k, v, q_cross, to_out.0, q/k/v_temp, to_out_temporal) and 5 text
      // (add_q/k/v, to_add_out, to_add_out_temporal) D x D projections; the model skips the temporal ones at one frame
      // and the last block's text outputs.
      let extra = 0;
      for (let i = 0; i < LAYERS; i++) {
        const last = i === LAYERS - 1;
        const visual = 5 + (F > 1 ? 4 : 0);
        const text = 3 + (last ? 0 : 1 + (F > 1 ? 1 : 0));
        extra += 2 * D * D * (V * (9 - visual) + F * T * (5 - text));
      }
      const L = (hl / P) * (wl / P);
      const attnExtra = F === 1 ? LAYERS * 4 * (L + T) * D : 0; // the temporal attention over one frame (output times 0)
      const dPass = LAYERS * (2 * F * (L + T) * D + 2 * F * (L + T) * D + 2 * (L + T) * F * D); // D = rowsum(dO O) per attention
      expect(fwd.linear).toBe(a.linearFwd - patchEmbed + extra);
      expect(fwd.attention).toBe(a.attnFwd + attnExtra);
      expect(bwd.matmul).toBe(2 * (a.linearFwd - patchEmbed + extra));
      expect(bwd.attention_backward).toBe(3.5 * (a.attnFwd + attnExtra) + dPass);
      expect(a.forward).toBe(a.linearFwd + a.attnFwd);
      expect(a.backward).toBe(2 * a.linearFwd + 2.5 * a.attnFwd);
      expect(a.total).toBe(a.forward + a.backward);
    });
  }

  it('names a bad shape', () => {
    const ok: TrainShape = { D, layers: 1, ffInner: FF, channels: C, patch: P, jointDim: J, pooledDim: POOLED, frames: 1, hl: 4, wl: 4, textTokens: 1 };
    expect(() => trainStepFlops({ ...ok, frames: 0 })).toThrow(/frames must be a positive integer/);
    expect(() => trainStepFlops({ ...ok, hl: 5 })).toThrow(/latent 5x4 is not a multiple of the patch 2/);
  });
});
