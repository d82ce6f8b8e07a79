// `parallax train`'s engine (Node only): trains the Vchitect transformer of a diffusers folder on a meta table of
// clips with the text encoders and the VAE frozen. Setup: read the training rows, build or reuse the latent and text
// caches (train-cache.ts), check the step fits memory (memory.ts), load the weights (or the saved state with
// --resume, checked against the model, data and options), then the generic loop (trainer.ts) runs flow-matching
// steps (train-step.ts) on K cached clips chosen by DataOrder from (seed, step, item): a --frames window and
// caption dropout drawn the same way. Saves write OUT/ as a diffusers checkpoint plus OUT/train-state/.

import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ProcessGroup } from '../distributed/collectives.js';
import { Device } from '../gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import { FLOAT_DTYPES } from '../io/dtype.js';
import { LN_EPS } from '../model/vchitect.js';
import type { TextConditioning } from '../pipeline/backend.js';
import { vaeScaleFactor } from '../pipeline/reference-configs.js';
import { Tensor } from '../tensor.js';
import { DataOrder } from './data-order.js';
import { DistributedTrainer, ZERO_STAGES, type ZeroStage } from './distributed-step.js';
import { spDataGroups } from './sp-groups.js';
import { batchShare, zeroLayout } from './zero-layout.js';
import { treeFingerprint } from './fingerprint.js';
import { checkTrainFits, memoryBudget, paramPoolBytes, type MemoryEstimate } from './memory.js';
import { memoryPlan } from './memory-plan.js';
import { samplePrompts, writeSamples, type SamplePrompt } from './samples.js';
import type { SigmaSampling } from './schedule.js';
import { buildTrainCache, readClipLatents, readTextConditioning, type CacheProgress, type TrainCache } from './train-cache.js';
import { checkResume, exportCheckpoint, findTrainState, loadTrainState, saveTrainState, STATE_VERSION, type HostTensors, type TrainStateFile } from './train-checkpoint.js';
import { TrainLog, type StepRecord } from './train-log.js';
import { readTrainClips } from './train-meta.js';
import { TrainState, trainStep, type TrainBatch, type TrainStepOptions, type TrainStepResult } from './train-step.js';
import { readAll, restore, upload } from './tensor-io.js';
import { checkCommonOptions, COMMON_FLAGS, runTrainingLoop, type CommonTrainOptions, type LoopLog } from './trainer.js';
import type { ModelShape } from './vchitect-backward.js';

export interface DitTrainOptions extends CommonTrainOptions {
  /** Consecutive latent frames per item (default: every frame of the clip). */
  frames?: number;
  captionDropout: number;
  sigmaSampling: SigmaSampling;
  /** Default: the scheduler's shift. */
  shift?: number;
  sampleSteps: number;
  sampleGuidance: number;
  /** Selective recomputation (LiteGen ratio) and activation offload ratio (memory-plan.ts); same results, less memory. */
  recompute?: number;
  offload?: number;
  /** Bytes training may use (default: see memory.ts). */
  memoryLimit?: number;
  /** Parallel training (dit-parallel.ts): adapter index per rank (several = data / sequence parallel ranks). */
  devices?: number[];
  /** How the ranks of this host talk (default inprocess); socket is started by the command (one process per rank). */
  transport?: 'inprocess' | 'shm' | 'socket';
  /** This process is one rank of a launcher's world (RANK, WORLD_SIZE, ... in the environment). */
  multiHost?: boolean;
  /** ZeRO stage over the data-parallel ranks (default 0). */
  zero?: ZeroStage;
  /** Sequence-parallel group size (default 1; divides the rank count). */
  sp?: number;
}

export interface TrainUi {
  log(msg: string): void;
  cacheProgress?: CacheProgress;
  start?(startStep: number, steps: number): void;
  step?(r: DitStepRecord, smoothedLoss: number): void;
  stop?(): void;
}

export interface DitStepRecord extends StepRecord {
  sigmas: number[];
  clips: number[];
  dropped: number;
}

