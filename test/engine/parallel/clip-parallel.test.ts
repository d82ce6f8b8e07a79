// Video-Infinity clip parallelism with dual-scope attention: the clip layout against hand-computed cases, the float64
// dual-scope reference against an independent formulation, the one-device GPU version against the float64
// reference (whole transformer), N = 1..4 ranks (in-process transport, one Dawn device each, uneven clips) against the
// one-device GPU version bit for bit, and a failing rank ending the others.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { Device } from '../../../engine/gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { ClipParallelVchitect } from '../../../engine/parallel/clip-parallel.js';
import { clipLayout, contributedFrames, haloPartners, type ClipLayout, type DualScopeOptions } from '../../../engine/parallel/clip-layout.js';
import { dualScopeTemporal64 } from '../../../engine/reference/dual-scope.js';
import { sdpa64, type Tensor64 } from '../../../engine/reference/tensor64.js';
import { vchitectForward64 } from '../../../engine/reference/vchitect.js';
import type { DType } from '../../../engine/dtype.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { normal } from '../../helpers/random.js';

describe('clip layout (spec section 2)', () => {
  it('splits unevenly, remainder to the first clips, and picks G by share and stride', () => {
    const l = clipLayout(7, 3, { window: 2, topK: 4 });
    expect(l.lengths).toEqual([3, 2, 2]);
    expect(l.starts).toEqual([0, 3, 5]);
    // share = floor(4/3) = 1: stride = clip length, so each clip gives its frame 0.
    expect(l.global).toEqual([0, 3, 5]);
    // share = floor(16/3) = 5 >= clip length: stride 1, every frame, all 7 kept.
    expect(clipLayout(7, 3, { window: 2 }).global).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // 10 frames over 2, topK 4: share 2, stride floor(5/2) = 2 -> frames 0,2,4 of each clip; keep the first 4.
    expect(contributedFrames(5, 2, 4)).toEqual([0, 2, 4]);
    expect(clipLayout(10, 2, { window: 1, topK: 4 }).global).toEqual([0, 2, 4, 5]);
    // more ranks than topK: share 0, only frame 0 of each clip, the first topK kept.
    expect(clipLayout(6, 3, { window: 1, topK: 2 }).global).toEqual([0, 2]);
  });

  it('refuses clips shorter than the halo and says what would fit', () => {
    expect(() => clipLayout(7, 4, { window: 2 })).toThrow(/clip 3 has 1 latent frames.*at most 3 ranks/);
    expect(() => clipLayout(7, 2, {}, [5, 3])).toThrow(/do not add up to 7/);
  });

  it('pairs neighbours in two parity rounds, one partner per round', () => {
    expect([0, 1, 2, 3].map((r) => haloPartners(r, 4))).toEqual([[1, null], [0, 2], [3, 1], [2, null]]);
    expect([0, 1, 2].map((r) => haloPartners(r, 3))).toEqual([[1, null], [0, 2], [null, 1]]);
    expect(haloPartners(0, 1)).toEqual([null, null]);
  });
});

describe('float64 dual-scope reference', () => {
  // With the window covering the whole video, ends masked and G = {frame 0}, dual-scope attention is full attention
  // in which frame 0 appears twice: frame 0 with local bias bl and global bias bg has weight e^bl + e^bg, the others
  // e^bl. That is sdpa with a bias of ln(e^bl + e^bg) on frame 0 and bl elsewhere, computed here without the layout.
  for (const t of [900, 500]) {
    it(`equals full attention with frame 0 doubled (t = ${t})`, () => {
      const nf = 4;
      const S = 2;
      const d = 8;
      const heads = 2;
      const layout = clipLayout(nf, 1, { window: 3, topK: 1, ends: 'mask', rope: 'global', bias: 1.5 });
      const rnd = (seed: number) => Array.from({ length: nf }, (_, f) => ({ shape: [S, d], data: Float64Array.from(normal(S * d, seed + f)) }) as Tensor64);
      const [q, k, v] = [rnd(1), rnd(10), rnd(20)];
      const got = dualScopeTemporal64(layout, t)(q, k, v, heads);
      const [bl, bg] = t >= 800 ? [0, 1.5] : [1.5, 0];
      for (let r = 0; r < S; r++) {
        const rows = (x: Tensor64[]) => ({ shape: [nf, d], data: Float64Array.from(x.flatMap((f) => [...f.data.subarray(r * d, (r + 1) * d)])) });
        // RoPE is relative, so unrotated keys differ; rotate with the model's RoPE by hand through the full reference.
        const bias = Float64Array.from({ length: nf * nf }, (_, i) => (i % nf === 0 ? Math.log(Math.exp(bl) + Math.exp(bg)) : bl));
        const want = sdpaRope(rows(q), rows(k), rows(v), heads, bias);
        for (let f = 0; f < nf; f++) {
          expectClose(got[f]!.data.subarray(r * d, (r + 1) * d), want.data.subarray(f * d, (f + 1) * d), { rtol: 1e-12, atol: 1e-12 }, `t=${t} row ${r} frame ${f}`);
        }
      }
    });
  }
});

