// `parallax train-vae`'s engine (Node only): trains the AutoencoderKL of a diffusers folder on frames of a meta
// table's clips with vaeTrainStep (reconstruction + a small KL term). Frames are decoded once (frame-cache.ts);
// image i of step s is a frame of clip DataOrder.clip(s, i) at a start drawn from (seed, s, i), so --resume is exact.
// The generic loop (trainer.ts) logs, saves and samples: a save writes OUT/ as a diffusers checkpoint whose vae/ has
// the EMA (or raw) weights and scaling_factor / shift_factor measured by vaeLatentStats on fixed frames, plus
// OUT/train-state/; a sample is OUT/samples/step-N.png: rows of (frame, its reconstruction from the posterior mean).

import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Device } from '../gpu/device.js';
import { openCheckpointParts, type PartialCheckpoint } from '../io/checkpoint.js';
import { FLOAT_DTYPES } from '../io/dtype.js';
import { planarToRgbBytes } from '../model/vae.js';
import { slice } from '../ops/layout.js';
import { vaeScaleFactor } from '../pipeline/reference-configs.js';
import { Tensor } from '../tensor.js';
import { DataOrder } from './data-order.js';
import { treeFingerprint } from './fingerprint.js';
import { loadClipFrames, type ClipFrames } from './frame-cache.js';
import { frameGrid } from './samples.js';
import { rgbToPlanar, type CacheProgress } from './train-cache.js';
import { checkResume, exportCheckpoint, findTrainState, loadTrainState, saveTrainState, STATE_VERSION, type HostTensors, type TrainStateFile } from './train-checkpoint.js';
import { TrainLog, type StepRecord } from './train-log.js';
import { readTrainClips } from './train-meta.js';
import { readAll, restore, upload } from './tensor-io.js';
import { checkCommonOptions, COMMON_FLAGS, runTrainingLoop, type CommonTrainOptions } from './trainer.js';
import { TrainState } from './update.js';
import { decoderForward, disposeVaeSaved, encoderForward } from './vae-backward.js';
import { vaeLatentStats, vaeTrainStep } from './vae-train-step.js';
import { encodeRgbPng } from '../video/png.js';
import type { AutoencoderKLConfig } from '../io/configs.js';

/** `batch` counts frames per step. */
export interface VaeTrainOptions extends CommonTrainOptions {
  klWeight: number;
  /** Frames whose posterior means give scaling_factor / shift_factor at each save. */
  statsFrames: number;
  /** Train on random crop x crop squares of the frames (a multiple of the VAE's scale factor; default: whole frames). */
  crop?: number;
}

export interface VaeStepRecord extends StepRecord {
  recon: number;
  kl: number;
}

export interface VaeTrainUi {
  log(msg: string): void;
  cacheProgress?: CacheProgress;
  start?(startStep: number, steps: number): void;
  step?(r: VaeStepRecord, smoothedLoss: number): void;
  stop?(): void;
}

export interface VaeTrainSummary {
  out: string;
  startStep: number;
  lastStep: number;
  interrupted: boolean;
  signal?: string;
  seconds: number;
  stats?: { scalingFactor: number; shiftFactor: number };
}

const FLAGS: Record<string, string> = { ...COMMON_FLAGS, klWeight: '--kl-weight', statsFrames: '--stats-frames', crop: '--crop' };

function checkOptions(o: VaeTrainOptions): void {
  const need = (ok: boolean, msg: string) => { if (!ok) throw new Error(msg); };
  checkCommonOptions(o, need);
  need(o.klWeight >= 0, `--kl-weight must be >= 0, got ${o.klWeight}`);
  need(Number.isInteger(o.statsFrames) && o.statsFrames >= 1, `--stats-frames must be an integer >= 1, got ${o.statsFrames}`);
}

/** Frames [N, 3, H, W] in [-1, 1] from (clip, frame) pairs; with crops, each pick's size x size square at its origin. */
function imagesOf(device: Device, clips: readonly ClipFrames[], picks: readonly [number, number][], H: number, W: number, crops?: { size: number; at: readonly { x: number; y: number }[] }): Tensor {
  const h = crops ? crops.size : H, w = crops ? crops.size : W;
  const per = 3 * h * w;
  const data = new Float32Array(per * picks.length);
  picks.forEach(([c, f], i) => {
    let rgb = clips[c]!.rgb.subarray(f * H * W * 3, (f + 1) * H * W * 3);
    if (crops) {
      const { x, y } = crops.at[i]!;
      const out = new Uint8Array(h * w * 3);
      for (let r = 0; r < h; r++) out.set(rgb.subarray(((y + r) * W + x) * 3, ((y + r) * W + x + w) * 3), r * w * 3);
      rgb = out;
    }
    data.set(rgbToPlanar(rgb, h, w), i * per);
  });
  return Tensor.from(device, data, [picks.length, 3, h, w], 'f32', 'vae images');
}