export interface TrainSummary {
  out: string;
  /** World rank of this process's summary (0 unless --multi-host); rank 0 wrote the outputs. */
  rank: number;
  startStep: number;
  lastStep: number;
  interrupted: boolean;
  signal?: string;
  cache: TrainCache['stats'];
  memory: MemoryEstimate;
  seconds: number;
  tokens: number;
  /** Peak device bytes measured during the steps (samples and saves included). */
  peakBytes: number;
}

/** The options a resumed run must share with the saved one (steps only matters to the cosine schedule). */
function resumeOptions(o: DitTrainOptions, shift: number): Record<string, unknown> {
  return {
    batch: o.batch, lr: o.lr, warmup: o.warmup, lrSchedule: o.lrSchedule, weightDecay: o.weightDecay, clip: o.clip, ema: o.ema, seed: o.seed,
    frames: o.frames ?? null, captionDropout: o.captionDropout, sigmaSampling: o.sigmaSampling, shift, ...(o.lrSchedule === 'cosine' ? { steps: o.steps } : {}),
  };
}

const FLAGS: Record<string, string> = {
  ...COMMON_FLAGS, frames: '--frames', captionDropout: '--caption-dropout', sigmaSampling: '--sigma-sampling', shift: '--shift',
};

function checkOptions(o: DitTrainOptions): void {
  const need = (ok: boolean, msg: string) => { if (!ok) throw new Error(msg); };
  checkCommonOptions(o, need);
  need(o.captionDropout >= 0 && o.captionDropout <= 1, `--caption-dropout must be in [0, 1], got ${o.captionDropout}`);
  need(o.frames === undefined || (Number.isInteger(o.frames) && o.frames >= 1), `--frames must be an integer >= 1, got ${o.frames}`);
  need(o.shift === undefined || o.shift > 0, `--shift must be > 0, got ${o.shift}`);
}

/** The parallel options against a world of `ranks` ranks (before any rank starts, and again on each rank). */
export function checkParallelOptions(o: DitTrainOptions, ranks: number): void {
  const need = (ok: boolean, msg: string) => { if (!ok) throw new Error(msg); };
  const sp = o.sp ?? 1;
  const zero = o.zero ?? 0;
  need(ZERO_STAGES.includes(zero), `--zero must be 0, 1, 2 or 3, got ${zero}`);
  need(Number.isInteger(sp) && sp >= 1, `--sp must be an integer >= 1, got ${sp}`);
  need(ranks % sp === 0, `--sp ${sp} does not divide the ${ranks} rank(s) (the ranks are sp x data-parallel groups): list a multiple of ${sp} in --devices, or pick --sp in {${Array.from({ length: ranks }, (_, i) => i + 1).filter((p) => ranks % p === 0).join(', ')}}`);
  if (ranks > 1) {
    need(!(o.recompute !== undefined && zero === 3), "--zero 3 on several ranks already reruns every block's forward in its backward (its parameters are gathered again there): drop --recompute (--offload alone applies)");
  }
  need(!(o.multiHost && o.transport), '--multi-host makes this process one rank of a launcher\'s world; --transport is for the ranks this command starts on one host: drop one of them');
  need(o.multiHost || ranks > 1 || !o.transport || o.transport === 'inprocess', `--transport ${o.transport} needs several ranks: pass --devices (e.g. --devices 0,0 for two ranks on adapter 0)`);
}

/** A parallel rank's world and layout (dit-parallel.ts starts the ranks). */
export interface RankRun {
  world: ProcessGroup;
  /** Set to 1 (SIGINT) or 2 (SIGTERM) by the launcher of in-process / worker ranks: stop after the current step. */
  stopFlag?: Int32Array;
}

