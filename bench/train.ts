// `npm run bench:train`: one flow-matching training step of the Vchitect transformer (engine/train/train-step.ts
// trainStep: forward, backward, clipped AdamW, EMA) on the GPU against PyTorch CPU training the same model with the
// same weights, items and (sigma, eps) draws (bench/torch_vchitect_grad.py --train): seconds per step, visual tokens/s,
// the first two steps' losses side by side; GFLOP/s of the analytic step FLOPs (bench/train-flops.ts) against the
// adapter's measured FMA peak (bench/peak.ts); peak GPU memory per memory option; the longest trainable sequence under
// a memory cap per option (a bounded search over latent frames: bench/train-search.ts) and for sequence-parallel rows
// (SP 2, recompute + offload + SP 2 and SP 4: the cap on every rank's peak, in-process ranks through
// DistributedTrainer { sp }: openSpRanks of bench/train-rank-memory.ts), beside LiteGen's A100 numbers; the parallel rows
// (bench/train-parallel-rows.ts: DP 2, ZeRO 1/2/3 on 2 ranks, SP 2, in-process ranks) with step time and per-rank
// peak memory. Writes the Benchmarks section of docs/training.md unless --no-write; `npm run bench:train -- --help`
// lists the options.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint, type TinyCheckpointOptions } from '../engine/io/make-tiny.js';
import { SeededRandom } from '../engine/io/tiny-random.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { Tensor } from '../engine/tensor.js';
import { drawSigmaNoise, TrainState, trainStep, type TrainBatch, type TrainStepOptions } from '../engine/train/train-step.js';
import type { ModelShape } from '../engine/train/vchitect-backward.js';
import { parseBenchArgs, runSetup } from './cli.js';
import { measureParallel, PARALLEL_OPTIONS, parallelTable, type ParallelRow } from './train-parallel-rows.js';
import { measurePeaks } from './peak.js';
import { defaultTorchThreads } from './peers.js';
import { median } from './timing.js';
import { startTorchTrain, type HostDraw, type HostItem, type TorchTrainPeer } from './torch-train-peer.js';
import { trainStepFlops, type TrainShape } from './train-flops.js';
import { deviceParams, openSpRanks, type TinyTransformer } from './train-rank-memory.js';
import { searchLongest, spRowSplit, type Probe } from './train-search.js';

interface TrainConfig {
  name: string;
  describe: string;
  transformer: NonNullable<TinyCheckpointOptions['transformer']>;
  frames: number;
  hl: number;
  wl: number;
  textTokens: number;
  batches: number[];
}

const CONFIGS: Record<string, TrainConfig> = {
  small: {
    name: 'small', describe: 'D=32 (2 heads x 16), 4 layers, 4 frames of 8x8 latents',
    transformer: { num_layers: 4, num_attention_heads: 2, attention_head_dim: 16 }, frames: 4, hl: 8, wl: 8, textTokens: 32, batches: [1],
  },
  base: {
    name: 'base', describe: 'D=64 (4 heads x 16), 6 layers, 8 frames of 8x8 latents',
    transformer: { num_layers: 6, num_attention_heads: 4, attention_head_dim: 16 }, frames: 8, hl: 8, wl: 8, textTokens: 32, batches: [1, 4],
  },
  large: {
    name: 'large', describe: 'D=128 (4 heads x 32), 6 layers, 8 frames of 16x16 latents',
    transformer: { num_layers: 6, num_attention_heads: 4, attention_head_dim: 32 }, frames: 8, hl: 16, wl: 16, textTokens: 32, batches: [1],
  },
};

/**
 * trainStep's memory options (engine/train/memory-plan.ts), one line each: the peak-memory table runs every entry and
 * the longest-sequence search every entry without `search: false` (the first, 'none', is also the step table's
 * setting). Recompute ratios are LiteGen's (the share of blocks that keep their activations), offload the share of
 * the checkpointed blocks whose kept input waits in host memory.
 */
interface MemoryOption { name: string; describe: string; opts: Partial<TrainStepOptions>; search?: false }
const MEMORY_OPTIONS: MemoryOption[] = [
  { name: 'none', describe: 'every block keeps its activations for the backward', opts: {} },
  { name: 'recompute 0.5', describe: "LiteGen's ratio 0.5: blocks 1, 3, 5 (of 6) keep only their input and rerun their forward in the backward", opts: { recompute: 0.5 }, search: false },
  { name: 'recompute', describe: 'ratio 0: every block keeps only its input and reruns its forward in the backward', opts: { recompute: 0 } },
  { name: 'recompute + offload', describe: 'ratio 0, offload 1: every kept block input waits in host memory until its backward', opts: { recompute: 0, offload: 1 } },
];

/**
 * The sequence-parallel rows of the longest-sequence search: a memory option of MEMORY_OPTIONS on an SP group of `sp`
 * in-process ranks (one device each on this adapter), the cap on every rank's peak.
 */
