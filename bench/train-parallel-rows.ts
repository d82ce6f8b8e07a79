// bench:train's parallel rows (bench/train.ts): one training step of the Vchitect transformer through
// DistributedTrainer (engine/train/distributed-step.ts) on 1 or 2 ranks of this process (in-process transport, one
// Dawn device per rank on the same adapter): one rank (the reference), data parallelism (DP 2), ZeRO stages 1/2/3
// over 2 data-parallel ranks and Ulysses sequence parallelism (SP 2, one item split over 2 ranks). Per row: the first
// step's time, the best and median wall time of the timed steps (a step's time is its slowest rank's), visual tokens/s
// of the global batch, and per rank the bytes resident after step 1, the peak of step 2 (the pool's accounting, above
// what the device held before) and the collective bytes it sent in step 2; the first two losses (DP and ZeRO rows
// equal the one-rank row of the same global batch within float rounding: the same items and draws).

import { ProcessGroup, resetStats } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import type { Device } from '../engine/gpu/device.js';
import { Tensor } from '../engine/tensor.js';
import { DistributedTrainer, type ZeroStage } from '../engine/train/distributed-step.js';
import { spDataGroups } from '../engine/train/sp-groups.js';
import type { TrainBatch, TrainStepOptions } from '../engine/train/train-step.js';
import type { ModelShape } from '../engine/train/vchitect-backward.js';
import { batchShare } from '../engine/train/zero-layout.js';
import { median } from './timing.js';
import type { HostItem } from './torch-train-peer.js';
import { deviceParams } from './train-rank-memory.js';

export interface ParallelOption {
  /** The --parallel name. */
  key: string;
  /** The row's label. */
  name: string;
  describe: string;
  ranks: number;
  zero: ZeroStage;
  sp: number;
  /** Global batch (items per step over all data-parallel ranks). */
  batch: number;
}

export const PARALLEL_OPTIONS: ParallelOption[] = [
  { key: 'one1', name: '1 rank', describe: 'the reference of SP 2: one rank, the same item', ranks: 1, zero: 0, sp: 1, batch: 1 },
  { key: 'one2', name: '1 rank', describe: 'the reference of the DP and ZeRO rows: one rank, both items', ranks: 1, zero: 0, sp: 1, batch: 2 },
  { key: 'dp2', name: 'DP 2', describe: 'data parallel: one item per rank, every gradient all-reduced, full optimizer state on each rank', ranks: 2, zero: 0, sp: 1, batch: 2 },
  { key: 'zero1', name: 'ZeRO 1, 2 ranks', describe: 'DP 2 with Adam m, v and the EMA sharded by unit; the updated units all-gathered', ranks: 2, zero: 1, sp: 1, batch: 2 },
  { key: 'zero2', name: 'ZeRO 2, 2 ranks', describe: 'ZeRO 1 plus gradients sharded (reduced unit by unit to their owner)', ranks: 2, zero: 2, sp: 1, batch: 2 },
  { key: 'zero3', name: 'ZeRO 3, 2 ranks', describe: 'ZeRO 2 plus parameters sharded (each block broadcast by its owner; every block reruns its forward in the backward)', ranks: 2, zero: 3, sp: 1, batch: 2 },
  { key: 'sp2', name: 'SP 2', describe: 'Ulysses sequence parallel: the item\'s visual tokens split over 2 ranks, all-to-all around attention', ranks: 2, zero: 0, sp: 2, batch: 1 },
];

export interface ParallelRow {
  option: ParallelOption;
  firstS: number;
  bestS: number;
  medianS: number;
  /** Per timed step, the slowest rank's seconds. */
  runs: number[];
  /** Per rank. */
  residentBytes: number[];
  peakBytes: number[];
  sentBytes: number[];
  /** Steps 1 and 2 (rank 0's; every rank gets the same). */
  losses: number[];
}

export interface ParallelInput {
  host: Map<string, { shape: number[]; data: Float32Array }>;
  shape: ModelShape;
  /** The items of the largest global batch; a row of batch K trains items 0..K-1. */
  items: HostItem[];
  stepOpts: TrainStepOptions;
  /** Timed steps after the two measured ones (the same count on every rank: they meet in collectives). */
  steps: number;
  /** At least as many devices as the option has ranks; rank r uses devices[r]. */
  devices: Device[];
  /** Per-collective timeout (a failing rank ends the others with an error instead of a hang). */
  timeoutMs?: number;
}

