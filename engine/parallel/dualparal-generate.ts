// `generate --long dualparal`: one rank's whole generation (text on rank 0 and broadcast, this rank's layers, the
// block queue, and each finished block decoded frame-parallel by every rank's VAE (block-decode.ts) and appended by
// rank 0 to a growing MP4 at once), plus the three ways to run the ranks: in this process (inprocess transport), one
// worker thread per rank (shm), or this process as one rank of an environment-described world (socket /
// multi-host). Rank 0 returns the result.

import { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure, DistError } from '../distributed/errors.js';
import type { DistEnv } from '../distributed/env.js';
import { createInProcessWorld } from '../distributed/inprocess.js';
import { connectFromEnv } from '../distributed/rendezvous.js';
import { startWorkers } from '../distributed/shm-launcher.js';
import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { openCheckpoint } from '../io/checkpoint.js';
import type { TextConditioning } from '../pipeline/backend.js';
import { backendInfoFromCheckpoint } from '../pipeline/backend-info.js';
import { latentShape } from '../pipeline/generate-options.js';
import type { GenerateSettings } from '../pipeline/generate-settings.js';
import { GpuBackend } from '../pipeline/gpu-backend.js';
import { flowMatchSchedule } from '../reference/flow-match.js';
import { Tensor } from '../tensor.js';
import { Mp4Stream } from '../video/mp4-stream.js';
import { BlockDecoder } from './block-decode.js';
import { DualParalVchitect } from './dualparal.js';
import { blockLayout, checkWindowFits, splitLayers, type BlockLayout } from './dualparal-plan.js';
import { runDualParal, type BranchText, type DualParalStep } from './dualparal-run.js';
import { GENERATION_TIMEOUT_MS } from './parallel-pipeline.js';
import { pickRankAdapter } from './rank-runners.js';

/** Everything a rank needs (plain data: it crosses worker and process boundaries). */
export interface DualParalGenerateJob {
  model: string;
  dtype?: DType;
  /** Adapter per local rank (pickRankAdapter). */
  devices?: number[];
  settings: GenerateSettings;
  blockFrames: number;
  contextFrames: number;
  /** The MP4 rank 0 streams to, and its frame rate. */
  out: string;
  fps: number;
  timeoutMs?: number;
}

/** Progress of rank 0, one event per block that left the queue and was appended to the video. */
export interface DualParalProgress {
  block: number;
  blocks: number;
  /** Video frames [start, end) of the block. */
  frames: { start: number; end: number };
  /** Since the denoising began (ms). */
  ms: number;
}

export interface DualParalResult {
  settings: GenerateSettings;
  layout: BlockLayout;
  ranks: number;
  /** Transformer blocks [start, end) of each rank. */
  layers: [number, number][];
  /** Final latents [1, F, C, h, w]. */
  latents: { shape: number[]; data: Float32Array };
  video: { path: string; width: number; height: number; frames: number };
  schedule: { sigmas: number[]; timesteps: number[] };
  timings: { textEncodeMs: number; loadMs: number; denoiseMs: number; firstBlockMs: number; blockMs: number[]; totalMs: number };
  /** Peak GPU pool bytes of each rank over the whole run, and the transformer weights each rank holds. */
  peakBytesPerRank: number[];
  weightBytesPerRank: number[];
}

/** Rank 0's finer hooks (in-process ranks): each block step as it is dispatched, and an abort checked at each one. */
export interface DualParalRankHooks {
  onBlockStep?: (s: DualParalStep) => void;
  /** Aborted: rank 0 throws its reason at the next block step, which ends every rank (abortOnLocalFailure). */
  signal?: AbortSignal;
}

/** The block layout of the settings' latent frames (throws, saying what would fit). */
export function dualParalLayout(latentFrames: number, B: number, C: number): BlockLayout {
  return blockLayout(latentFrames, B, C);
}