interface SpSearchOption { name: string; option: string; sp: number }
const SP_SEARCH: SpSearchOption[] = [
  { name: 'SP 2', option: 'none', sp: 2 },
  { name: 'recompute + offload + SP 2', option: 'recompute + offload', sp: 2 },
  { name: 'recompute + offload + SP 4', option: 'recompute + offload', sp: 4 },
];

/**
 * LiteGen's longest trainable sequence on A100 80 GB (Vchitect-2.0 paper, section V), by our row names. Their
 * sequence-parallel row is SP 8 on 8 GPUs; our largest SP row (SP 4) stands beside it, the SP sizes named.
 */
const LITEGEN = [
  { ours: 'none', theirs: '1 GPU, no offload', tokens: 0.19e6 },
  { ours: 'recompute + offload', theirs: '1 GPU, with offload', tokens: 0.27e6 },
  { ours: 'recompute + offload + SP 4', theirs: '8 GPUs: SP 8 + offload, not SP 4', tokens: 1.63e6 },
];

const SEED = 1234;
const SIGMA = { sampling: 'logit_normal', shift: 3 } as const;
const LR = 1e-4;
const WEIGHT_DECAY = 1e-4;
const CLIP = 1;
const MB = 1024 * 1024;

const args = parseBenchArgs({
  command: 'npm run bench:train --',
  summary: `One training step of the Vchitect transformer (forward, MSE flow-matching loss, backward, clipped AdamW, EMA)
on the GPU next to PyTorch CPU training the same model, weights, items and (sigma, eps) draws
(bench/torch_vchitect_grad.py --train); peak GPU memory per memory option; the longest trainable sequence
(latent frames of 8x8) under a memory cap, per memory option on one rank and for the sequence-parallel rows
${SP_SEARCH.map((o) => o.name).join(', ')}
(in-process ranks, one device each, the cap on every rank's peak); the parallel rows (DP 2, ZeRO 1/2/3 and SP 2 on
2 in-process ranks, on config base, or the first config given when base is not among them). Configs: ${Object.values(CONFIGS).map((c) => `${c.name} = ${c.describe}, batch ${c.batches.join(' and ')}`).join('; ')}; ${CONFIGS.base!.textTokens} text tokens.
Writes its tables into docs/training.md unless --no-write (or --only).`,
  options: {
    config: { type: 'string', value: 'LIST', help: `comma-separated configs from ${Object.keys(CONFIGS).join(', ')} (default all)` },
    only: { type: 'string', value: 'LIST', help: 'same as --config, and implies --no-write' },
    batch: { type: 'string', value: 'LIST', help: 'batch sizes for every config (default: each config\'s own)' },
    options: { type: 'string', value: 'LIST', help: `memory options to measure, from ${MEMORY_OPTIONS.map((o) => o.name).join(', ')} (default all)` },
    cap: { type: 'string', value: 'MIB', help: 'GPU memory cap of the longest-sequence search, MiB of live buffers (per rank for the SP rows; default 64)' },
    probes: { type: 'string', value: 'N', help: 'at most N probes per option after the two small ones that give the line (default 4)' },
    'no-search': { type: 'boolean', help: 'skip the longest-sequence search (one-rank and SP rows)' },
    'sp-search': { type: 'string', value: 'LIST', help: `SP rows of the longest-sequence search, from ${SP_SEARCH.map((o) => o.name).join(', ')} (default all; independent of --options)` },
    'no-sp-search': { type: 'boolean', help: 'skip the SP rows of the longest-sequence search' },
    parallel: { type: 'string', value: 'LIST', help: `parallel rows to measure, from ${PARALLEL_OPTIONS.map((o) => o.key).join(', ')} (default all)` },
    'parallel-steps': { type: 'string', value: 'N', help: 'timed steps per parallel row after its 2 measured ones (default 3)' },
    'no-parallel': { type: 'boolean', help: 'skip the parallel rows' },
    'torch-threads': { type: 'string', value: 'N', help: 'PyTorch threads (default: the CPUs this process may use)' },
    'no-torch': { type: 'boolean', help: 'skip the PyTorch peer' },
    'no-write': { type: 'boolean', help: 'print the tables only; do not touch docs/training.md' },
  },
});
const flag = args.flag;
const configNames = args.list('only') ?? args.list('config') ?? Object.keys(CONFIGS);
for (const c of configNames) {
  if (!CONFIGS[c]) {
    console.error(`bench:train: --config ${c}: unknown config (choose from ${Object.keys(CONFIGS).join(', ')})`);
    process.exit(2);
  }
}
const optionNames = args.list('options') ?? MEMORY_OPTIONS.map((o) => o.name);
for (const n of optionNames) {
  if (!MEMORY_OPTIONS.some((o) => o.name === n)) {
    console.error(`bench:train: --options ${n}: unknown memory option (choose from ${MEMORY_OPTIONS.map((o) => o.name).join(', ')})`);
    process.exit(2);
  }
}
const options = MEMORY_OPTIONS.filter((o) => optionNames.includes(o.name));
const spSearchNames = flag('no-sp-search') || flag('no-search') ? [] : args.list('sp-search') ?? SP_SEARCH.map((o) => o.name);
for (const n of spSearchNames) {
  if (!SP_SEARCH.some((o) => o.name === n)) {
    console.error(`bench:train: --sp-search ${n}: unknown SP row (choose from ${SP_SEARCH.map((o) => o.name).join(', ')})`);
    process.exit(2);
  }
}
const spSearches = SP_SEARCH.filter((o) => spSearchNames.includes(o.name));
try {
  // The base config's layout (make-tiny's patch 2), checked before any device work.
  const b = CONFIGS.base!;
  for (const o of spSearches) spRowSplit(o.sp, b.transformer.num_attention_heads!, b.hl, b.wl, 2, b.textTokens);
} catch (e) {
  console.error(`bench:train: --sp-search: ${(e as Error).message}`);
  process.exit(2);
}
const userBatches = args.list('batch')?.map(Number);
if (userBatches?.some((k) => !Number.isInteger(k) || k < 1)) {
  console.error(`bench:train: --batch ${args.str('batch')}: expected positive integers`);
  process.exit(2);
}
const parallelKeys = flag('no-parallel') ? [] : args.list('parallel') ?? PARALLEL_OPTIONS.map((o) => o.key);
for (const k of parallelKeys) {
  if (!PARALLEL_OPTIONS.some((o) => o.key === k)) {
    console.error(`bench:train: --parallel ${k}: unknown parallel row (choose from ${PARALLEL_OPTIONS.map((o) => o.key).join(', ')})`);
    process.exit(2);
  }
}
const parallelOptions = PARALLEL_OPTIONS.filter((o) => parallelKeys.includes(o.key));
const parallelSteps = args.num('parallel-steps', 3);
if (!Number.isInteger(parallelSteps) || parallelSteps < 0) {
  console.error('bench:train: --parallel-steps must be an integer >= 0');
  process.exit(2);
}
const capMiB = args.num('cap', 64);
const maxProbes = args.num('probes', 4);
if (!(capMiB > 0) || !Number.isInteger(maxProbes) || maxProbes < 1) {
  console.error('bench:train: --cap must be > 0 MiB and --probes a positive integer');
  process.exit(2);
}
const torchThreads = args.num('torch-threads', defaultTorchThreads());
const useTorch = !flag('no-torch');
const noWrite = flag('no-write') || args.list('only') !== undefined;
runSetup(useTorch ? ['--torch'] : []);