/** One rank of a parallel run: the same setup and loop as trainDit on this rank's device; rank 0 writes the outputs. */
export async function trainRank(o: DitTrainOptions, ui: TrainUi, device: Device, par: RankRun): Promise<TrainSummary> {
  checkOptions(o);
  checkParallelOptions(o, par.world.size);
  const ckpt = await openCheckpoint(o.model, 'training (parallax train)').catch((e: Error) => {
    throw new Error(`--model ${o.model}: ${e.message}`);
  });
  const cleanup: (() => void)[] = [];
  try {
    return await run(o, ui, ckpt, device, cleanup, par);
  } finally {
    for (const f of cleanup.reverse()) f();
    await ckpt.close();
  }
}

/** What a step needs from the single-device trainer or the DistributedTrainer. */
interface Stepper {
  /** This rank's items of the global batch. */
  share: { offset: number; count: number };
  step(items: TrainBatch[], o: TrainStepOptions): Promise<TrainStepResult>;
  /** The full state on the host (a collective on parallel ranks: every rank calls it, in the same order). */
  host(kind: 'params' | 'm' | 'v' | 'ema'): Promise<HostTensors>;
}

export async function trainDit(o: DitTrainOptions, ui: TrainUi): Promise<TrainSummary> {
  checkOptions(o);
  const ckpt = await openCheckpoint(o.model, 'training (parallax train)').catch((e: Error) => {
    throw new Error(`--model ${o.model}: ${e.message}`);
  });
  const device = await Device.create({ label: 'parallax train', adapterIndex: o.adapterIndex });
  const cleanup: (() => void)[] = [];
  try {
    return await run(o, ui, ckpt, device, cleanup);
  } finally {
    for (const f of cleanup.reverse()) f();
    device.destroy();
    await ckpt.close();
  }
}