export async function trainVae(o: VaeTrainOptions, ui: VaeTrainUi): Promise<VaeTrainSummary> {
  checkOptions(o);
  const ckpt = await openCheckpointParts(o.model, ['vae'], 'VAE training (parallax train-vae)').catch((e: Error) => {
    throw new Error(`--model ${o.model}: ${e.message}`);
  });
  const device = await Device.create({ label: 'parallax train-vae', adapterIndex: o.adapterIndex });
  const cleanup: (() => void)[] = [];
  try {
    return await run(o, ui, ckpt, device, cleanup);
  } finally {
    for (const f of cleanup.reverse()) f();
    device.destroy();
    await ckpt.close();
  }
}

async function run(o: VaeTrainOptions, ui: VaeTrainUi, ckpt: PartialCheckpoint, device: Device, cleanup: (() => void)[]): Promise<VaeTrainSummary> {
  const vae = ckpt.vae!;
  const cfg = vae.config;
  const haveState = await findTrainState(o.out);
  if (haveState && !o.resume) throw new Error(`${o.out} already holds a training run (${haveState}): pass --resume to continue it, or choose another --out`);

  const rows = await readTrainClips(o.data);
  const first = rows[0]!;
  const s = vaeScaleFactor(cfg);
  for (const c of rows) {
    if (c.width !== first.width || c.height !== first.height) throw new Error(`${c.where}: clip ${c.rel} is ${c.width}x${c.height} but ${first.rel} is ${first.width}x${first.height}; train-vae batches frames of one size`);
    if (c.width % s || c.height % s) throw new Error(`${c.where}: clip ${c.rel} is ${c.width}x${c.height}; the VAE (x${s}) needs multiples of ${s}`);
  }
  const H = first.height, W = first.width;
  if (o.crop !== undefined && (!Number.isInteger(o.crop) || o.crop < s || o.crop % s || o.crop > Math.min(W, H))) {
    throw new Error(`--crop ${o.crop}: expected a multiple of the VAE's scale factor ${s} between ${s} and ${Math.min(W, H)} (the frames are ${W}x${H})`);
  }
  const frames = await loadClipFrames(rows, { dir: resolve(o.out, 'cache'), meta: o.data, onProgress: ui.cacheProgress });
  ui.log(`data: ${rows.length} training clips of ${W}x${H}; frame cache ${resolve(o.out, 'cache', 'frames')}: ${frames.decoded} decoded, ${frames.reused} reused`);
  const clips = frames.clips;

  const modelFingerprint = await treeFingerprint(o.model, (await readdir(o.model)).sort());
  const options: Record<string, unknown> = {
    batch: o.batch, lr: o.lr, warmup: o.warmup, lrSchedule: o.lrSchedule, weightDecay: o.weightDecay, clip: o.clip, ema: o.ema, seed: o.seed,
    klWeight: o.klWeight, statsFrames: o.statsFrames, ...(o.crop !== undefined ? { crop: o.crop } : {}), ...(o.lrSchedule === 'cosine' ? { steps: o.steps } : {}),
  };
  const floatKeys = vae.weights.keys().filter((k) => (FLOAT_DTYPES as readonly string[]).includes(vae.weights.info(k).dtype));
  let saved: Awaited<ReturnType<typeof loadTrainState>> | null = null;
  let host: HostTensors;
  if (o.resume) {
    saved = await loadTrainState(o.out);
    checkResume(saved.file, { part: 'vae', modelFingerprint, dataFingerprint: frames.fingerprint, options }, (k) => FLAGS[k] ?? k);
    host = saved.params;
  } else {
    host = new Map();
    for (const k of floatKeys) host.set(k, { shape: [...vae.weights.info(k).shape], data: await vae.weights.readFloat32(k) });
  }
  const params = upload(device, host, 'vae param');
  cleanup.push(() => { for (const t of params.values()) t.dispose(); });
  const state = new TrainState(params, { ema: o.ema });
  cleanup.push(() => state.dispose());
  const startStep = saved?.file.step ?? 0;
  if (saved) {
    restore(state.m, saved.m, device, 'adam.m');
    restore(state.v, saved.v, device, 'adam.v');
    if (state.ema) restore(state.ema, saved.ema ?? new Map(), device, 'ema');
    state.step = startStep;
    saved = null;
  }
  if (startStep >= o.steps) {
    ui.log(`${o.out} is already at step ${startStep} of --steps ${o.steps}: nothing to do (raise --steps to train further)`);
    return { out: o.out, startStep, lastStep: startStep, interrupted: false, seconds: 0 };
  }

  // fixed frames: latent statistics (every clip's frames in table order) and the reconstruction samples
  const all: [number, number][] = clips.flatMap((c, ci) => Array.from({ length: c.frames }, (_, f) => [ci, f] as [number, number]));
  const statPicks = all.slice(0, o.statsFrames);
  const samplePicks: [number, number][] = clips.slice(0, 4).map((c, ci) => [ci, Math.floor((c.frames - 1) / 2)]);
  const order = new DataOrder(o.seed, clips.length, o.batch);
  const log = await TrainLog.open(o.out, startStep);
  const sourceConfig = JSON.parse(await readFile(resolve(o.model, vae.configFile), 'utf8')) as Record<string, unknown>;
  const exportedParams = () => state.ema ?? params;
  let lastStats: { scalingFactor: number; shiftFactor: number } | undefined;

  ui.start?.(startStep, o.steps);
  let result;
  try {
    result = await runTrainingLoop<VaeStepRecord>({
      log,
      step: async (step) => {
        const t0 = performance.now();
        const picks: [number, number][] = [];
        for (let i = 0; i < o.batch; i++) {
          const { clip } = order.clip(step, i);
          picks.push([clip, order.frameStart(step, i, clips[clip]!.frames, 1)]);
        }
        const crops = o.crop === undefined ? undefined : { size: o.crop, at: picks.map((_, i) => order.cropOrigin(step, i, W, H, o.crop!, s)) };
        const images = imagesOf(device, clips, picks, H, W, crops);
        try {
          const r = await vaeTrainStep(state, params, cfg, { images }, {
            seed: o.seed, lr: { lr: o.lr, warmup: o.warmup, schedule: o.lrSchedule, steps: o.steps }, klWeight: o.klWeight,
            adamw: { weightDecay: o.weightDecay }, clip: o.clip, emaDecay: o.ema ? {} : undefined,
          });
          if (!Number.isFinite(r.loss)) throw new Error(`step ${step}: the loss is ${r.loss} (diverged; lower --lr or raise --warmup)`);
          return { step, loss: r.loss, recon: r.recon, kl: r.kl, grad_norm: r.gradNorm, lr: r.lr, seconds: (performance.now() - t0) / 1000, tokens: o.batch * ((o.crop ?? H) / s) * ((o.crop ?? W) / s) };
        } finally {
          images.dispose();
        }
      },
      save: async (step) => {
        const batches: Tensor[] = [];
        for (let i = 0; i < statPicks.length; i += 8) batches.push(imagesOf(device, clips, statPicks.slice(i, i + 8), H, W));
        let stats;
        try {
          stats = await vaeLatentStats(exportedParams(), cfg, batches);
        } finally {
          for (const b of batches) b.dispose();
        }
        lastStats = { scalingFactor: stats.scalingFactor, shiftFactor: stats.shiftFactor };
        await exportCheckpoint({
          source: o.model, out: o.out, part: 'vae', sourceWeights: vae.weights, weights: await readAll(exportedParams()),
          config: { ...sourceConfig, scaling_factor: stats.scalingFactor, shift_factor: stats.shiftFactor },
        });
        const file: TrainStateFile = { version: STATE_VERSION, part: 'vae', step, options, modelFingerprint, dataFingerprint: frames.fingerprint, savedAt: new Date().toISOString(), extra: { latentStats: stats } };
        await saveTrainState(o.out, { file, params: await readAll(params), m: await readAll(state.m), v: await readAll(state.v), ema: state.ema ? await readAll(state.ema) : null });
      },
      sample: async (step) => writeReconstructions(exportedParams(), cfg, imagesOf(device, clips, samplePicks, H, W), resolve(o.out, 'samples'), step),
      onStep: (r, sm) => ui.step?.(r, sm),
    }, { startStep, steps: o.steps, saveEvery: o.saveEvery, sampleEvery: o.sampleEvery, logEvery: o.logEvery, signals: o.signals });
  } finally {
    ui.stop?.();
  }
  return { out: o.out, startStep, lastStep: result.lastStep, interrupted: result.interrupted, signal: result.signal, seconds: result.seconds, stats: lastStats };
}