const loadStart = os.loadavg()[0]!;
const benchStart = performance.now();
const device = await Device.create({ label: 'bench-train' });
const a = device.adapter;
const cpuModel = `${os.cpus()[0]?.model} x${os.cpus().length}`;
console.log(`Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${cpuModel}`);
const peaks = await measurePeaks(device);
console.log(`Adapter peak: ${peaks.gflops.toFixed(1)} GFLOP/s f32 FMA, ${peaks.gbps.toFixed(1)} GB/s copy`);

/** A written checkpoint's transformer, read back to the host once (fresh GPU parameters per measurement). */
interface Model {
  cfg: TrainConfig;
  dir: string;
  host: Map<string, { shape: number[]; data: Float32Array }>;
  shape: ModelShape;
  channels: number;
  jointDim: number;
  pooledDim: number;
  ffInner: number;
  D: number;
}

async function loadModel(cfg: TrainConfig): Promise<Model> {
  const dir = await mkdtemp(join(os.tmpdir(), `parallax-bench-train-${cfg.name}-`));
  await makeTinyCheckpoint(dir, { transformer: cfg.transformer });
  const ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  const host = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const k of store.keys()) host.set(k, { shape: [...store.info(k).shape], data: await store.readFloat32(k) });
  const c = ckpt.transformer.config as unknown as Record<string, number>;
  await ckpt.close();
  const ff = host.get('transformer_blocks.0.ff.net.0.proj.weight')!.shape;
  return {
    cfg, dir, host, channels: c.in_channels!, jointDim: c.joint_attention_dim!, pooledDim: c.pooled_projection_dim!, ffInner: ff[0]!, D: ff[1]!,
    shape: { numLayers: c.num_layers!, heads: c.num_attention_heads!, patchSize: c.patch_size ?? 2, eps: LN_EPS },
  };
}

function freshParams(m: Model): Map<string, Tensor> {
  return deviceParams(m.host, device);
}

function hostItems(m: Model, K: number, frames: number): HostItem[] {
  const { hl, wl, textTokens: T } = m.cfg;
  const rng = new SeededRandom(1000 * K + frames);
  return Array.from({ length: K }, () => ({
    x0: { shape: [1, frames, m.channels, hl, wl], data: rng.normals(frames * m.channels * hl * wl) },
    context: { shape: [1, T, m.jointDim], data: rng.normals(T * m.jointDim) },
    pooled: { shape: [1, m.pooledDim], data: rng.normals(m.pooledDim) },
  }));
}

