// Frame-parallel VAE decode of DualParal's finished blocks (engine/parallel/block-decode.ts) inside the block queue
// (engine/parallel/dualparal-run.ts): on N = 1, 2, 3 in-process ranks (7 latent frames as blocks of 3, 2, 2: N = 2
// does not divide the first block, N = 3 leaves a rank without frames in the others), every rank reports every block
// at the same point, and rank 0 gets exactly the frames that decoding each block whole on one device gives (the
// rank-0-only decode this replaces), bit for bit; a rank failing in its decode ends every rank with an error naming
// it and the block, through the transport's abort, not a timeout.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { Device } from '../../../engine/gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { BlockDecoder, decodeShares, type DecodeFrames } from '../../../engine/parallel/block-decode.js';
import { DualParalVchitect } from '../../../engine/parallel/dualparal.js';
import { blockLayout, splitLayers } from '../../../engine/parallel/dualparal-plan.js';
import { runDualParal, type DualParalJob } from '../../../engine/parallel/dualparal-run.js';
import { GpuBackend } from '../../../engine/pipeline/gpu-backend.js';
import { vaeScaleFactor } from '../../../engine/pipeline/reference-configs.js';
import { Tensor } from '../../../engine/tensor.js';
import { normal } from '../../helpers/random.js';

const LAYERS = 3;
const Hl = 4;
const Wl = 4;
const T = 3;
let devices: Device[];
let vaes: GpuBackend[];
let dir: string;
let ckpt: Checkpoint;