/** sdpa over frames with the Vchitect temporal RoPE (positions 0..n-1) and an [n, n] bias. */
function sdpaRope(q: Tensor64, k: Tensor64, v: Tensor64, heads: number, bias: Float64Array): Tensor64 {
  const n = q.shape[0]!;
  const pos = Array.from({ length: n }, (_, i) => i);
  const rot = (x: Tensor64) => ropeRef(x, heads, pos);
  return sdpa64(rot(q), rot(k), v, heads, { bias: { shape: [n, n], data: bias } });
}

/** Interleaved RoPE, theta 1e6, written out here (independent of the reference's helper). */
function ropeRef(x: Tensor64, heads: number, pos: number[]): Tensor64 {
  const [n, c] = x.shape as [number, number];
  const hd = c / heads;
  const out = new Float64Array(x.data.length);
  for (let r = 0; r < n; r++) {
    for (let h = 0; h < heads; h++) {
      for (let j = 0; j < hd / 2; j++) {
        const ang = pos[r]! * 1e6 ** ((-2 * j) / hd);
        const i = r * c + h * hd + 2 * j;
        out[i] = x.data[i]! * Math.cos(ang) - x.data[i + 1]! * Math.sin(ang);
        out[i + 1] = x.data[i]! * Math.sin(ang) + x.data[i + 1]! * Math.cos(ang);
      }
    }
  }
  return { shape: [n, c], data: out };
}

// ---------- GPU ----------

const MAX_RANKS = 4;
let devices: Device[];
let dir: string;
let ckpt: Checkpoint;
const weights64 = new Map<string, Tensor64>();
const Hl = 4;
const Wl = 6;
const T = 3;

beforeAll(async () => {
  devices = await Device.createMany(MAX_RANKS, { label: 'rank' });
  dir = mkdtempSync(join(tmpdir(), 'parallax-clip-'));
  await makeTinyCheckpoint(dir, { seed: 23, transformer: { num_attention_heads: 2, attention_head_dim: 16, num_layers: 2 } });
  ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  for (const k of store.keys()) weights64.set(k, { shape: [...store.info(k).shape], data: Float64Array.from(await store.readFloat32(k)) });
}, 120_000);

afterAll(async () => {
  await ckpt?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  devices?.forEach((d) => d.destroy());
});

function hostInputs(F: number, seed: number) {
  const c = ckpt.transformer.config;
  return {
    C: c.in_channels,
    J: c.joint_attention_dim,
    hidden: normal(F * c.in_channels * Hl * Wl, seed),
    context: normal(T * c.joint_attention_dim, seed + 1),
    pooled: normal(c.pooled_projection_dim, seed + 2),
  };
}

type Host = ReturnType<typeof hostInputs>;

/** Frames [from, to) of the host latents on `device`. */
function upload(device: Device, h: Host, timestep: number, from: number, to: number, dtype: DType = 'f32') {
  const per = h.C * Hl * Wl;
  return {
    hidden: Tensor.from(device, h.hidden.subarray(from * per, to * per), [1, to - from, h.C, Hl, Wl], dtype),
    timestep,
    context: Tensor.from(device, h.context, [1, T, h.J], dtype),
    pooled: Tensor.from(device, h.pooled, [1, h.pooled.length], dtype),
  };
}