const toGpu = (it: HostItem): TrainBatch => ({
  x0: Tensor.from(device, it.x0.data, it.x0.shape, 'f32', 'x0'),
  context: Tensor.from(device, it.context.data, it.context.shape, 'f32', 'context'),
  pooled: Tensor.from(device, it.pooled.data, it.pooled.shape, 'f32', 'pooled'),
});
const disposeBatch = (b: TrainBatch[]) => b.forEach((t) => { t.x0.dispose(); t.context.dispose(); t.pooled.dispose(); });

const flopShape = (m: Model, frames: number): TrainShape => ({
  D: m.D, layers: m.shape.numLayers, ffInner: m.ffInner, channels: m.channels, patch: m.shape.patchSize, jointDim: m.jointDim,
  pooledDim: m.pooledDim, frames, hl: m.cfg.hl, wl: m.cfg.wl, textTokens: m.cfg.textTokens,
});
const visualTokens = (m: Model, frames: number) => frames * (m.cfg.hl / m.shape.patchSize) * (m.cfg.wl / m.shape.patchSize);

interface StepRow {
  config: string;
  option: string;
  K: number;
  frames: number;
  firstS: number;
  bestS: number;
  medianS: number;
  runs: number[];
  peakMiB: number;
  residentMiB: number;
  losses: number[];
  torch: { bestS: number; medianS: number; runs: number[]; losses: number[]; norms: number[] } | null;
  norms: number[];
  flops: number;
}

let torchDescribe: string | undefined;
let torchPeakGflops: number | undefined;
let torchNote: string | undefined;

/**
 * Fresh parameters and state, then: step 1 (compiles the pipelines; its time is the first-step column), step 2 with
 * the peak measured (every live buffer: parameters, Adam m and v, EMA, the items and the step's activations), then
 * warm steps alternated round by round with PyTorch's (3 to 5 rounds, stopping after `budgetS` once 3 are done).
 * PyTorch runs the same items and the same draws for its steps 1 and 2, so the two losses compare like for like.
 */
async function measureStep(m: Model, K: number, opt: MemoryOption, withTorch: boolean, budgetS = 15): Promise<StepRow> {
  const F = m.cfg.frames;
  const host = hostItems(m, K, F);
  const n = host[0]!.x0.data.length;
  const stepOpts: TrainStepOptions = { seed: SEED, lr: LR, sigma: SIGMA, adamw: { weightDecay: WEIGHT_DECAY }, clip: CLIP, emaDecay: {}, ...opt.opts };
  // Steps 1 and 2 draw index d K + i for item i (train-step.ts); PyTorch gets exactly these.
  const draws: HostDraw[][] = [1, 2].map((d) => host.map((_, i) => drawSigmaNoise(SEED, d * K + i, n, SIGMA)));
  let tp: TorchTrainPeer | null = null;
  if (withTorch) {
    const r = await startTorchTrain(join(m.dir, 'transformer'), m.dir, host, draws, { lr: LR, weightDecay: WEIGHT_DECAY, clip: CLIP, threads: torchThreads });
    if ('error' in r) { torchNote = r.error; console.log(`  torch: ${r.error}`); } else { tp = r; torchDescribe = r.describe; torchPeakGflops = r.peakGflops; }
  }
  const params = freshParams(m);
  const state = new TrainState(params, { ema: true });
  const items = host.map(toGpu);
  const step = async () => {
    const t0 = performance.now();
    const r = await trainStep(state, params, m.shape, items, stepOpts);
    return { s: (performance.now() - t0) / 1000, loss: r.loss, norm: r.gradNorm };
  };
  try {
    const s1 = await step();
    const t1 = tp ? await tp.step() : null;
    const resident = device.pool.stats.liveBytes;
    device.pool.resetPeak();
    const s2 = await step();
    const peak = device.pool.stats.peakBytes;
    const t2 = tp ? await tp.step() : null;
    const runs: number[] = [];
    const truns: number[] = [];
    const start = performance.now();
    while (runs.length < 5 && (runs.length < 3 || (performance.now() - start) / 1000 < budgetS)) {
      runs.push((await step()).s);
      if (tp) truns.push((await tp.step()).s);
      console.log(`  round ${runs.length}: GPU ${runs.at(-1)!.toFixed(3)} s${tp ? `, PyTorch ${truns.at(-1)!.toFixed(3)} s` : ''} (load ${os.loadavg()[0]!.toFixed(1)})`);
    }
    const row: StepRow = {
      config: m.cfg.name, option: opt.name, K, frames: F, firstS: s1.s, bestS: Math.min(...runs), medianS: median(runs), runs,
      peakMiB: peak / MB, residentMiB: resident / MB, losses: [s1.loss, s2.loss], norms: [s1.norm, s2.norm],
      torch: tp ? { bestS: Math.min(...truns), medianS: median(truns), runs: truns, losses: [t1!.loss, t2!.loss], norms: [t1!.grad_norm, t2!.grad_norm] } : null,
      flops: K * trainStepFlops(flopShape(m, F)).total,
    };
    console.log(`  ${m.cfg.name} batch ${K} [${opt.name}]: GPU ${row.bestS.toFixed(3)} s/step (first ${row.firstS.toFixed(2)} s), peak ${row.peakMiB.toFixed(1)} MiB, loss ${row.losses.map((l) => l.toFixed(5)).join(', ')}` +
      (row.torch ? `; PyTorch ${row.torch.bestS.toFixed(3)} s/step, loss ${row.torch.losses.map((l) => l.toFixed(5)).join(', ')}` : ''));
    return row;
  } finally {
    tp?.close();
    disposeBatch(items);
    state.dispose();
    for (const t of params.values()) t.dispose();
  }
}

