// Ulysses SP and CFG parallelism against the one-device transformer: N ranks run concurrently as async tasks in one
// process (in-process transport, one Dawn device each on the same adapter), uneven token counts (L = 15, T = 7),
// F = 1 and 3; the all-gather-of-K/V fallback when H % P != 0 (results, bytes, padding rows); plus CFG 2 x SP 2 and
// a rank failing mid-forward.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { Device } from '../../../engine/gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { VchitectTransformer } from '../../../engine/model/vchitect.js';
import { ParallelTransformer } from '../../../engine/parallel/parallel-transformer.js';
import { spAttentionExchange, UlyssesVchitect, type SpGeometry } from '../../../engine/parallel/ulysses.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose } from '../../helpers/compare.js';
import { normal } from '../../helpers/random.js';

const MAX_RANKS = 4;
let devices: Device[];
const dirs: string[] = [];
let ckpt4: Checkpoint; // 4 heads: SP 1, 2, 4
let ckpt3: Checkpoint; // 3 heads: SP 3

async function tinyCheckpoint(heads: number, seed: number): Promise<Checkpoint> {
  const dir = mkdtempSync(join(tmpdir(), 'parallax-sp-'));
  dirs.push(dir);
  await makeTinyCheckpoint(dir, { seed, transformer: { num_attention_heads: heads, attention_head_dim: 16, num_layers: 2 } });
  return openCheckpoint(dir);
}

beforeAll(async () => {
  devices = await Device.createMany(MAX_RANKS, { label: 'rank' });
  ckpt4 = await tinyCheckpoint(4, 11);
  ckpt3 = await tinyCheckpoint(3, 12);
}, 120_000);

afterAll(async () => {
  await ckpt4?.close();
  await ckpt3?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  devices?.forEach((d) => d.destroy());
});

interface Case {
  F: number;
  Hl: number;
  Wl: number;
  T: number;
  seed: number;
}

/** Host inputs of one case (the same values go to every rank's device). */
function hostInputs(ck: Checkpoint, c: Case) {
  const cfg = ck.transformer.config;
  const C = cfg.in_channels;
  return {
    hidden: normal(c.F * C * c.Hl * c.Wl, c.seed),
    context: normal(c.T * cfg.joint_attention_dim, c.seed + 1),
    pooled: normal(cfg.pooled_projection_dim, c.seed + 2),
    uncondContext: normal(c.T * cfg.joint_attention_dim, c.seed + 3),
    uncondPooled: normal(cfg.pooled_projection_dim, c.seed + 4),
    shape: [1, c.F, C, c.Hl, c.Wl],
    J: cfg.joint_attention_dim,
  };
}

function upload(device: Device, h: ReturnType<typeof hostInputs>, c: Case, uncond = false) {
  return {
    hidden: Tensor.from(device, h.hidden, h.shape),
    timestep: 612.5,
    context: Tensor.from(device, uncond ? h.uncondContext : h.context, [1, c.T, h.J]),
    pooled: Tensor.from(device, uncond ? h.uncondPooled : h.pooled, [1, h.pooled.length]),
  };
}

/** The one-device result (the reference for every layout). */
async function singleDevice(ck: Checkpoint, c: Case, uncond = false): Promise<Float32Array> {
  const model = await VchitectTransformer.load(devices[0]!, ck.transformer);
  const inp = upload(devices[0]!, hostInputs(ck, c), c, uncond);
  const out = model.forward(inp);
  const got = await out.read();
  out.dispose();
  model.dispose();
  return got;
}

/** Runs fn on n ranks concurrently (in-process transport, device r for rank r). */
function runRanks<R>(n: number, fn: (world: ProcessGroup, device: Device) => Promise<R>, timeoutMs = 60_000): Promise<PromiseSettledResult<R>[]> {
  const world = createInProcessWorld(n, { timeoutMs });
  return Promise.allSettled(world.map((t, r) => fn(ProcessGroup.world(t), devices[r]!)));
}

function fulfilled<R>(res: PromiseSettledResult<R>[]): R[] {
  return res.map((r, i) => {
    if (r.status === 'rejected') throw new Error(`rank ${i} failed: ${String(r.reason?.stack ?? r.reason)}`);
    return r.value;
  });
}