async function oneDevice(h: Host, layout: ClipLayout, timestep: number, dtype: DType = 'f32'): Promise<Float32Array> {
  const model = await ClipParallelVchitect.loadClipParallel(devices[0]!, ckpt.transformer, null, { dtype });
  const out = await model.forwardClips(upload(devices[0]!, h, timestep, 0, layout.frames, dtype), layout);
  const got = await out.read();
  out.dispose();
  model.dispose();
  return got;
}

function reference(h: Host, layout: ClipLayout, timestep: number): Float64Array {
  const d = ckpt.transformer.config;
  const heads = d.num_attention_heads;
  return vchitectForward64(weights64, {
    numLayers: d.num_layers, heads, headDim: d.attention_head_dim, patchSize: d.patch_size, inChannels: d.in_channels,
    outChannels: d.out_channels, posEmbedMaxSize: d.pos_embed_max_size, jointAttentionDim: d.joint_attention_dim, pooledProjectionDim: d.pooled_projection_dim,
  }, {
    hiddenStates: { shape: [1, layout.frames, h.C, Hl, Wl], data: Float64Array.from(h.hidden) },
    timestep,
    encoderHiddenStates: { shape: [1, T, h.J], data: Float64Array.from(h.context) },
    pooledProjections: { shape: [1, h.pooled.length], data: Float64Array.from(h.pooled) },
  }, { temporal: dualScopeTemporal64(layout, timestep) }).data;
}

function runRanks<R>(n: number, fn: (g: ProcessGroup, device: Device) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const world = createInProcessWorld(n, { timeoutMs: 60_000 });
  return Promise.allSettled(world.map((t, r) => fn(ProcessGroup.world(t), devices[r]!)));
}

const F32_TOL = { rtol: 2e-4, atol: 1e-5 };

describe('one-device dual-scope transformer (GPU) vs the float64 reference', () => {
  const cases: [string, number, number, Partial<DualScopeOptions>, number][] = [
    // Small biases where the other scope must still matter (with +10 the favoured scope drowns the other).
    ['7 frames in clips 3,2,2, p 2, topK 4, global bias 1', 7, 3, { window: 2, topK: 4, bias: 1 }, 900],
    ['7 frames in clips 3,2,2, p 2, topK 4, local bias, window-local RoPE, masked ends', 7, 3, { window: 2, topK: 4, rope: 'window', ends: 'mask' }, 500],
    ['5 frames in clips 3,2, p 1, topK 16, global bias 2', 5, 2, { window: 1, bias: 2 }, 800],
    ['6 frames in one clip, p 8 > F (zero halos both sides), default bias 10', 6, 1, {}, 300],
  ];
  for (const [name, F, N, opts, t] of cases) {
    it(name, async () => {
      const layout = clipLayout(F, N, opts);
      const h = hostInputs(F, 31 * F + N);
      expectClose(await oneDevice(h, layout, t), reference(h, layout, t), F32_TOL, name);
    }, 300_000);
  }
});