interface SearchResult { option: string; sp: number; fits: Probe | null; over: Probe | null; probes: Probe[]; seconds: number }

/**
 * The most latent frames (8x8, the base config's model) whose training step stays under `capMiB` of live GPU buffers:
 * searchLongest (bench/train-search.ts: two small probes, 8 and 16 frames, give the line, then at most `maxProbes`
 * probes). Every probe is one whole trainStep (forward + backward + update) with its peak measured; the state persists
 * from probe to probe, as in a training run.
 */
async function searchFrames(m: Model, opt: MemoryOption): Promise<SearchResult> {
  const t0 = performance.now();
  const params = freshParams(m);
  const state = new TrainState(params, { ema: true });
  const probe = async (frames: number): Promise<Probe> => {
    const [it] = hostItems(m, 1, frames);
    const items = [toGpu(it!)];
    device.pool.resetPeak();
    const s0 = performance.now();
    try {
      await trainStep(state, params, m.shape, items, { seed: SEED, lr: LR, sigma: SIGMA, clip: CLIP, emaDecay: {}, ...opt.opts });
    } finally {
      disposeBatch(items);
    }
    const p = { frames, peakMiB: device.pool.stats.peakBytes / MB, s: (performance.now() - s0) / 1000 };
    console.log(`  [${opt.name}] ${frames} frames: peak ${p.peakMiB.toFixed(1)} MiB${p.peakMiB <= capMiB ? '' : ' (over the cap)'}, ${p.s.toFixed(1)} s`);
    return p;
  };
  try {
    const r = await searchLongest(probe, { capMiB, maxProbes });
    return { option: opt.name, sp: 1, ...r, seconds: (performance.now() - t0) / 1000 };
  } finally {
    state.dispose();
    for (const t of params.values()) t.dispose();
  }
}

/**
 * The same search for an SP row: `o.sp` in-process ranks (devices[0..sp-1], one each) train one item through
 * DistributedTrainer { sp } (openSpRanks of bench/train-rank-memory.ts; the trainers persist from probe to probe),
 * every probe one step with every rank's peak measured, and the cap applies to the largest rank's peak. The SP split
 * is over each frame's visual rows and the text rows (spRowSplit), never the frames, so every frame count is valid.
 */
async function searchSp(m: Model, o: SpSearchOption, devices: readonly Device[]): Promise<SearchResult> {
  const t0 = performance.now();
  const opt = MEMORY_OPTIONS.find((x) => x.name === o.option)!;
  if (m.cfg.hl !== m.cfg.wl) throw new Error(`bench:train SP search: square latents only (${m.cfg.hl}x${m.cfg.wl})`);
  const split = spRowSplit(o.sp, m.shape.heads, m.cfg.hl, m.cfg.wl, m.shape.patchSize, m.cfg.textTokens);
  console.log(`  [${o.name}] ${o.sp} ranks, ${split.exchange}: ${split.visualPerRank} visual rows of each frame and ${split.textPerRank} text rows per rank`);
  const tiny: TinyTransformer = {
    host: m.host, shape: m.shape, C: m.channels, J: m.jointDim, P: m.pooledDim, nParams: [...m.host.values()].reduce((n, h) => n + h.data.length, 0),
  };
  const ranks = await openSpRanks(tiny, devices, o.sp);
  const probe = async (frames: number): Promise<Probe> => {
    const s0 = performance.now();
    const peaks = await ranks.step({ F: frames, S: m.cfg.hl, Tn: m.cfg.textTokens, seed: 100 + frames }, { seed: SEED, lr: LR, sigma: SIGMA, clip: CLIP, emaDecay: {}, ...opt.opts });
    const rankPeaksMiB = peaks.map((b) => b / MB);
    const p = { frames, peakMiB: Math.max(...rankPeaksMiB), s: (performance.now() - s0) / 1000, rankPeaksMiB };
    console.log(`  [${o.name}] ${frames} frames: peak ${rankPeaksMiB.map((x) => x.toFixed(1)).join(' / ')} MiB per rank${p.peakMiB <= capMiB ? '' : ' (over the cap)'}, ${p.s.toFixed(1)} s`);
    return p;
  };
  try {
    const r = await searchLongest(probe, { capMiB, maxProbes });
    return { option: o.name, sp: o.sp, ...r, seconds: (performance.now() - t0) / 1000 };
  } finally {
    ranks.dispose();
  }
}