const F32_TOL = { rtol: 2e-4, atol: 1e-5 };

describe('Ulysses sequence parallelism matches the one-device transformer', () => {
  const cases: [number, Case][] = [];
  for (const P of [1, 2, 4]) for (const F of [1, 3]) cases.push([P, { F, Hl: 6, Wl: 10, T: 7, seed: 100 * P + F }]);
  for (const [P, c] of cases) {
    it(`SP ${P}, 4 heads: F=${c.F}, L=${(c.Hl * c.Wl) / 4} visual and T=${c.T} text tokens`, async () => {
      const want = await singleDevice(ckpt4, c);
      const h = hostInputs(ckpt4, c);
      const outs = fulfilled(
        await runRanks(P, async (world, device) => {
          const model = await UlyssesVchitect.loadParallel(device, ckpt4.transformer, world);
          const v = await model.forwardParallel(upload(device, h, c));
          const got = await v.read();
          v.dispose();
          model.dispose();
          return { got, sent: model.stager.stats.bytesSent, exchange: model.attentionExchange };
        }),
      );
      outs.forEach((o, r) => expectClose(o.got, want, F32_TOL, `SP ${P} rank ${r}`));
      expect(outs.map((o) => o.exchange)).toEqual(Array(P).fill('ulysses')); // P divides H = 4
      if (P > 1) expect(outs.every((o) => o.sent > 0)).toBe(true);
    }, 300_000);
  }

  it('SP 3, 3 heads: F=3, L=15, T=7 (padding on every axis)', async () => {
    const c = { F: 3, Hl: 6, Wl: 10, T: 7, seed: 33 };
    const want = await singleDevice(ckpt3, c);
    const h = hostInputs(ckpt3, c);
    const outs = fulfilled(
      await runRanks(3, async (world, device) => {
        const model = await UlyssesVchitect.loadParallel(device, ckpt3.transformer, world);
        const v = await model.forwardParallel(upload(device, h, c));
        const got = await v.read();
        v.dispose();
        model.dispose();
        return got;
      }),
    );
    outs.forEach((got, r) => expectClose(got, want, F32_TOL, `SP 3 rank ${r}`));
  }, 300_000);

  it('SP 2 in f16 (when the adapter has shader-f16): F=3, L=15, T=7', async () => {
    if (!devices[0]!.f16) return;
    const c = { F: 3, Hl: 6, Wl: 10, T: 7, seed: 61 };
    const h = hostInputs(ckpt4, c);
    const up16 = (device: Device) => ({
      hidden: Tensor.from(device, h.hidden, h.shape, 'f16'),
      timestep: 612.5,
      context: Tensor.from(device, h.context, [1, c.T, h.J], 'f16'),
      pooled: Tensor.from(device, h.pooled, [1, h.pooled.length], 'f16'),
    });
    const base = await VchitectTransformer.load(devices[0]!, ckpt4.transformer, { dtype: 'f16' });
    const ref = base.forward(up16(devices[0]!));
    const want = await ref.read();
    ref.dispose();
    base.dispose();
    const outs = fulfilled(
      await runRanks(2, async (world, device) => {
        const model = await UlyssesVchitect.loadParallel(device, ckpt4.transformer, world, { dtype: 'f16' });
        const v = await model.forwardParallel(up16(device));
        const got = await v.read();
        v.dispose();
        model.dispose();
        return got;
      }),
    );
    outs.forEach((got, r) => expectClose(got, want, { rtol: 2e-2, atol: 2e-3 }, `SP 2 f16 rank ${r}`));
  }, 300_000);

});

/** The Ulysses model forced onto the all-gather of K/V (to compare both paths where the heads do split). */
class ForcedKvGather extends UlyssesVchitect {
  override readonly attentionExchange = 'kv-allgather' as const;
}