/** One rank (collective over `world`): rank 0 returns the result, the others null. */
export async function dualParalRank(world: ProcessGroup, device: Device, job: DualParalGenerateJob, onProgress?: (p: DualParalProgress) => void, hooks: DualParalRankHooks = {}): Promise<DualParalResult | null> {
  const t0 = performance.now();
  const s = job.settings;
  const rank = world.rank;
  const ckpt = await openCheckpoint(job.model);
  const cleanup: (() => Promise<void> | void)[] = [() => ckpt.close()];
  try {
    const info = backendInfoFromCheckpoint(ckpt, 'webgpu');
    const shape = latentShape(s, info);
    const layout = blockLayout(shape[1]!, job.blockFrames, job.contextFrames);
    const parts = splitLayers(ckpt.transformer.config.num_layers, world.size);
    const dtype = job.dtype ?? 'f32';
    const P = ckpt.transformer.config.patch_size;
    checkWindowFits({
      B: job.blockFrames, C: job.contextFrames, tokens: (shape[3]! / P) * (shape[4]! / P), modelDim: ckpt.transformer.config.num_attention_heads * ckpt.transformer.config.attention_head_dim,
      bytesPerValue: dtype === 'f16' ? 2 : 4, maxBufferBytes: Math.min(device.caps.maxBufferSize, device.caps.maxStorageBufferBindingSize),
    });
    const useCfg = s.guidance > 1;
    // Text: encoded on rank 0 (its encoders released before the transformer loads), broadcast to every rank.
    const prompts = useCfg ? [s.prompt, s.negativePrompt] : [s.prompt];
    let encoded: TextConditioning[] = [];
    if (rank === 0) {
      const tb = await GpuBackend.forParts(ckpt, ['text'], { device, dtype });
      try {
        for (const p of prompts) encoded.push(await tb.encodeText(p));
      } finally {
        await tb.dispose();
      }
    }
    encoded = await Promise.all(prompts.map((_, i) => broadcastText(world, encoded[i] ?? null)));
    const tText = performance.now();
    const text: BranchText[] = encoded.map((c) => ({
      context: Tensor.from(device, c.promptEmbeds, [1, c.tokens, c.jointDim], dtype, 'prompt_embeds'),
      pooled: Tensor.from(device, c.pooled, [1, c.pooled.length], dtype, 'pooled_projections'),
    }));
    cleanup.push(() => text.forEach((t) => [t.context, t.pooled].forEach((x) => x.dispose())));
    const model = await DualParalVchitect.loadPart(device, ckpt.transformer, parts[rank]!, { dtype });
    cleanup.push(() => model.dispose());
    // Every rank decodes a share of each finished block's frames (the VAE loads on its first share).
    const vae = await GpuBackend.forParts(ckpt, ['vae'], { device });
    cleanup.push(() => vae.dispose());
    const stream = rank === 0 ? await Mp4Stream.open(job.out, { width: s.width, height: s.height, fps: job.fps, gop: job.blockFrames }) : null;
    let streamOk = false;
    if (stream) cleanup.push(() => (streamOk ? undefined : stream.abort()));
    await world.barrier();
    const tLoad = performance.now();
    const blockMs: number[] = [];
    const [, , ch, h, w] = shape as [number, number, number, number, number];
    const decoder = new BlockDecoder(world.size > 1 ? world : null, (z) => vae.decode(z), { channels: ch, height: h, width: w, vaeScale: info.vaeScale });
    const latents = await runDualParal(model, world.size > 1 ? world : null, text, {
      layout, steps: s.steps, shift: info.shift, numTrainTimesteps: info.numTrainTimesteps, guidance: s.guidance, guidanceMode: s.guidanceMode, seed: s.seed,
      latent: { channels: ch, height: h, width: w },
    }, {
      onBlockStep: (st) => {
        hooks.signal?.throwIfAborted();
        hooks.onBlockStep?.(st);
      },
      onBlockDone: async (b) => {
        const video = await decoder.decode(b);
        if (!video) return; // ranks other than 0: their share went to rank 0
        await stream!.write(video.frames);
        const ms = performance.now() - tLoad;
        blockMs.push(ms);
        onProgress?.({ block: b.block, blocks: layout.blocks, frames: b.frames, ms });
      },
    });
    if (stream) {
      await stream.close();
      streamOk = true;
    }
    const tDenoise = performance.now();
    // Every rank's peak and weights, gathered to all (tiny).
    const mine = new Float64Array([device.pool.stats.peakBytes, model.weights.report.gpuBytes]);
    const all = await world.allGather(new Float32Array(mine.buffer));
    if (rank !== 0) return null;
    const stats = all.map((f) => new Float64Array(f.buffer, f.byteOffset, 2));
    const { sigmas, timesteps } = flowMatchSchedule(s.steps, info.shift, info.numTrainTimesteps);
    return {
      settings: s,
      layout,
      ranks: world.size,
      layers: parts.map((p) => [p.start, p.end]),
      latents: { shape, data: latents! },
      video: { path: job.out, width: s.width, height: s.height, frames: stream!.frames },
      schedule: { sigmas: [...sigmas], timesteps: [...timesteps] },
      timings: { textEncodeMs: tText - t0, loadMs: tLoad - tText, denoiseMs: tDenoise - tLoad, firstBlockMs: blockMs[0] ?? NaN, blockMs, totalMs: performance.now() - t0 },
      peakBytesPerRank: stats.map((x) => x[0]!),
      weightBytesPerRank: stats.map((x) => x[1]!),
    };
  } catch (e) {
    throw abortOnLocalFailure(world.transport, `dualparal generation on rank ${rank}`, e);
  } finally {
    for (const c of cleanup.reverse()) await c();
  }
}