/** One row: the option's ranks in this process, 2 + `steps` steps each (see the header). */
export async function measureParallel(opt: ParallelOption, inp: ParallelInput): Promise<ParallelRow> {
  if (inp.devices.length < opt.ranks) throw new Error(`bench:train ${opt.key}: needs ${opt.ranks} devices, got ${inp.devices.length}`);
  if (inp.items.length < opt.batch) throw new Error(`bench:train ${opt.key}: needs ${opt.batch} items, got ${inp.items.length}`);
  const world = createInProcessWorld(opt.ranks, { timeoutMs: inp.timeoutMs ?? 300_000 });
  const perRank = await Promise.all(world.map(async (t, r) => {
    const device = inp.devices[r]!;
    const w = ProcessGroup.world(t);
    const groups = opt.sp > 1 ? await spDataGroups(w, opt.sp, inp.shape.heads) : { dp: w, sp: null };
    const share = batchShare(opt.batch, groups.dp.size, groups.dp.rank);
    const base = device.pool.stats.liveBytes;
    const params = deviceParams(inp.host, device);
    const trainer = DistributedTrainer.create(groups.dp, params, inp.shape, { zero: opt.zero, ema: true, sp: groups.sp ?? undefined });
    const items: TrainBatch[] = inp.items.slice(share.offset, share.offset + share.count).map((it) => ({
      x0: Tensor.from(device, it.x0.data, it.x0.shape, 'f32', 'x0'),
      context: Tensor.from(device, it.context.data, it.context.shape, 'f32', 'context'),
      pooled: Tensor.from(device, it.pooled.data, it.pooled.shape, 'f32', 'pooled'),
    }));
    const times: number[] = [];
    const losses: number[] = [];
    let resident = 0;
    let peak = 0;
    let sent = 0;
    try {
      for (let i = 0; i < 2 + inp.steps; i++) {
        if (i === 1) {
          resident = device.pool.stats.liveBytes - base;
          device.pool.resetPeak();
          resetStats(w.stats);
        }
        const t0 = performance.now();
        const res = await trainer.step(items, { ...inp.stepOpts, globalBatch: opt.batch });
        times.push((performance.now() - t0) / 1000);
        if (i < 2) losses.push(res.loss);
        if (i === 1) {
          peak = device.pool.stats.peakBytes - base;
          sent = w.stats.bytesSent;
        }
      }
    } finally {
      for (const b of items) { b.x0.dispose(); b.context.dispose(); b.pooled.dispose(); }
      trainer.dispose();
    }
    return { times, losses, resident, peak, sent };
  }));
  const stepS = (i: number) => Math.max(...perRank.map((p) => p.times[i]!));
  const runs = Array.from({ length: inp.steps }, (_, i) => stepS(2 + i));
  return {
    option: opt, firstS: stepS(0), bestS: runs.length ? Math.min(...runs) : stepS(1), medianS: runs.length ? median(runs) : stepS(1), runs,
    residentBytes: perRank.map((p) => p.resident), peakBytes: perRank.map((p) => p.peak), sentBytes: perRank.map((p) => p.sent), losses: perRank[0]!.losses,
  };
}

/** The rows as a markdown table (the style of bench:train's other tables); `visualTokens` per item. */
export function parallelTable(rows: readonly ParallelRow[], visualTokens: number): string[] {
  const MB = 1024 * 1024;
  const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  const perRank = (xs: number[], d: number, unit: number) => xs.map((x) => f(x / unit, d)).join(' / ');
  const one = (K: number) => rows.find((r) => r.option.ranks === 1 && r.option.batch === K);
  const lines = [
    '| option | what it does | ranks | global batch | GPU first step s | GPU s/step | GPU visual tok/s | loss step 1 / 2 | rel diff to 1 rank, same batch | peak MiB per rank | resident MiB per rank | sent KiB per rank in step 2 |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const o = r.option;
    const ref = o.ranks > 1 ? one(o.batch) : undefined;
    const rel = ref ? Math.max(...r.losses.map((l, i) => Math.abs(l - ref.losses[i]!) / Math.max(Math.abs(ref.losses[i]!), 1e-30))).toExponential(1) : '–';
    lines.push(`| ${o.name} | ${o.describe} | ${o.ranks}${o.sp > 1 ? ` (SP ${o.sp})` : ''} | ${o.batch} | ${f(r.firstS, 2)} | ${f(r.bestS, 3)} | ${f((o.batch * visualTokens) / r.bestS, 0)} | ${r.losses.map((l) => f(l, 5)).join(' / ')} | ${rel} | ${perRank(r.peakBytes, 1, MB)} | ${perRank(r.residentBytes, 1, MB)} | ${perRank(r.sentBytes, 0, 1024)} |`);
  }
  return lines;
}