describe('all-gather of K/V when the heads do not split over the SP group (H % P != 0)', () => {
  it('picks Ulysses exactly when P divides H', () => {
    expect([1, 2, 3, 4, 5].map((P) => spAttentionExchange(4, P))).toEqual(['ulysses', 'ulysses', 'kv-allgather', 'ulysses', 'kv-allgather']);
    expect([1, 2, 3].map((P) => spAttentionExchange(3, P))).toEqual(['ulysses', 'kv-allgather', 'ulysses']);
    expect(() => spAttentionExchange(4, 0)).toThrow(/positive integer, got 0/);
  });

  const cases: { P: number; heads: 3 | 4; c: Case }[] = [];
  for (const F of [1, 3]) {
    cases.push({ P: 3, heads: 4, c: { F, Hl: 6, Wl: 10, T: 7, seed: 500 + F } });
    cases.push({ P: 2, heads: 3, c: { F, Hl: 6, Wl: 10, T: 7, seed: 600 + F } });
  }
  for (const { P, heads, c } of cases) {
    it(`SP ${P}, ${heads} heads: F=${c.F}, L=15, T=${c.T}; one all-gather per layer, the bytes of the formula`, async () => {
      const ck = heads === 4 ? ckpt4 : ckpt3;
      const want = await singleDevice(ck, c);
      const h = hostInputs(ck, c);
      const outs = fulfilled(
        await runRanks(P, async (world, device) => {
          const model = await UlyssesVchitect.loadParallel(device, ck.transformer, world);
          const v = await model.forwardParallel(upload(device, h, c));
          const got = await v.read();
          v.dispose();
          model.dispose();
          return { got, exchange: model.attentionExchange, stats: { ...model.stager.stats } };
        }),
      );
      outs.forEach((o, r) => expectClose(o.got, want, F32_TOL, `SP ${P} (${heads} heads) rank ${r}`));
      // Per layer: k, v of ceil(L/P) visual rows and ck, cv of ceil(T/P) text rows, all heads, to P - 1 ranks;
      // then the velocity rows (64 channels). f32.
      const D = heads * 16;
      const layers = 2;
      const nL = Math.ceil(15 / P);
      const nT = Math.ceil(c.T / P);
      const bytes = 4 * (P - 1) * c.F * (layers * 2 * (nL + nT) * D + nL * 64);
      for (const o of outs) {
        expect(o.exchange).toBe('kv-allgather');
        expect([o.stats.allToAlls, o.stats.allGathers]).toEqual([0, layers + 1]);
        expect(o.stats.bytesSent).toBe(bytes);
      }
    }, 300_000);
  }

  it('gives the Ulysses path\'s local rows, padding rows included (SP 2, 4 heads forced onto the fallback)', async () => {
    const c = { F: 3, Hl: 6, Wl: 10, T: 7, seed: 71 };
    const h = hostInputs(ckpt4, c);
    const outs = fulfilled(
      await runRanks(2, async (world, device) => {
        const base = await VchitectTransformer.load(device, ckpt4.transformer);
        const rows = async (m: UlyssesVchitect) => {
          const local = await m.forwardLocal(upload(device, h, c));
          const got = await local.rows.read();
          local.rows.dispose();
          return { got, exchange: m.attentionExchange, shape: local.rows.shape };
        };
        const uly = await rows(new UlyssesVchitect(device, base.dims, base.weights, base.dtype, world));
        const kv = await rows(new ForcedKvGather(device, base.dims, base.weights, base.dtype, world));
        base.dispose();
        return { uly, kv };
      }),
    );
    outs.forEach(({ uly, kv }, r) => {
      expect([uly.exchange, kv.exchange]).toEqual(['ulysses', 'kv-allgather']);
      expect(kv.shape).toEqual([3, 8, 64]); // ceil(15 / 2) rows per frame; rank 1's last row is padding
      expectClose(kv.got, uly.got, F32_TOL, `rank ${r}: kv-allgather vs Ulysses local rows`);
    });
  }, 300_000);
});

