// `parallax generate --long dualparal`: checks the block layout and the rank count before any weight loads, runs the
// DualParal ranks on the chosen transport (engine/parallel/dualparal-generate.ts; rank 0 appends each finished block
// to the MP4 as it leaves the queue), logs progress per block, and writes the sidecar (and the latents on request).
import { join } from 'node:path';
import { readDistEnv } from '../../engine/distributed/env.js';
import { openCheckpoint } from '../../engine/io/checkpoint.js';
import {
  generateDualParalAsEnvRank,
  generateDualParalInProcess,
  generateDualParalWithWorkers,
  type DualParalGenerateJob,
  type DualParalProgress,
  type DualParalResult,
} from '../../engine/parallel/dualparal-generate.js';
import { blockLayout, splitLayers } from '../../engine/parallel/dualparal-plan.js';
import { backendInfoFromCheckpoint } from '../../engine/pipeline/backend-info.js';
import { latentShape, randomSeed, resolveGenerateSettings } from '../../engine/pipeline/generate-options.js';
import type { GenerateSettings } from '../../engine/pipeline/generate-settings.js';
import { checkpointHash } from '../../engine/pipeline/model-hash.js';
import { writeSafetensors } from '../../engine/io/safetensors.js';
import { MODEL_HASH_METHOD, SIDECAR_VERSION, sidecarPath, writeSidecar, type VideoSidecar } from '../../engine/video/sidecar.js';
import { fmtBytes, fmtMs, type ComputeDType } from '../options.js';

/** Default blocks: B = 8 latent frames, C = 4 context frames. */
export const DUALPARAL_DEFAULTS = { blockFrames: 8, contextFrames: 4 } as const;

/** What this command reads of `generate`'s options (structurally a subset of GenerateCliOptions). */
export interface DualParalCliOptions extends Omit<GenerateSettings, 'seed'> {
  model: string;
  seed?: number;
  fps: number;
  dtype?: ComputeDType;
  out?: string;
  latents?: string;
  backend: string;
  devices?: number[];
  transport?: 'inprocess' | 'shm' | 'socket';
  multiHost?: boolean;
  progress?: boolean;
  dryRun?: boolean;
  blockFrames?: number;
  contextFrames?: number;
  sp?: number;
  cfgParallel?: boolean;
  dualScope?: unknown;
  initLatents?: string;
  saveInitLatents?: string;
  pngFrames?: string;
  profile?: boolean | string;
}

/** Options DualParal does not combine with, and why (also `serve`'s check of a job with long: 'dualparal'). */
export function refuseUnsupported(o: Pick<DualParalCliOptions, 'backend' | 'sp' | 'cfgParallel' | 'dualScope' | 'initLatents' | 'saveInitLatents' | 'pngFrames' | 'profile'>): void {
  const no = (flag: string, why: string) => {
    throw new Error(`${flag} does not combine with --long dualparal: ${why}`);
  };
  if (o.backend === 'reference') no('--backend reference', 'DualParal runs on the GPU backend (drop --backend reference)');
  if (o.sp !== undefined) no('--sp', 'DualParal splits the transformer\'s layers over the GPUs, not the sequence (drop --sp)');
  if (o.cfgParallel) no('--cfg-parallel', 'the last rank runs both CFG branches of every block (drop --cfg-parallel)');
  if (o.dualScope) no('--dual-scope', 'dual-scope attention belongs to --long clip-parallel');
  if (o.initLatents || o.saveInitLatents) no(o.initLatents ? '--init-latents' : '--save-init-latents', 'each block starts from the coordinated noise pool of the seed (spec parallel.md section 3)');
  if (o.pngFrames) no('--png-frames', 'frames are streamed to the MP4 block by block; extract PNGs from it');
  if (o.profile) no('--profile', 'profiling covers one device without --long');
}

/**
 * The block layout of `latentFrames` (video frames `frames`) and the split of `numLayers` transformer blocks over
 * `ranks` GPUs (numLayers undefined: the layout only), or the error saying what would fit. Used by the command and by
 * `serve` (a job with long: 'dualparal'), so both refuse with the same text.
 */
export function checkDualParalLayout(frames: number, latentFrames: number, B: number, C: number, ranks: number, numLayers?: number): { layout: ReturnType<typeof blockLayout>; parts: ReturnType<typeof splitLayers> } {
  let layout: ReturnType<typeof blockLayout>;
  try {
    layout = blockLayout(latentFrames, B, C);
  } catch (e) {
    throw new Error(`--frames ${frames} (= latent frames: the VAE has no temporal compression): ${(e as Error).message.replace(/^dualparal: /, '')}`);
  }
  if (numLayers === undefined) return { layout, parts: [] };
  if (ranks > numLayers) throw new Error(`--long dualparal puts at least one of the ${numLayers} transformer blocks on each GPU: ${ranks} GPUs is too many, use at most ${numLayers}`);
  return { layout, parts: splitLayers(numLayers, ranks) };
}

