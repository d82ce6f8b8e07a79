// Per-rank device memory and traffic of data-parallel training with ZeRO stages 0-3 (engine/train/distributed-step.ts):
// N ranks in this process (in-process transport, one Dawn device each), a make-tiny transformer (default 4 layers,
// D = 64), one item per rank (global batch N), 2 steps. Reports, per rank, the bytes its device holds between steps
// (parameters + Adam moments + EMA: "persistent") and the peak of step 2 (the pool's accounting, 256-byte size
// classes), both above what the device held before, plus the collective bytes it sent in step 2.
// Usage: node --import tsx bench/zero-memory.ts [--layers 4] [--heads 4] [--head-dim 16] [--ranks 1,2,4] [--frames 2] [--size 8]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessGroup, resetStats } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { mulberry32 } from '../engine/mulberry32.js';
import { Tensor } from '../engine/tensor.js';
import { DistributedTrainer, type ZeroStage } from '../engine/train/distributed-step.js';

const { values: a } = parseArgs({ options: { layers: { type: 'string', default: '4' }, heads: { type: 'string', default: '4' }, 'head-dim': { type: 'string', default: '16' }, ranks: { type: 'string', default: '1,2,4' }, frames: { type: 'string', default: '2' }, size: { type: 'string', default: '8' } } });
const layers = Number(a.layers), heads = Number(a.heads), hd = Number(a['head-dim']), F = Number(a.frames), S = Number(a.size);
const rankList = a.ranks!.split(',').map(Number);

function randn(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'parallax-zero-mem-'));
try {
  await makeTinyCheckpoint(dir, { seed: 5, transformer: { num_layers: layers, num_attention_heads: heads, attention_head_dim: hd } });
  const ck = await openCheckpoint(dir);
  const cfg = ck.transformer.config as unknown as Record<string, number>;
  const host = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const k of ck.transformer.weights.keys()) host.set(k, { shape: [...ck.transformer.weights.info(k).shape], data: await ck.transformer.weights.readFloat32(k) });
  await ck.close();
  const nParams = [...host.values()].reduce((s, h) => s + h.data.length, 0);
  const C = cfg.in_channels!, J = cfg.joint_attention_dim!, P = cfg.pooled_projection_dim!, Tn = 8;
  const shape = { numLayers: layers, heads, patchSize: cfg.patch_size ?? 2, eps: LN_EPS };
  const devices = await Device.createMany(Math.max(...rankList), { label: 'rank' });
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`make-tiny transformer: ${layers} layers, D = ${heads * hd} (${heads} heads x ${hd}), ${(nParams / 1e6).toFixed(3)} M parameters (${mib(4 * nParams)} MiB f32); item: ${F} frames of ${S}x${S} latents, ${Tn} text tokens; global batch = ranks; adapter: ${devices[0]!.adapter.description}`);
  console.log('\n| ranks | ZeRO | persistent MiB per rank | step peak MiB per rank | sent KiB per rank in a step |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const N of rankList) {
    for (const zero of [0, 1, 2, 3] as ZeroStage[]) {
      const world = createInProcessWorld(N, { timeoutMs: 600_000 });
      const res = await Promise.all(world.map(async (t, r) => {
        const device = devices[r]!;
        const g = ProcessGroup.world(t);
        const base = device.pool.stats.liveBytes;
        const params = new Map([...host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32')]));
        const trainer = DistributedTrainer.create(g, params, shape, { zero, ema: true });
        const persistent = trainer.memory().liveBytes - base;
        const item = {
          x0: Tensor.from(device, randn(F * C * S * S, 10 + r), [1, F, C, S, S], 'f32'),
          context: Tensor.from(device, randn(Tn * J, 20 + r), [1, Tn, J], 'f32'),
          pooled: Tensor.from(device, randn(P, 30 + r), [1, P], 'f32'),
        };
        const opts = { seed: 3, lr: 1e-3, sigma: { sampling: 'logit_normal' as const, shift: 3 }, emaDecay: {}, globalBatch: N };
        await trainer.step([item], opts);
        resetStats(g.stats);
        device.pool.resetPeak();
        await trainer.step([item], opts);
        const peak = trainer.memory().peakBytes - base;
        const sent = g.stats.bytesSent;
        item.x0.dispose(); item.context.dispose(); item.pooled.dispose();
        trainer.dispose();
        return { persistent, peak, sent };
      }));
      console.log(`| ${N} | ${zero} | ${res.map((x) => mib(x.persistent)).join(' / ')} | ${res.map((x) => mib(x.peak)).join(' / ')} | ${res.map((x) => (x.sent / 1024).toFixed(0)).join(' / ')} |`);
    }
  }
  devices.forEach((d) => d.destroy());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