describe('clip parallelism on N ranks equals the one-device dual-scope transformer', () => {
  const cases: [number, number, Partial<DualScopeOptions>, number][] = [
    [1, 7, { window: 2, topK: 4 }, 900],
    [2, 7, { window: 2, topK: 4, bias: 1 }, 900],
    [3, 7, { window: 2, topK: 4, rope: 'window', ends: 'mask' }, 500],
    [4, 9, { window: 2, topK: 16 }, 700],
  ];
  for (const [N, F, opts, t] of cases) {
    const layout = clipLayout(F, N, opts);
    it(`N = ${N}: ${F} frames in clips ${layout.lengths.join(',')} (${JSON.stringify(opts)}, t = ${t})`, async () => {
      const h = hostInputs(F, 7 * F + N);
      const want = await oneDevice(h, clipLayout(F, N, opts), t);
      const res = await runRanks(N, async (g, device) => {
        const model = await ClipParallelVchitect.loadClipParallel(device, ckpt.transformer, N === 1 ? null : g);
        const r = g.rank;
        const sent0 = g.stats.bytesSent;
        const out = await model.forwardClips(upload(device, h, t, layout.starts[r]!, layout.starts[r]! + layout.lengths[r]!), layout);
        const sent = g.stats.bytesSent - sent0;
        const got = await out.read();
        out.dispose();
        model.dispose();
        return { got, sent };
      });
      const parts = res.map((r, i) => {
        if (r.status === 'rejected') throw new Error(`rank ${i} failed: ${String(r.reason?.stack ?? r.reason)}`);
        return r.value.got;
      });
      // Bytes each rank sent, against the count: per layer, its frames of G to N-1 ranks and p halo frames to each
      // neighbour (K and V: S rows of 2D f32 per frame), and on rank 0 frame 0's text K/V (2 x T x D) to N-1 ranks.
      const cfg = ckpt.transformer.config;
      const D = cfg.num_attention_heads * cfg.attention_head_dim;
      const S = (Hl / 2) * (Wl / 2) + T;
      const frameBytes = S * 2 * D * 4;
      res.forEach((r, rank) => {
        const mineG = layout.global.filter((g) => g >= layout.starts[rank]! && g < layout.starts[rank]! + layout.lengths[rank]!).length;
        const neighbours = N === 1 ? 0 : rank === 0 || rank === N - 1 ? 1 : 2;
        const perLayer = (mineG * (N - 1) + layout.opts.window * neighbours) * frameBytes + (rank === 0 ? 2 * T * D * 4 * (N - 1) : 0);
        expect((r as PromiseFulfilledResult<{ sent: number }>).value.sent, `bytes sent by rank ${rank}`).toBe(N === 1 ? 0 : cfg.num_layers * perLayer);
      });
      const got = new Float32Array(want.length);
      let off = 0;
      for (const p of parts) {
        got.set(p, off);
        off += p.length;
      }
      // Same ops on the same rows in the same order (the window tensors are assembled identically), so bit for bit.
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    }, 300_000);
  }

  it('f16 (when the adapter has shader-f16): N = 3 equals one device bit for bit', async (ctx) => {
    if (!devices[0]!.f16) ctx.skip();
    const F = 7;
    const layout = clipLayout(F, 3, { window: 2, topK: 4, bias: 1 });
    const h = hostInputs(F, 77);
    const want = await oneDevice(h, layout, 900, 'f16');
    const res = await runRanks(3, async (g, device) => {
      const model = await ClipParallelVchitect.loadClipParallel(device, ckpt.transformer, g, { dtype: 'f16' });
      const r = g.rank;
      const out = await model.forwardClips(upload(device, h, 900, layout.starts[r]!, layout.starts[r]! + layout.lengths[r]!, 'f16'), layout);
      const got = await out.read();
      out.dispose();
      model.dispose();
      return got;
    });
    const got = new Float32Array(want.length);
    let off = 0;
    res.forEach((r, i) => {
      if (r.status === 'rejected') throw new Error(`rank ${i} failed: ${String(r.reason?.stack ?? r.reason)}`);
      got.set(r.value, off);
      off += r.value.length;
    });
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  }, 300_000);

  it('a failing rank ends the others with a clear error', async () => {
    const F = 7;
    const layout = clipLayout(F, 3, { window: 2, topK: 4 });
    const h = hostInputs(F, 5);
    const res = await runRanks(3, async (g, device) => {
      const model = await ClipParallelVchitect.loadClipParallel(device, ckpt.transformer, g);
      const r = g.rank;
      // Rank 1 gets one frame too many: its forward fails before the first exchange.
      const inp = upload(device, h, 900, layout.starts[r]!, layout.starts[r]! + layout.lengths[r]! + (r === 1 ? 1 : 0));
      try {
        return await model.forwardClips(inp, layout);
      } finally {
        model.dispose();
      }
    });
    expect(res.every((r) => r.status === 'rejected')).toBe(true);
    const msgs = res.map((r) => String((r as PromiseRejectedResult).reason?.message));
    expect(msgs[1]).toMatch(/clip-parallel forward on rank 1 .*failed: .*hidden_states hold 3 frames, but clip\(s\) 1 of the layout have 2/);
    for (const m of [msgs[0], msgs[2]]) expect(m).toMatch(/rank 1/);
  }, 300_000);
});