export async function runDualParalGenerate(
  o: DualParalCliOptions,
  log: (s: string) => void,
  launchSocket: (o: DualParalCliOptions & { seed: number; out: string }, ranks: number) => Promise<void>,
): Promise<{ video: string; sidecar: string; streamed: true }> {
  refuseUnsupported(o);
  const seed = o.seed ?? randomSeed();
  const out = o.out ?? join('out', `parallax-${seed}.mp4`);
  if (!/\.mp4$/i.test(out)) throw new Error(`--out ${out}: expected a .mp4 file name`);
  const env = o.multiHost ? readDistEnv() : undefined;
  const ranks = env?.worldSize ?? o.devices?.length ?? 1;
  const transport = env ? 'env' : (o.transport ?? 'inprocess');
  const B = o.blockFrames ?? DUALPARAL_DEFAULTS.blockFrames;
  const C = o.contextFrames ?? DUALPARAL_DEFAULTS.contextFrames;
  const ckpt = await openCheckpoint(o.model);
  let settings: GenerateSettings;
  let parts: ReturnType<typeof splitLayers>;
  let layout: ReturnType<typeof blockLayout>;
  let hash: string;
  try {
    const info = backendInfoFromCheckpoint(ckpt, `webgpu-${o.dtype ?? 'f32'}-dualparal`);
    settings = resolveGenerateSettings({ ...o, seed }, info);
    const F = latentShape(settings, info)[1]!;
    // Checked here, before any weight loads: the block layout and the layer split.
    ({ layout, parts } = checkDualParalLayout(settings.frames, F, B, C, ranks, ckpt.transformer.config.num_layers));
    if (o.dryRun) {
      console.log(JSON.stringify({ settings: { ...settings, fps: o.fps }, out, latentShape: latentShape(settings, info), dualparal: { ...layout, ranks, layers: parts.map((p) => [p.start, p.end]), transport } }, null, 2));
      return { video: out, sidecar: sidecarPath(out), streamed: true };
    }
    hash = env && env.rank !== 0 ? '' : await checkpointHash(ckpt);
  } finally {
    await ckpt.close();
  }
  const rank = env?.rank ?? 0;
  if (rank === 0) {
    log(`model ${o.model} (DualParal, ${ranks} GPU rank(s), layers ${parts.map((p) => `${p.start}-${p.end - 1}`).join(' | ')}, transport ${transport === 'env' ? 'multi-host' : transport}), ${settings.width}x${settings.height}, ${settings.frames} frames = ${layout.blocks} blocks of ${B} + ${C} context, ${settings.steps} steps, guidance ${settings.guidance} (${settings.guidanceMode}), seed ${seed}`);
  }
  if (transport === 'socket') {
    await launchSocket({ ...o, seed, out }, ranks);
    return { video: out, sidecar: sidecarPath(out), streamed: true };
  }
  const job: DualParalGenerateJob = { model: o.model, dtype: o.dtype, devices: o.devices, settings, blockFrames: B, contextFrames: C, out, fps: o.fps };
  const progress = (p: DualParalProgress) => {
    if (o.progress !== false) log(`block ${p.block + 1}/${p.blocks}: frames ${p.frames.start}-${p.frames.end - 1} appended to ${out} (${fmtMs(p.ms)})`);
  };
  let result: DualParalResult | null;
  if (transport === 'env') result = await generateDualParalAsEnvRank(env!, job, progress);
  else if (transport === 'shm') result = await generateDualParalWithWorkers(job, ranks, progress);
  else result = await generateDualParalInProcess(job, ranks, progress);
  if (!result) {
    log(`rank ${rank}: done (rank 0 writes the video)`);
    return { video: out, sidecar: sidecarPath(out), streamed: true };
  }
  return writeDualParalOutputs(o, out, hash!, result, transport, log);
}

async function writeDualParalOutputs(o: DualParalCliOptions, out: string, hash: string, r: DualParalResult, transport: string, log: (s: string) => void) {
  if (o.latents) await writeSafetensors(o.latents, { latents: { dtype: 'F32', shape: r.latents.shape, data: r.latents.data } });
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  const t = r.timings;
  const sidecar: VideoSidecar = {
    parallax: { sidecarVersion: SIDECAR_VERSION, version: '0.1.0' },
    createdAt: new Date().toISOString(),
    settings: { ...r.settings, fps: o.fps },
    model: { path: o.model, hash, hashMethod: MODEL_HASH_METHOD },
    backend: { name: `webgpu-${o.dtype ?? 'f32'}-dualparal${r.ranks}`, dtype: o.dtype ?? 'f32' },
    parallel: {
      ranks: r.ranks, sp: 1, cfg: 1, transport, devices: o.devices,
      dualparal: { blockFrames: r.layout.blockFrames, contextFrames: r.layout.contextFrames, blocks: r.layout.blocks, layers: r.layers, peakBytesPerRank: r.peakBytesPerRank, weightBytesPerRank: r.weightBytesPerRank },
    },
    output: { video: out, width: r.video.width, height: r.video.height, frames: r.video.frames },
    latentShape: r.latents.shape,
    initLatents: { source: 'seed', seed: r.settings.seed },
    schedule: r.schedule,
    timings: { textEncodeMs: t.textEncodeMs, denoiseMs: t.denoiseMs, decodeMs: 0, totalMs: t.totalMs, stepMs: [], firstBlockMs: t.firstBlockMs, blockMs: t.blockMs, loadMs: t.loadMs },
    peakMemoryBytes: r.peakBytesPerRank[0],
    maxRssBytes,
  };
  const side = sidecarPath(out);
  await writeSidecar(side, sidecar);
  log(`text-encode ${fmtMs(t.textEncodeMs)}, load ${fmtMs(t.loadMs)}, denoise + decode + mp4 ${fmtMs(t.denoiseMs)} (first block in the MP4 after ${fmtMs(t.firstBlockMs)}), total ${fmtMs(t.totalMs)}`);
  log(`memory: GPU peak per rank ${r.peakBytesPerRank.map((b) => fmtBytes(b)).join(', ')} (transformer weights ${r.weightBytesPerRank.map((b) => fmtBytes(b)).join(', ')}), process max RSS ${fmtBytes(maxRssBytes)}`);
  console.log(out);
  log(`wrote ${out} and ${side}`);
  return { video: out, sidecar: side, streamed: true as const };
}