describe('CFG parallelism', () => {
  it('CFG 2 x SP 2 on 4 ranks: v = v_u + g (v_c - v_u) matches two one-device passes', async () => {
    const c = { F: 3, Hl: 6, Wl: 10, T: 7, seed: 77 };
    const g = 4.5;
    const vc = await singleDevice(ckpt4, c);
    const vu = await singleDevice(ckpt4, c, true);
    const want = Float64Array.from(vc, (x, i) => vu[i]! + g * (x - vu[i]!));
    const h = hostInputs(ckpt4, c);
    const outs = fulfilled(
      await runRanks(4, async (world, device) => {
        const pt = await ParallelTransformer.create(world, device, ckpt4.transformer, { sp: 2, cfg: 2 });
        const cond = upload(device, h, c);
        const uncond = upload(device, h, c, true);
        const v = await pt.guidedVelocity({ hidden: cond.hidden, timestep: cond.timestep, cond, uncond: { context: uncond.context, pooled: uncond.pooled }, guidance: g });
        const got = await v.read();
        v.dispose();
        const stats = pt.stats();
        pt.dispose();
        return { got, branch: pt.branch, stats };
      }),
    );
    expect(outs.map((o) => o.branch)).toEqual([0, 0, 1, 1]);
    outs.forEach((o, r) => expectClose(o.got, want, { rtol: 5e-4, atol: 1e-5 }, `CFG2xSP2 rank ${r}`));
    // Exactly one CFG exchange (all-gather) per step, besides the final SP all-gather.
    outs.forEach((o) => expect(o.stats.allGathers).toBe(2));
  }, 300_000);

  it('CFG 1 x SP 2 on 2 ranks: both branches on every rank, guided on local rows', async () => {
    const c = { F: 1, Hl: 6, Wl: 10, T: 7, seed: 78 };
    const g = 2.5;
    const vc = await singleDevice(ckpt4, c);
    const vu = await singleDevice(ckpt4, c, true);
    const want = Float64Array.from(vc, (x, i) => vu[i]! + g * (x - vu[i]!));
    const h = hostInputs(ckpt4, c);
    const outs = fulfilled(
      await runRanks(2, async (world, device) => {
        const pt = await ParallelTransformer.create(world, device, ckpt4.transformer, { sp: 2, cfg: 1 });
        const cond = upload(device, h, c);
        const uncond = upload(device, h, c, true);
        const v = await pt.guidedVelocity({ hidden: cond.hidden, timestep: cond.timestep, cond, uncond: { context: uncond.context, pooled: uncond.pooled }, guidance: g });
        const got = await v.read();
        v.dispose();
        pt.dispose();
        return { got, branch: pt.branch };
      }),
    );
    outs.forEach((o, r) => {
      expect(o.branch).toBeNull();
      expectClose(o.got, want, { rtol: 5e-4, atol: 1e-5 }, `CFG1xSP2 rank ${r}`);
    });
  }, 300_000);

  it('rejects a layout that does not fit the world', async () => {
    const world = createInProcessWorld(3);
    await expect(ParallelTransformer.create(ProcessGroup.world(world[0]!), devices[0]!, ckpt4.transformer, { sp: 2, cfg: 2 })).rejects.toThrow(/needs 4 ranks, but the world has 3/);
  });
});

/** A rank whose second block throws (a bug or an OOM on one GPU). */
class FaultyVchitect extends UlyssesVchitect {
  protected override async parallelBlock(i: number, X: Tensor, C: Tensor, e: Tensor, g: SpGeometry) {
    if (i === 1) throw new Error('simulated failure in block 1');
    return super.parallelBlock(i, X, C, e, g);
  }
}

describe('failure handling', () => {
  it('a rank that throws mid-forward makes every rank fail with a clear error, without waiting for timeouts', async () => {
    const c = { F: 1, Hl: 4, Wl: 4, T: 3, seed: 5 };
    const h = hostInputs(ckpt4, c);
    const t0 = performance.now();
    const res = await runRanks(
      2,
      async (world, device) => {
        const base = await VchitectTransformer.load(device, ckpt4.transformer);
        const Cls = world.rank === 1 ? FaultyVchitect : UlyssesVchitect;
        const model = new Cls(device, base.dims, base.weights, base.dtype, world);
        try {
          const v = await model.forwardParallel(upload(device, h, c));
          v.dispose();
        } finally {
          model.dispose();
        }
      },
      120_000,
    );
    const elapsed = performance.now() - t0;
    expect(res.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    const [e0, e1] = res.map((r) => String((r as PromiseRejectedResult).reason?.message));
    expect(e1).toMatch(/rank 1 .*failed: simulated failure in block 1/);
    expect(e0).toMatch(/rank 0\): rank 1 aborted: .*simulated failure in block 1/);
    expect(elapsed).toBeLessThan(60_000); // far below the 120 s receive timeout: the abort reached rank 0
  }, 200_000);
});