const rows: StepRow[] = [];
const optionRows: StepRow[] = [];
const searches: SearchResult[] = [];
const parallelRows: ParallelRow[] = [];
let parallelModel: Model | null = null;
let searchModel: Model | null = null;
const models: Model[] = [];
try {
  for (const cname of configNames) {
    const cfg = CONFIGS[cname]!;
    console.log(`\n[${cname}] ${cfg.describe}, ${cfg.textTokens} text tokens`);
    const m = await loadModel(cfg);
    models.push(m);
    const none = MEMORY_OPTIONS[0]!;
    for (const K of userBatches ?? cfg.batches) rows.push(await measureStep(m, K, none, useTorch));
    if (cname === 'base') {
      searchModel = m;
      for (const opt of options) {
        const base = rows.find((r) => r.config === 'base' && r.K === 1 && r.option === opt.name);
        optionRows.push(base ?? await measureStep(m, 1, opt, false));
      }
    }
  }
  if (parallelOptions.length) {
    // config base when measured above, else the first config given
    const m = models.find((x) => x.cfg.name === 'base') ?? models[0]!;
    parallelModel = m;
    const ranks = await Device.createMany(Math.max(...parallelOptions.map((o) => o.ranks)), { label: 'bench-train-rank' });
    console.log(`\nParallel rows (${m.cfg.name}: ${m.cfg.describe}; in-process transport, ${ranks.length} devices on this adapter)`);
    try {
      const input = {
        host: m.host, shape: m.shape, items: hostItems(m, Math.max(...parallelOptions.map((o) => o.batch)), m.cfg.frames), steps: parallelSteps, devices: ranks,
        stepOpts: { seed: SEED, lr: LR, sigma: SIGMA, adamw: { weightDecay: WEIGHT_DECAY }, clip: CLIP, emaDecay: {} } satisfies TrainStepOptions,
      };
      for (const opt of parallelOptions) {
        const r = await measureParallel(opt, input);
        parallelRows.push(r);
        console.log(`  ${opt.name} (${opt.key}), batch ${opt.batch}: ${r.bestS.toFixed(3)} s/step (first ${r.firstS.toFixed(2)} s), peak ${r.peakBytes.map((b) => (b / MB).toFixed(1)).join(' / ')} MiB per rank, loss ${r.losses.map((l) => l.toFixed(5)).join(', ')} (load ${os.loadavg()[0]!.toFixed(1)})`);
      }
    } finally {
      ranks.forEach((d) => d.destroy());
    }
  }
  if (!flag('no-search')) {
    const m = searchModel ?? await loadModel(CONFIGS.base!);
    if (!searchModel) models.push(m);
    console.log(`\nLongest sequence under ${capMiB} MiB (${CONFIGS.base!.describe.split(', ').slice(0, 2).join(', ')}; frames of 8x8 latents)`);
    for (const opt of options.filter((o) => o.search !== false)) searches.push(await searchFrames(m, opt));
    if (spSearches.length) {
      const ranks = await Device.createMany(Math.max(...spSearches.map((o) => o.sp)), { label: 'bench-train-sp-search' });
      console.log(`SP rows: in-process transport, ${ranks.length} devices on this adapter; the cap applies to every rank's peak`);
      try {
        for (const o of spSearches) searches.push(await searchSp(m, o, ranks));
      } finally {
        ranks.forEach((d) => d.destroy());
      }
    }
  }
} finally {
  for (const m of models) await rm(m.dir, { recursive: true, force: true });
}