async function run(o: DitTrainOptions, ui: TrainUi, ckpt: Checkpoint, device: Device, cleanup: (() => void)[], par?: RankRun): Promise<TrainSummary> {
  const cfg = ckpt.transformer.config;
  const shift = o.shift ?? ckpt.scheduler.shift;
  const rank = par?.world.rank ?? 0;
  const lead = rank === 0;
  // every rank has its device (a rank that could not open one fails here, before any GPU work of the others)
  if (par) await par.world.barrier();
  const haveState = await findTrainState(o.out);
  if (haveState && !o.resume) throw new Error(`${o.out} already holds a training run (${haveState}): pass --resume to continue it, or choose another --out`);

  // data and caches: on parallel ranks rank 0 builds them, then the others read (or, without a shared OUT, build) them
  const clips = await readTrainClips(o.data);
  // the sample grids' prompts are encoded once, with the captions, by rank 0 (it draws the grids; every rank
  // takes part in gathering the weights for them)
  const prompts: SamplePrompt[] = await samplePrompts(o.data, clips.map((c) => c.text));
  const extraPrompts = lead && o.sampleEvery > 0 ? prompts.map((p) => p.text) : [];
  const buildCache = (progress?: CacheProgress) => buildTrainCache(clips, { device, ckpt, model: o.model, meta: o.data, dir: resolve(o.out, 'cache'), onProgress: progress, extraPrompts });
  let cache: TrainCache;
  if (par) {
    if (lead) cache = await buildCache(ui.cacheProgress);
    await par.world.barrier();
    if (!lead) cache = await buildCache();
  } else cache = await buildCache(ui.cacheProgress);
  cache = cache!;
  const cs = cache.stats;
  ui.log(`data: ${clips.length} training clips, ${cache.texts.length - 1} captions; cache ${resolve(o.out, 'cache')}: ${cs.clipsEncoded} clips encoded, ${cs.clipsReused} reused; ${cs.textsEncoded} prompts encoded, ${cs.textsReused} reused`);
  if (o.frames !== undefined) {
    const short = cache.clips.find((c) => c.shape[0] < o.frames!);
    if (short) throw new Error(`${short.clip.where}: clip ${short.clip.rel} has ${short.shape[0]} frames, fewer than --frames ${o.frames}; lower --frames or drop the clip`);
  }
  const texts = await Promise.all(cache.texts.map(readTextConditioning));

  // parallel layout: world = sp x dp ranks; every SP rank of a data-parallel rank trains the same items
  const shape: ModelShape = { numLayers: cfg.num_layers, heads: cfg.num_attention_heads, patchSize: cfg.patch_size, eps: LN_EPS };
  const sp = o.sp ?? 1;
  const groups = par ? (sp > 1 ? await spDataGroups(par.world, sp, shape.heads) : { sp: null, dp: par.world }) : null;
  const share = groups ? batchShare(o.batch, groups.dp.size, groups.dp.rank) : { offset: 0, count: o.batch };

  // memory (per rank, for the layout used: its largest share of the batch, its share of the token rows with --sp,
  // the ZeRO stage's shards over the data-parallel ranks; ZeRO 3 on several ranks checkpoints every block:
  // DistributedTrainer)
  const plan = memoryPlan(cfg.num_layers, { recompute: groups && o.zero === 3 ? 0 : o.recompute, offload: o.offload });
  const floatKeys = ckpt.transformer.weights.keys().filter((k) => (FLOAT_DTYPES as readonly string[]).includes(ckpt.transformer.weights.info(k).dtype));
  const nParams = floatKeys.reduce((a, k) => a + ckpt.transformer.weights.info(k).shape.reduce((x, y) => x * y, 1), 0);
  const biggest = cache.clips.reduce((a, c) => (c.shape[2] * c.shape[3] > a.shape[2] * a.shape[3] ? c : a));
  const memory = checkTrainFits({
    params: nParams, layers: cfg.num_layers, dim: cfg.num_attention_heads * cfg.attention_head_dim, ema: o.ema,
    frames: o.frames ?? Math.max(...cache.clips.map((c) => c.shape[0])), height: biggest.shape[2], width: biggest.shape[3], channels: cfg.in_channels, patch: cfg.patch_size,
    tokens: texts[0]!.tokens, joint: texts[0]!.jointDim, pooled: texts[0]!.pooled.length, batch: groups ? Math.max(1, batchShare(o.batch, groups.dp.size, 0).count) : o.batch,
    checkpointed: plan.checkpointed.filter(Boolean).length, offloaded: plan.offloaded.filter(Boolean).length,
    sp: groups ? sp : 1, heads: shape.heads,
    paramBytes: paramPoolBytes(floatKeys.map((k) => ckpt.transformer.weights.info(k).shape.reduce((x, y) => x * y, 1))),
    largestParam: Math.max(...floatKeys.map((k) => ckpt.transformer.weights.info(k).shape.reduce((x, y) => x * y, 1))),
    zero: groups ? { stage: o.zero ?? 0, ranks: groups.dp.size, units: zeroLayout(floatKeys.map((k) => [k, ckpt.transformer.weights.info(k).shape]), cfg.num_layers, groups.dp.size).units } : undefined,
  }, { maxBinding: device.caps.maxStorageBufferBindingSize, budget: memoryBudget(device.adapter, o.memoryLimit) });

  // weights and optimizer state
  const modelFingerprint = await treeFingerprint(o.model, (await readdir(o.model)).sort());
  const options = resumeOptions(o, shift);
  let host: HostTensors;
  let saved: Awaited<ReturnType<typeof loadTrainState>> | null = null;
  if (o.resume) {
    saved = await loadTrainState(o.out);
    checkResume(saved.file, { part: 'transformer', modelFingerprint, dataFingerprint: cache.fingerprint, options }, (k) => FLAGS[k] ?? k);
    host = saved.params;
  } else {
    host = new Map();
    for (const k of floatKeys) host.set(k, { shape: [...ckpt.transformer.weights.info(k).shape], data: await ckpt.transformer.weights.readFloat32(k) });
  }
  const startStep = saved?.file.step ?? 0;
  const params = upload(device, host, 'param');
  let stepper: Stepper;
  if (groups) {
    const dt = DistributedTrainer.create(groups.dp, params, shape, { zero: o.zero ?? 0, ema: o.ema, sp: groups.sp ?? undefined });
    cleanup.push(() => dt.dispose());
    if (saved) {
      const flat = (h: HostTensors) => new Map([...h].map(([k, t]) => [k, t.data]));
      dt.loadHost('m', flat(saved.m), startStep);
      dt.loadHost('v', flat(saved.v), startStep);
      if (o.ema) dt.loadHost('ema', flat(saved.ema ?? new Map()), startStep);
    }
    const shapes = new Map([...host].map(([k, t]) => [k, t.shape]));
    stepper = {
      share,
      step: (items, so) => dt.step(items, { ...so, globalBatch: o.batch }),
      host: async (kind) => new Map([...(await dt.gatherHost(kind))].map(([k, data]) => [k, { shape: shapes.get(k)!, data }])),
    };
  } else {
    cleanup.push(() => { for (const t of params.values()) t.dispose(); });
    const state = new TrainState(params, { ema: o.ema });
    cleanup.push(() => state.dispose());
    if (saved) {
      restore(state.m, saved.m, device, 'adam.m');
      restore(state.v, saved.v, device, 'adam.v');
      if (state.ema) restore(state.ema, saved.ema ?? new Map(), device, 'ema');
      state.step = startStep;
    }
    stepper = {
      share,
      step: (items, so) => trainStep(state, params, shape, items, so),
      host: (kind) => readAll(kind === 'params' ? params : kind === 'm' ? state.m : kind === 'v' ? state.v : state.ema!),
    };
  }
  saved = null;
  host = new Map();
  if (startStep >= o.steps) {
    ui.log(`${o.out} is already at step ${startStep} of --steps ${o.steps}: nothing to do (raise --steps to train further)`);
    return { out: o.out, rank, startStep, lastStep: startStep, interrupted: false, cache: cs, memory, seconds: 0, tokens: 0, peakBytes: 0 };
  }

  const order = new DataOrder(o.seed, cache.clips.length, o.batch);
  const log: LoopLog = lead ? await TrainLog.open(o.out, startStep) : { append: async () => {}, plot: async () => '' };
  const sourceConfig = JSON.parse(await readFile(resolve(o.model, ckpt.transformer.configFile), 'utf8')) as Record<string, unknown>;
  const exported = () => stepper.host(o.ema ? 'ema' : 'params');
  const sampleTexts = new Map<string, TextConditioning>();
  for (const t of extraPrompts.length ? [cache.texts[0]!, ...cache.extra] : []) {
    const c = await readTextConditioning(t);
    sampleTexts.set(t.text, { promptEmbeds: c.context, tokens: c.tokens, jointDim: c.jointDim, pooled: c.pooled });
  }
  const first = cache.clips[0]!;
  const vs = vaeScaleFactor(ckpt.vae.config);
  const sampleSettings = { frames: Math.min(o.frames ?? first.shape[0], first.shape[0]), width: first.shape[3] * vs, height: first.shape[2] * vs, steps: o.sampleSteps, guidance: o.sampleGuidance, seed: o.seed };
  let tokens = 0;

  ui.log(`memory: about ${(memory.total / 2 ** 20).toFixed(1)} MiB per step estimated${groups ? ' per rank' : ''} (weights + optimizer ${(memory.persistent / 2 ** 20).toFixed(1)} MiB, activations ${(memory.activations / 2 ** 20).toFixed(1)} MiB)`);
  device.pool.resetPeak();
  ui.start?.(startStep, o.steps);
  let result;
  try {
    result = await runTrainingLoop<DitStepRecord>({
      log,
      step: async (step) => {
        const t0 = performance.now();
        const items: TrainBatch[] = [];
        const picked: number[] = [];
        let dropped = 0;
        let stepTokens = 0;
        try {
          // every item of the global batch is drawn (the log lists them all); this rank loads its share
          for (let i = 0; i < o.batch; i++) {
            const { clip } = order.clip(step, i);
            const c = cache.clips[clip]!;
            const F = o.frames ?? c.shape[0];
            const start = order.frameStart(step, i, c.shape[0], F);
            const drop = order.dropCaption(step, i, o.captionDropout);
            if (drop) dropped++;
            picked.push(clip);
            stepTokens += F * (c.shape[2] / cfg.patch_size) * (c.shape[3] / cfg.patch_size);
            if (i < share.offset || i >= share.offset + share.count) continue;
            const t = texts[drop ? 0 : c.text]!;
            const lat = await readClipLatents(c, start, F);
            items.push({
              x0: Tensor.from(device, lat, [1, F, c.shape[1], c.shape[2], c.shape[3]], 'f32', 'x0'),
              context: Tensor.from(device, t.context, [1, t.tokens, t.jointDim], 'f32', 'context'),
              pooled: Tensor.from(device, t.pooled, [1, t.pooled.length], 'f32', 'pooled'),
            });
          }
          const r = await stepper.step(items, {
            seed: o.seed, lr: { lr: o.lr, warmup: o.warmup, schedule: o.lrSchedule, steps: o.steps },
            sigma: { sampling: o.sigmaSampling, shift }, adamw: { weightDecay: o.weightDecay }, clip: o.clip, emaDecay: o.ema ? {} : undefined,
            recompute: o.recompute, offload: o.offload,
          });
          if (r.step !== step) throw new Error(`internal error: optimizer step ${r.step}, expected ${step}`);
          if (!Number.isFinite(r.loss)) throw new Error(`step ${step}: the loss is ${r.loss} (diverged; lower --lr or raise --warmup, then --resume from the last save or start again)`);
          tokens += stepTokens;
          return { step, loss: r.loss, grad_norm: r.gradNorm, lr: r.lr, sigmas: r.sigmas, clips: picked, dropped, seconds: (performance.now() - t0) / 1000, tokens: stepTokens };
        } finally {
          for (const b of items) { b.x0.dispose(); b.context.dispose(); b.pooled.dispose(); }
        }
      },
      save: async (step) => {
        // gathered on every rank (a collective on parallel ranks), written by rank 0
        const p = await stepper.host('params');
        const m = await stepper.host('m');
        const v = await stepper.host('v');
        const ema = o.ema ? await stepper.host('ema') : null;
        if (!lead) return;
        await exportCheckpoint({ source: o.model, out: o.out, part: 'transformer', config: sourceConfig, sourceWeights: ckpt.transformer.weights, weights: ema ?? p });
        const file: TrainStateFile = { version: STATE_VERSION, part: 'transformer', step, options, modelFingerprint, dataFingerprint: cache.fingerprint, savedAt: new Date().toISOString() };
        await saveTrainState(o.out, { file, params: p, m, v, ema });
      },
      sample: prompts.length ? async (step) => {
        const weights = await exported();
        if (lead) await writeSamples({ device, ckpt, weights, prompts, texts: sampleTexts, settings: sampleSettings, dir: resolve(o.out, 'samples'), step });
      } : undefined,
      onStep: (r, sm) => ui.step?.(r, sm),
      stopRequested: par?.stopFlag ? () => { const f = Atomics.load(par.stopFlag!, 0); return f === 0 ? null : f === 2 ? 'SIGTERM' : 'SIGINT'; } : undefined,
      agreeStop: par ? async (requested) => (await par.world.allReduce(Float32Array.of(requested ? 1 : 0)))[0]! > 0 : undefined,
    }, { startStep, steps: o.steps, saveEvery: o.saveEvery, sampleEvery: o.sampleEvery, logEvery: o.logEvery, signals: par?.stopFlag ? false : o.signals });
  } finally {
    ui.stop?.();
  }
  return { out: o.out, rank, startStep, lastStep: result.lastStep, interrupted: result.interrupted, signal: result.signal, cache: cs, memory, seconds: result.seconds, tokens, peakBytes: device.pool.stats.peakBytes };
}
