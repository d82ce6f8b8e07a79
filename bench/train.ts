// `npm run bench:train`: one flow-matching training step of the Vchitect transformer (engine/train/train-step.ts
// trainStep: forward, backward, clipped AdamW, EMA) on the GPU against PyTorch CPU training the same model with the
// same weights, items and (sigma, eps) draws (bench/torch_vchitect_grad.py --train): seconds per step, visual tokens/s,
// the first two steps' losses side by side; GFLOP/s of the analytic step FLOPs (bench/train-flops.ts) against the
// adapter's measured FMA peak (bench/peak.ts); peak GPU memory per memory option; the longest trainable sequence under
// a memory cap per option (a bounded search over latent frames), beside LiteGen's A100 numbers. Writes the Benchmarks
// section of docs/training.md unless --no-write; `npm run bench:train -- --help` lists the options.

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
import { measurePeaks } from './peak.js';
import { defaultTorchThreads } from './peers.js';
import { median } from './timing.js';
import { startTorchTrain, type HostDraw, type HostItem, type TorchTrainPeer } from './torch-train-peer.js';
import { trainStepFlops, type TrainShape } from './train-flops.js';

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

/** LiteGen's longest trainable sequence on A100 80 GB (Vchitect-2.0 paper, section V), by our option names. */
const LITEGEN = [
  { ours: 'none', theirs: '1 GPU, no offload', tokens: 0.19e6 },
  { ours: 'recompute + offload', theirs: '1 GPU, with offload', tokens: 0.27e6 },
  { ours: 'recompute + offload + SP 8', theirs: '8 GPUs, sequence parallel + offload', tokens: 1.63e6 },
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
(latent frames of 8x8) under a memory cap. Configs: ${Object.values(CONFIGS).map((c) => `${c.name} = ${c.describe}, batch ${c.batches.join(' and ')}`).join('; ')}; ${CONFIGS.base!.textTokens} text tokens.
Writes its tables into docs/training.md unless --no-write (or --only).`,
  options: {
    config: { type: 'string', value: 'LIST', help: `comma-separated configs from ${Object.keys(CONFIGS).join(', ')} (default all)` },
    only: { type: 'string', value: 'LIST', help: 'same as --config, and implies --no-write' },
    batch: { type: 'string', value: 'LIST', help: 'batch sizes for every config (default: each config\'s own)' },
    options: { type: 'string', value: 'LIST', help: `memory options to measure, from ${MEMORY_OPTIONS.map((o) => o.name).join(', ')} (default all)` },
    cap: { type: 'string', value: 'MIB', help: 'GPU memory cap of the longest-sequence search, MiB of live buffers (default 64)' },
    probes: { type: 'string', value: 'N', help: 'at most N probes per option after the two small ones that give the line (default 4)' },
    'no-search': { type: 'boolean', help: 'skip the longest-sequence search' },
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
const userBatches = args.list('batch')?.map(Number);
if (userBatches?.some((k) => !Number.isInteger(k) || k < 1)) {
  console.error(`bench:train: --batch ${args.str('batch')}: expected positive integers`);
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
  return new Map([...m.host].map(([k, h]) => [k, Tensor.from(device, h.data, h.shape, 'f32', k)]));
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

interface Probe { frames: number; peakMiB: number; s: number }
interface SearchResult { option: string; fits: Probe | null; over: Probe | null; probes: Probe[]; seconds: number }

/**
 * The most latent frames (8x8, the base config's model) whose training step stays under `capMiB` of live GPU buffers.
 * Every probe is one whole trainStep (forward + backward + update) with its peak measured. The peak is close to a line
 * in frames but climbs in stairs (the pool's size classes move every large activation up together every few frames),
 * so: two small probes (8 and 16 frames) give the line's slope; the first probe is the line's estimate; while only one
 * side of the cap is known the next probe steps past it (by the line, at least 4% up or 8% down: one stair); once
 * both are known, bisection. At most `maxProbes` probes after the small ones, stopping when the bracket is within 2%.
 */
async function searchFrames(m: Model, opt: MemoryOption): Promise<SearchResult> {
  const t0 = performance.now();
  const params = freshParams(m);
  const state = new TrainState(params, { ema: true });
  const probes: Probe[] = [];
  const capBytes = capMiB * MB;
  const under = (p: Probe) => p.peakMiB * MB <= capBytes;
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
    probes.push(p);
    console.log(`  [${opt.name}] ${frames} frames: peak ${p.peakMiB.toFixed(1)} MiB${under(p) ? '' : ' (over the cap)'}, ${p.s.toFixed(1)} s`);
    return p;
  };
  try {
    const small = [await probe(8), await probe(16)];
    const slope = Math.max((small[1]!.peakMiB - small[0]!.peakMiB) / 8, 1e-6);
    let fits: Probe | null = small.filter(under).at(-1) ?? null;
    let over: Probe | null = small.find((p) => !under(p)) ?? null;
    let bigFit = false;
    let next = Math.floor(16 + (capMiB - small[1]!.peakMiB) / slope);
    for (let i = 0; i < maxProbes; i++) {
      const lo = fits?.frames ?? 0;
      const hi = over?.frames ?? Infinity;
      if (hi - lo <= Math.max(1, Math.floor(lo / 50))) break;
      next = Math.max(next, lo + 1);
      if (hi !== Infinity) next = Math.min(next, hi - 1);
      const r = await probe(next);
      if (under(r)) { fits = r; bigFit = true; } else over = r;
      if (over && (bigFit || !fits)) next = Math.floor(((fits?.frames ?? 0) + over.frames) / 2);
      else if (over) next = over.frames - Math.max(Math.ceil((over.peakMiB - capMiB) / slope), Math.ceil(0.08 * over.frames));
      else next = fits!.frames + Math.max(Math.ceil((capMiB - fits!.peakMiB) / slope), Math.ceil(0.04 * fits!.frames));
    }
    return { option: opt.name, fits, over, probes, seconds: (performance.now() - t0) / 1000 };
  } finally {
    state.dispose();
    for (const t of params.values()) t.dispose();
  }
}

const rows: StepRow[] = [];
const optionRows: StepRow[] = [];
const searches: SearchResult[] = [];
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
  if (!flag('no-search')) {
    const m = searchModel ?? await loadModel(CONFIGS.base!);
    if (!searchModel) models.push(m);
    console.log(`\nLongest sequence under ${capMiB} MiB (${CONFIGS.base!.describe.split(', ').slice(0, 2).join(', ')}; frames of 8x8 latents)`);
    for (const opt of options.filter((o) => o.search !== false)) searches.push(await searchFrames(m, opt));
  }
} finally {
  for (const m of models) await rm(m.dir, { recursive: true, force: true });
}

const benchS = (performance.now() - benchStart) / 1000;
const f = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
const tok = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));
const relDiff = (x: number, y: number) => Math.abs(x - y) / Math.max(Math.abs(y), 1e-30);
const modelOf = (name: string) => models.find((m) => m.cfg.name === name)!;
const shownArgs = args.argv.filter((x) => x !== '--no-write');
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
if (searches.length && searchModel) {
  const m = searchModel;
  const L = visualTokens(m, 1);
  lines.push(`Longest trainable sequence under a ${capMiB} MiB cap of live GPU buffers (config base's model; latent frames of 8x8 = ${L} visual tokens each, plus ${m.cfg.textTokens} text tokens broadcast to every frame): two probes (8 and 16 frames) give the peak's slope in frames, then at most ${maxProbes} probes: the line's estimate, a step past it until the cap is bracketed, then bisection (the peak climbs in stairs of a few frames: the buffer pool's size classes); every probe is one whole training step with its peak measured. LiteGen's numbers are theirs (Vchitect-2.0 on A100 80 GB, the real 2B model), not measured here.`);
  lines.push('');
  lines.push('| option | most frames that fit | visual tokens | peak MiB there | least frames measured over the cap | probes (s) | LiteGen (A100 80 GB) |');
  lines.push('|---|---|---|---|---|---|---|');
  const shown = new Set<string>();
  for (const s of searches) {
    const lg = LITEGEN.find((x) => x.ours === s.option);
    if (lg) shown.add(lg.ours);
    lines.push(`| ${s.option} | ${s.fits ? s.fits.frames : 'none'} | ${s.fits ? tok(s.fits.frames * L) : '–'} | ${s.fits ? f(s.fits.peakMiB, 1) : '–'} | ${s.over ? `${s.over.frames} (${f(s.over.peakMiB, 1)} MiB)` : 'not reached'} | ${s.probes.length} (${f(s.seconds, 0)}) | ${lg ? `${(lg.tokens / 1e6).toFixed(2)} M tokens (${lg.theirs})` : "–"} |`);
  }
  for (const lg of LITEGEN) if (!shown.has(lg.ours)) lines.push(`| ${lg.ours} | not measured by bench:train yet | – | – | – | – | ${(lg.tokens / 1e6).toFixed(2)} M tokens (${lg.theirs}) |`);
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