const benchS = (performance.now() - benchStart) / 1000;
const f = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const tok = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));
const relDiff = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), 1e-30);
const modelOf = (name: string) => models.find((m) => m.cfg.name === name)!;
const shownArgs = args.argv.filter((x) => x !== '--no-write').map((x) => (/[\s"'$`]/.test(x) ? `'${x.replaceAll("'", "'\\''")}'` : x));
const lines: string[] = [];
lines.push(`Command: \`npm run bench:train${shownArgs.length ? ` -- ${shownArgs.join(' ')}` : ''}\` — ${new Date().toISOString().slice(0, 10)}, ${benchS.toFixed(0)} s in all`);
lines.push('');
lines.push(`Adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend}), measured peak ${peaks.gflops.toFixed(1)} GFLOP/s f32 FMA and ${peaks.gbps.toFixed(1)} GB/s copy (bench/peak.ts). CPU: ${cpuModel}. 1-min load average ${loadStart.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end (other processes share the CPU; on a CPU adapter both columns are sensitive to it).`);
lines.push(`Model: make-tiny checkpoints (seeded random f32 weights), transformer overrides per config: ${configNames.map((c) => `**${c}** = ${CONFIGS[c]!.describe}`).join('; ')}; ${CONFIGS.base!.textTokens} text tokens (context [1, T, ${models[0]?.jointDim ?? 96}] made directly, no text encoder). Step: \`trainStep\` (engine/train/train-step.ts) with logit-normal sigma (shift 3), lr ${LR}, AdamW betas (0.9, 0.999), eps 1e-8, weight decay ${WEIGHT_DECAY} (matrices only), global-norm clip ${CLIP}, EMA (diffusers decay); a batch of K items is K forward/backward passes with their gradients averaged.`);
lines.push(`PyTorch peer: ${torchDescribe ? `${torchDescribe}; CPU float32, \`bench/torch_vchitect_grad.py --train\` (the spec's transformer of bench/torch_vchitect.py, written independently): forward, MSE loss, autograd backward per item, clip_grad_norm_, torch.optim.AdamW with the same hyperparameters and decay groups, EMA; same weights, items and, for steps 1 and 2, the same sigma and eps as ours (later steps repeat those two draws)` : `(${torchNote ?? 'disabled (--no-torch)'})`}.`);
lines.push('s/step: best wall time of 3-5 warm steps (GPU: submit to the loss/norm readback), alternated GPU / PyTorch round by round. Tokens/s counts the visual tokens F (h/2) (w/2) of every item (text tokens are stated, not counted). GFLOP/step: the analytic count of bench/train-flops.ts (linears 2 flops per multiply-add, attention 4 Sq Sk D; backward = 2x the linears + 2.5x the attentions; norms, elementwise ops and the optimizer not counted). % peak: achieved GFLOP/s over the adapter\'s measured FMA peak (GPU) or the CPU\'s theoretical AVX2 FMA peak (PyTorch). Peak MiB: device.pool.stats.peakBytes over step 2 (every live GPU buffer: parameters, Adam m and v, EMA weights, the items and the activations); resident MiB: what is live before the step.');
lines.push('');
lines.push('| config | batch | latent FxHxW | tokens per item: visual (+ text) | GFLOP/step | GPU first step s | GPU s/step | GPU visual tok/s | GPU GFLOP/s (% peak) | PyTorch CPU s/step | PyTorch tok/s | PyTorch GFLOP/s (% peak) | PyTorch / GPU | loss step 1: GPU / PyTorch (rel diff) | loss step 2 rel diff | peak MiB | resident MiB |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const m = modelOf(r.config);
  const vt = visualTokens(m, r.frames);
  const gf = r.flops / r.bestS / 1e9;
  const t = r.torch;
  const tgf = t ? r.flops / t.bestS / 1e9 : undefined;
  lines.push(`| ${r.config} | ${r.K} | ${r.frames}x${m.cfg.hl}x${m.cfg.wl} | ${vt} (+ ${m.cfg.textTokens}) | ${f(r.flops / 1e9, 2)} | ${f(r.firstS, 2)} | ${f(r.bestS)} | ${f((r.K * vt) / r.bestS, 0)} | ${f(gf, 2)} (${f((100 * gf) / peaks.gflops, 1)}%) | ` +
    (t ? `${f(t.bestS)} | ${f((r.K * vt) / t.bestS, 0)} | ${f(tgf, 2)}${torchPeakGflops ? ` (${f((100 * tgf!) / torchPeakGflops, 1)}%)` : ''} | ${f(t.bestS / r.bestS, 2)}x | ${f(r.losses[0], 5)} / ${f(t.losses[0], 5)} (${relDiff(r.losses[0]!, t.losses[0]!).toExponential(1)}) | ${relDiff(r.losses[1]!, t.losses[1]!).toExponential(1)} | `
      : '– | – | – | – | – | – | ') +
    `${f(r.peakMiB, 1)} | ${f(r.residentMiB, 1)} |`);
}
lines.push('');
if (optionRows.length) {
  lines.push(`Peak GPU memory per memory option (config base, batch 1, ${CONFIGS.base!.frames} frames of 8x8):`);
  lines.push('');
  lines.push('| option | what it does | GPU s/step | peak MiB | activations MiB (peak - resident) |');
  lines.push('|---|---|---|---|---|');
  for (const r of optionRows) {
    const o = MEMORY_OPTIONS.find((x) => x.name === r.option)!;
    lines.push(`| ${o.name} | ${o.describe} | ${f(r.bestS)} | ${f(r.peakMiB, 1)} | ${f(r.peakMiB - r.residentMiB, 1)} |`);
  }
  lines.push('');
}
if (parallelRows.length && parallelModel) {
  const m = parallelModel;
  lines.push(`Parallel training (config ${m.cfg.name}: ${m.cfg.describe}; ${m.cfg.textTokens} text tokens; the step and hyperparameters above, through \`DistributedTrainer\` of engine/train/distributed-step.ts): the ranks run in this one process over the **in-process transport**, one device each on the same adapter, so on a CPU adapter they share the same cores and s/step shows the cost of the parallel path, not a speedup. s/step: best of ${parallelSteps} timed step${parallelSteps === 1 ? '' : 's'} after 2 measured ones (a step's time is its slowest rank's); tokens/s counts the global batch's visual tokens. Per rank: peak MiB over step 2 and resident MiB after step 1 (above what the rank's device held before: parameters or their shard, Adam m and v, EMA, the items, the step's activations; the pool's size classes), and the collective bytes sent in step 2. The DP and ZeRO rows train the same two items as the one-rank row of batch 2 with the same draws, SP 2 the item of the one-rank row of batch 1, so their losses match those rows up to float rounding (the relative difference is shown).`);
  lines.push('');
  lines.push(...parallelTable(parallelRows, visualTokens(m, m.cfg.frames)));
  lines.push('');
}
if (searches.length && searchModel) {
  const m = searchModel;
  const L = visualTokens(m, 1);
  const spRows = searches.filter((x) => x.sp > 1);
  lines.push(`Longest trainable sequence under a ${capMiB} MiB cap of live GPU buffers (config base's model; latent frames of 8x8 = ${L} visual tokens each, plus ${m.cfg.textTokens} text tokens broadcast to every frame): two probes (8 and 16 frames) give the peak's slope in frames, then at most ${maxProbes} probes: the line's estimate, a step past it until the cap is bracketed, then bisection (the peak climbs in stairs of a few frames: the buffer pool's size classes); every probe is one whole training step with its peak measured (bench/train-search.ts).` +
    (spRows.length ? ` The SP rows run the step through \`DistributedTrainer\` { sp } on SP ${[...new Set(spRows.map((x) => x.sp))].join(' and ')} ranks in this process (in-process transport, one device each on this adapter), and the cap applies to every rank's own peak (the largest is shown, each rank's in parentheses), as if each rank had its own ${capMiB} MiB device: SP splits each frame's ${L} visual rows and the ${m.cfg.textTokens} text rows of the blocks over the ranks, while the parameters, Adam m and v, the EMA, the item, the embeddings and the final layer (on the all-gathered rows) stay whole on every rank, so a rank's peak falls slower than 1/SP. "x one rank": the frames over those of the one-rank row of the same memory option.` : '') +
    " LiteGen's numbers are theirs (Vchitect-2.0 on A100 80 GB, the real 2B model), not measured here; their sequence-parallel row is SP 8 on 8 GPUs, beside our largest SP row.");
  lines.push('');
  lines.push('| option | ranks | most frames that fit | visual tokens | peak MiB there (per rank) | least frames measured over the cap | x one rank | probes (s) | LiteGen (A100 80 GB) |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  const shown = new Set<string>();
  const liteGen = (lg: (typeof LITEGEN)[number]) => {
    const ref = LITEGEN.find((x) => x.ours === 'recompute + offload');
    const gain = lg.theirs.includes('SP') && ref ? `; ${f(lg.tokens / ref.tokens, 1)}x their 1-GPU offload row` : '';
    return `${(lg.tokens / 1e6).toFixed(2)} M tokens (${lg.theirs}${gain})`;
  };
  for (const s of searches) {
    const lg = LITEGEN.find((x) => x.ours === s.option);
    if (lg) shown.add(lg.ours);
    const spOpt = SP_SEARCH.find((x) => x.name === s.option);
    const one = spOpt ? searches.find((x) => x.sp === 1 && x.option === spOpt.option) : undefined;
    const gain = one?.fits && s.fits ? `${f(s.fits.frames / one.fits.frames, 2)}x` : '–';
    const perRank = s.fits?.rankPeaksMiB ? ` (${s.fits.rankPeaksMiB.map((x) => f(x, 1)).join(' / ')})` : '';
    lines.push(`| ${s.option} | ${s.sp > 1 ? `${s.sp} (SP ${s.sp})` : '1'} | ${s.fits ? s.fits.frames : 'none'} | ${s.fits ? tok(s.fits.frames * L) : '–'} | ${s.fits ? `${f(s.fits.peakMiB, 1)}${perRank}` : '–'} | ${s.over ? `${s.over.frames} (${f(s.over.peakMiB, 1)} MiB)` : 'not reached'} | ${gain} | ${s.probes.length} (${f(s.seconds, 0)}) | ${lg ? liteGen(lg) : '–'} |`);
  }
  for (const lg of LITEGEN) if (!shown.has(lg.ours)) lines.push(`| ${lg.ours} | – | not searched (--options / --sp-search left it out) | – | – | – | – | – | ${liteGen(lg)} |`);
  lines.push('');
}
const table = lines.join('\n');
console.log(`\n${table}\n`);

if (noWrite && !flag('no-write')) console.log('--only: docs/training.md left as it is.');
if (!noWrite) {
  const path = new URL('../docs/training.md', import.meta.url);
  const start = '<!-- bench:train:start -->';
  const end = '<!-- bench:train:end -->';
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Training\n';
  const block = `${start}\n${table}\n${end}`;
  doc = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), () => block) : `${doc}\n## Benchmarks\n\n${block}\n`;
  writeFileSync(path, doc);
  console.log('Wrote docs/training.md');
}
device.destroy();
process.exit(0);