beforeAll(async () => {
  devices = await Device.createMany(3, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-block-decode-'));
  await makeTinyCheckpoint(dir, { seed: 23, transformer: { num_attention_heads: 2, attention_head_dim: 8, num_layers: LAYERS } });
  ckpt = await openCheckpoint(dir);
  vaes = await Promise.all(devices.map((device) => GpuBackend.forParts(ckpt, ['vae'], { device })));
}, 120_000);

afterAll(async () => {
  for (const v of vaes ?? []) await v.dispose();
  await ckpt?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  devices?.forEach((d) => d.destroy());
});

const channels = () => ckpt.transformer.config.in_channels;
const vaeScale = () => vaeScaleFactor(ckpt.vae.config);
const job = (): DualParalJob => ({ layout: blockLayout(7, 2, 1), steps: 2, shift: 3, numTrainTimesteps: 1000, guidance: 1, guidanceMode: 'constant', seed: 5, latent: { channels: channels(), height: Hl, width: Wl } });

interface RankOut {
  latents: Float32Array | null;
  /** Blocks reported to this rank, in order. */
  reported: number[];
  /** Rank 0: each block's decoded frames. */
  frames: Uint8Array[][];
}

/** One rank: its layers, the queue, and every finished block decoded frame-parallel (the decode may be swapped). */
async function rankRun(group: ProcessGroup | null, r: number, decode: DecodeFrames): Promise<RankOut> {
  const c = ckpt.transformer.config;
  const device = devices[r]!;
  const model = await DualParalVchitect.loadPart(device, ckpt.transformer, splitLayers(LAYERS, group?.size ?? 1)[r]!);
  const text = [{
    context: Tensor.from(device, Float32Array.from(normal(T * c.joint_attention_dim, 3)), [1, T, c.joint_attention_dim], 'f32', 'prompt_embeds'),
    pooled: Tensor.from(device, Float32Array.from(normal(c.pooled_projection_dim, 4)), [1, c.pooled_projection_dim], 'f32', 'pooled'),
  }];
  const decoder = new BlockDecoder(group, decode, { channels: channels(), height: Hl, width: Wl, vaeScale: vaeScale() });
  const out: RankOut = { latents: null, reported: [], frames: [] };
  try {
    out.latents = await runDualParal(model, group, text, job(), {
      onBlockDone: async (b) => {
        out.reported.push(b.block);
        const v = await decoder.decode(b);
        expect(v === null).toBe(r !== 0);
        if (v) out.frames.push(v.frames);
      },
    });
    return out;
  } finally {
    text.forEach((t) => [t.context, t.pooled].forEach((x) => x.dispose()));
    model.dispose();
  }
}

async function runWorld(N: number, decodeOf: (r: number) => DecodeFrames): Promise<PromiseSettledResult<RankOut>[]> {
  if (N === 1) return Promise.allSettled([rankRun(null, 0, decodeOf(0))]);
  const transports = createInProcessWorld(N, { timeoutMs: 60_000 });
  const res = await Promise.allSettled(transports.map((t, r) => rankRun(ProcessGroup.world(t), r, decodeOf(r))));
  await Promise.allSettled(transports.map((t) => t.close()));
  return res;
}

describe('frame-parallel VAE decode of DualParal blocks', () => {
  it('shares are contiguous, in rank order, remainder to the first ranks', () => {
    expect(decodeShares(3, 2)).toEqual([{ first: 0, count: 2 }, { first: 2, count: 1 }]);
    expect(decodeShares(2, 3)).toEqual([{ first: 0, count: 1 }, { first: 1, count: 1 }, { first: 2, count: 0 }]);
    expect(decodeShares(7, 3)).toEqual([{ first: 0, count: 3 }, { first: 3, count: 2 }, { first: 5, count: 2 }]);
  });

  let oneDevice: Float32Array;
  let want: Uint8Array[][];
  for (const N of [1, 2, 3]) {
    it(`${N} rank(s): rank 0 gets each block's frames exactly as one device decoding the block whole`, async () => {
      const res = await runWorld(N, (r) => (z) => vaes[r]!.decode(z));
      res.forEach((x, r) => {
        if (x.status === 'rejected') throw new Error(`rank ${r} failed: ${String(x.reason?.stack ?? x.reason)}`);
      });
      const outs = res.map((x) => (x as PromiseFulfilledResult<RankOut>).value);
      for (const o of outs) expect(o.reported).toEqual([0, 1, 2]);
      const r0 = outs[0]!;
      if (N === 1) {
        oneDevice = r0.latents!;
        // The reference: each block's final latents decoded whole by one VAE, as rank 0 alone did before.
        const fe = channels() * Hl * Wl;
        const lay = job().layout;
        want = [];
        for (let k = 0; k < lay.blocks; k++) {
          const start = k === 0 ? 0 : lay.contextFrames + k * lay.blockFrames;
          const end = lay.contextFrames + (k + 1) * lay.blockFrames;
          const v = await vaes[0]!.decode({ shape: [1, end - start, channels(), Hl, Wl], data: oneDevice.slice(start * fe, end * fe) });
          want.push(v.frames);
        }
        expect(want.map((f) => f.length)).toEqual([3, 2, 2]);
      } else {
        expect(Buffer.from(r0.latents!.buffer).equals(Buffer.from(oneDevice.buffer))).toBe(true);
      }
      const side = Hl * vaeScale();
      expect(r0.frames.map((f) => f.length)).toEqual([3, 2, 2]);
      for (let k = 0; k < want.length; k++) {
        for (let f = 0; f < want[k]!.length; f++) {
          expect(r0.frames[k]![f]!.length).toBe(side * side * 3);
          expect(Buffer.from(r0.frames[k]![f]!).equals(Buffer.from(want[k]![f]!)), `block ${k} frame ${f}`).toBe(true);
        }
      }
    }, 180_000);
  }

  // Shares on 3 ranks: block 0 (frames 0-2) 1 + 1 + 1, blocks 1 (3-4) and 2 (5-6) 1 + 1 + 0.
  for (const [failing, call, block] of [[2, 1, 'block 0 \\(frames 0-2\\)'], [0, 2, 'block 1 \\(frames 3-4\\)']] as const) {
    it(`rank ${failing} failing in its decode (call ${call}) ends every rank with an error naming it and the block`, async () => {
      const res = await runWorld(3, (r) => {
        let calls = 0;
        return async (z) => {
          if (r === failing && ++calls === call) throw new Error('injected VAE failure');
          return vaes[r]!.decode(z);
        };
      });
      expect(res.every((x) => x.status === 'rejected')).toBe(true);
      const msgs = res.map((x) => String((x as PromiseRejectedResult).reason?.message));
      expect(msgs[failing]).toMatch(new RegExp(`frame-parallel VAE decode of ${block} on rank ${failing} failed: injected VAE failure`));
      for (const [r, m] of msgs.entries()) {
        if (r === failing) continue;
        expect(m).toMatch(new RegExp(`rank ${failing}`));
        expect(m).not.toMatch(/time(d)? ?out/i);
      }
    }, 180_000);
  }
});