/** Rank 0's text conditioning to every rank: [tokens, jointDim, pooledLen, prompt_embeds..., pooled...]. */
async function broadcastText(world: ProcessGroup, c: TextConditioning | null): Promise<TextConditioning> {
  let packed = new Float32Array(0);
  if (c) {
    packed = new Float32Array(3 + c.promptEmbeds.length + c.pooled.length);
    packed.set([c.tokens, c.jointDim, c.pooled.length]);
    packed.set(c.promptEmbeds, 3);
    packed.set(c.pooled, 3 + c.promptEmbeds.length);
  }
  const got = world.size > 1 ? await world.broadcast(packed, 0) : packed;
  const [tokens, jointDim, pooledLen] = [got[0]!, got[1]!, got[2]!];
  const n = tokens * jointDim;
  if (got.length !== 3 + n + pooledLen) throw new DistError(`dualparal text broadcast: ${got.length} values do not match ${tokens} x ${jointDim} + ${pooledLen}`);
  return { tokens, jointDim, promptEmbeds: got.slice(3, 3 + n), pooled: got.slice(3 + n) };
}

/** `--transport inprocess`: every rank in this process, one device each. */
export async function generateDualParalInProcess(job: DualParalGenerateJob, ranks: number, onProgress?: (p: DualParalProgress) => void, hooks: DualParalRankHooks = {}): Promise<DualParalResult> {
  const devices: Device[] = [];
  try {
    for (let r = 0; r < ranks; r++) devices.push(await Device.create({ adapterIndex: job.devices?.[r], label: `rank${r}` }));
    const transports = createInProcessWorld(ranks, { timeoutMs: job.timeoutMs ?? GENERATION_TIMEOUT_MS });
    const res = await Promise.allSettled(transports.map((t, r) => dualParalRank(ProcessGroup.world(t), devices[r]!, job, onProgress, r === 0 ? hooks : {})));
    await Promise.allSettled(transports.map((t) => t.close()));
    const failed = res.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      // The rank whose own failure aborted the world names itself first; else the first rejection.
      const msgs = res.map((r) => (r.status === 'rejected' ? (r.reason as Error) : null));
      const own = msgs.find((e, r) => e && e.message.includes(`on rank ${r} failed`)) ?? msgs[failed]!;
      throw own;
    }
    return (res[0] as PromiseFulfilledResult<DualParalResult>).value;
  } finally {
    devices.forEach((d) => d.destroy());
  }
}

/** `--transport shm`: one worker thread per rank (dualparal-rank-worker.ts). */
export async function generateDualParalWithWorkers(job: DualParalGenerateJob, ranks: number, onProgress?: (p: DualParalProgress) => void): Promise<DualParalResult> {
  const w = startWorkers<DualParalGenerateJob, DualParalResult | null>(ranks, new URL('./dualparal-rank-worker.ts', import.meta.url), job, {
    timeoutMs: job.timeoutMs ?? GENERATION_TIMEOUT_MS,
    ringBytes: 4 << 20,
    onMessage: (rank, v) => {
      if (rank === 0) onProgress?.(v as DualParalProgress);
    },
  });
  const r0 = (await w.done)[0];
  if (!r0) throw new Error('internal error: rank 0 returned no result');
  return r0;
}

/** One rank of an environment-described world (socket transport, multi-host): rank 0 returns the result. */
export async function generateDualParalAsEnvRank(env: DistEnv, job: DualParalGenerateJob, onProgress?: (p: DualParalProgress) => void): Promise<DualParalResult | null> {
  const transport = await connectFromEnv({ timeoutMs: env.timeoutMs ?? job.timeoutMs ?? GENERATION_TIMEOUT_MS });
  const world = ProcessGroup.world(transport);
  try {
    const device = await Device.create({ adapterIndex: await pickRankAdapter(job.devices, env.localRank), label: `rank${world.rank}` });
    try {
      const r = await dualParalRank(world, device, job, onProgress);
      await world.barrier();
      await transport.close();
      return r;
    } finally {
      device.destroy();
    }
  } catch (e) {
    transport.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}