/** OUT/samples/step-N.png: one row per frame, the frame and its reconstruction from the posterior mean. */
async function writeReconstructions(params: ReadonlyMap<string, Tensor>, cfg: AutoencoderKLConfig, images: Tensor, dir: string, step: number): Promise<void> {
  const [N, , H, W] = images.shape as [number, number, number, number];
  const rows: Uint8Array[][] = [];
  try {
    const enc = encoderForward(params, cfg, images);
    disposeVaeSaved(enc.saved);
    const mean = slice(enc.out, 1, 0, cfg.latent_channels);
    enc.out.dispose();
    const dec = decoderForward(params, cfg, mean);
    disposeVaeSaved(dec.saved);
    mean.dispose();
    const [x, y] = [await images.read(), await dec.out.read()];
    dec.out.dispose();
    const per = 3 * H * W;
    for (let i = 0; i < N; i++) rows.push([planarToRgbBytes(x.subarray(i * per, (i + 1) * per), H, W), planarToRgbBytes(y.subarray(i * per, (i + 1) * per), H, W)]);
  } finally {
    images.dispose();
  }
  await mkdir(dir, { recursive: true });
  const base = join(dir, `step-${String(step).padStart(6, '0')}`);
  const g = frameGrid(rows, W, H);
  await writeFile(`${base}.png.tmp`, encodeRgbPng(g.rgb, g.width, g.height));
  await rename(`${base}.png.tmp`, `${base}.png`);
  await writeFile(`${base}.json`, `${JSON.stringify({ step, columns: ['frame', 'reconstruction (posterior mean)'], rows: N }, null, 2)}\n`);
}
