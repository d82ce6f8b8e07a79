// `parallax generate`: text -> MP4 (+ JSON sidecar, optional PNG frames and latents) through TextToVideoPipeline,
// with a progress bar and per-stage timings. `runGenerate` is reused by `parallax demo`.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDistEnv, type DistEnv } from '../../engine/distributed/env.js';
import { launchLocal } from '../../engine/distributed/launch.js';
import { openCheckpoint, type Checkpoint } from '../../engine/io/checkpoint.js';
import { layoutName } from '../../engine/parallel/parallel-backend.js';
import { GENERATION_TIMEOUT_MS, InProcessParallelPipeline, resolveLayout } from '../../engine/parallel/parallel-pipeline.js';
import type { ParallelLayout } from '../../engine/parallel/parallel-transformer.js';
import { clipLayout, DUAL_SCOPE_DEFAULTS, formatDualScope, parseDualScope, type DualScopeOptions } from '../../engine/parallel/clip-layout.js';
import type { LongStrategy } from '../../engine/parallel/parallel-pipeline.js';
import { generateAsEnvRank, generateWithWorkers, type RankJob, type StepInfo } from '../../engine/parallel/rank-runners.js';
import { backendInfoFromCheckpoint } from '../../engine/pipeline/backend-info.js';
import type { SamplerStep } from '../../engine/pipeline/sampler.js';
import { TextToVideoPipeline, type GenerateResult } from '../../engine/pipeline/text-to-video.js';
import { BACKEND_NAMES, type BackendName } from '../../engine/pipeline/backends.js';
import { GUIDANCE_MODES, SPEC_DEFAULTS, latentShape, randomSeed, resolveGenerateSettings, type GenerateSettings } from '../../engine/pipeline/generate-options.js';
import { estimateGenerationCost } from '../../engine/pipeline/cost.js';
import { loadInitLatents } from '../../engine/pipeline/init-latents.js';
import { checkpointHash } from '../../engine/pipeline/model-hash.js';
import { writeMp4, yuv420Size } from '../../engine/video/mp4.js';
import { writePngFrames } from '../../engine/video/png.js';
import { MODEL_HASH_METHOD, SIDECAR_VERSION, sidecarPath, writeSidecar, type VideoSidecar } from '../../engine/video/sidecar.js';
import { writeSafetensors } from '../../engine/io/safetensors.js';
import { createStepProgress } from '../progress.js';
import { DUALPARAL_DEFAULTS, runDualParalGenerate } from './generate-dualparal.js';
import { newProfiler, PROFILE_HELP, tracePathFor, writeProfile } from '../profile-output.js';
import { COMPUTE_DTYPE_CHOICES, fmtBytes, fmtMs, parseDeviceList, parseFloatArg, parseIntArg, requireModelDir, type ComputeDType } from '../options.js';

export type TransportChoice = (typeof TRANSPORTS)[number];
export const TRANSPORTS = ['inprocess', 'shm', 'socket'] as const;

/** The generation settings (seed optional: random when absent) plus what the command adds around them. */
export interface GenerateCliOptions extends Omit<GenerateSettings, 'seed'> {
  model: string;
  seed?: number;
  fps: number;
  dtype?: ComputeDType;
  out?: string;
  pngFrames?: string;
  latents?: string;
  /** Start from these latents (safetensors, tensor "latents" [1,F,16,h,w], any float dtype) instead of the seeded noise. */
  initLatents?: string;
  /** Also save the initial latents (F32 safetensors, tensor "latents"). */
  saveInitLatents?: string;
  backend: BackendName;
  progress?: boolean;
  /** Validate and print the plan (settings, latent shape, cost estimate) without generating. */
  dryRun?: boolean;
  /** Adapter index per rank (several = parallel generation); repeats put several ranks on one adapter. */
  devices?: number[];
  /** Sequence-parallel size (default: every rank of a CFG branch). */
  sp?: number;
  /** CFG branches on different GPUs (default: on for an even GPU count when guidance > 1). */
  cfgParallel?: boolean;
  /** How the ranks talk: in-process (default), shm worker threads, socket processes. */
  transport?: TransportChoice;
  /** Long-video strategy: clip-parallel (one clip of latent frames per GPU, dual-scope attention) or dualparal. */
  long?: LongStrategy | 'dualparal';
  /** DualParal: latent frames per block (B) and context frames (C); the video has n*B + C latent frames. */
  blockFrames?: number;
  contextFrames?: number;
  /** Dual-scope attention options of --long clip-parallel. */
  dualScope?: Partial<DualScopeOptions>;
  /** This process is one rank of a world described by torchrun-style environment variables. */
  multiHost?: boolean;
  /** Profile the run: true (trace beside the video) or the trace file. */
  profile?: boolean | string;
}

/** Float64 reference throughput used for the time warning (CPU time of `parallax demo` on one core: ~3.7e8 FLOP/s by this cost model). */
const REFERENCE_FLOPS_PER_S = 3e8;
const WARN_AFTER_S = 120;

/** How this run places the model: one device, or a parallel world (layout, ranks, transport). */
interface Placement {
  parallel: boolean;
  ranks: number;
  layout: ParallelLayout;
  transport: TransportChoice | 'env';
  env?: DistEnv;
}

function placement(o: GenerateCliOptions, guidance: number): Placement {
  const env = o.multiHost ? readDistEnv() : undefined;
  const ranks = env?.worldSize ?? o.devices?.length ?? 1;
  const parallel = !!env || ranks > 1 || (o.sp ?? 1) > 1 || o.cfgParallel === true || o.long !== undefined;
  if (parallel && o.backend === 'reference') throw new Error('--backend reference runs on one CPU core; --devices, --sp, --cfg-parallel and --multi-host need --backend gpu');
  if (o.profile && (parallel || o.backend === 'reference')) {
    throw new Error('--profile profiles one GPU device: use it with --backend gpu and at most one device (no --devices list, --sp, --cfg-parallel or --multi-host)');
  }
  if (!parallel && o.transport && o.transport !== 'inprocess') throw new Error(`--transport ${o.transport} needs several GPUs: pass --devices (e.g. --devices 0,1)`);
  const layout = resolveLayout({ ranks, sp: o.sp, cfgParallel: o.cfgParallel, guidance, long: o.long as LongStrategy | undefined, dualScope: o.dualScope });
  return { parallel, ranks, layout, transport: env ? 'env' : (o.transport ?? 'inprocess'), env };
}

/**
 * Long-video options that need a --long strategy: --block-frames/--context-frames (dualparal), --dual-scope
 * (clip-parallel). Also `serve`'s check of a job's long options (same texts).
 */
export function checkLongFlags(o: Pick<GenerateCliOptions, 'long' | 'blockFrames' | 'contextFrames' | 'dualScope'>): void {
  if (o.long !== 'dualparal' && (o.blockFrames !== undefined || o.contextFrames !== undefined)) throw new Error('--block-frames and --context-frames set the blocks of --long dualparal: add --long dualparal');
  if (o.dualScope && !o.long) throw new Error('--dual-scope sets the attention of --long clip-parallel: add --long clip-parallel');
}

export async function runGenerate(o: GenerateCliOptions, log: (s: string) => void = (s) => console.error(s)): Promise<{ video: string; sidecar: string; result?: GenerateResult; streamed?: true }> {
  await requireModelDir(o.model);
  checkLongFlags(o);
  if (o.long === 'dualparal') return runDualParalGenerate(o, log, (x, n) => launchSocketRanks({ ...o, seed: x.seed, out: x.out }, n));
  const seed = o.seed ?? randomSeed();
  const out = o.out ?? join('out', `parallax-${seed}.mp4`);
  if (!/\.mp4$/i.test(out)) throw new Error(`--out ${out}: expected a .mp4 file name`);
  const ckpt = await openCheckpoint(o.model);
  try {
    const place = placement(o, o.guidance);
    const name = place.parallel ? `webgpu-${o.dtype ?? 'f32'}-${layoutName(place.layout)}` : o.backend === 'reference' ? 'reference-f64' : `webgpu-${o.dtype ?? 'f32'}`;
    const info = backendInfoFromCheckpoint(ckpt, name);
    const settings = resolveGenerateSettings({ ...o, seed }, info);
    // clip parallelism: every clip must hold the halo width (checked before any weight is loaded)
    if (place.layout.clip) clipLayout(latentShape(settings, info)[1]!, place.layout.clip.clips, place.layout.clip);
    // checked here, before any weight is loaded (each rank reads the file again and the ranks agree on its hash)
    const init = o.initLatents ? (await loadInitLatents(o.initLatents, latentShape(settings, info), settings)).info : undefined;
    const cost = estimateGenerationCost(ckpt, settings);
    const refSecs = cost.totalFlops / REFERENCE_FLOPS_PER_S;
    if (o.backend === 'reference' && refSecs > WARN_AFTER_S) {
      log(`warning: the float64 reference backend at ${settings.width}x${settings.height}, ${settings.frames} frames, ${settings.steps} steps needs ~${(cost.totalFlops / 1e12).toFixed(1)} TFLOP: expect roughly ${fmtMs(refSecs * 1000)} on one CPU core. Use smaller sizes (e.g. --width 64 --height 64 --frames 3 --steps 4) or --backend gpu.`);
    }
    const clip = place.layout.clip ? { ...DUAL_SCOPE_DEFAULTS, ...place.layout.clip } : undefined; // clip parallelism: clips and dual-scope options
    const parallelInfo = place.parallel ? { ranks: place.ranks, sp: place.layout.sp, cfg: place.layout.cfg, transport: place.transport, devices: o.devices, clip } : undefined;
    if (o.dryRun) {
      console.log(JSON.stringify({
        settings: { ...settings, fps: o.fps }, backend: name, out, parallel: parallelInfo,
        latentShape: latentShape(settings, info), initLatents: init ?? { source: 'seed', seed }, estimatedFlops: cost.totalFlops,
        estimatedReferenceSeconds: o.backend === 'reference' ? Math.round(refSecs) : undefined,
      }, null, 2));
      return { video: out, sidecar: sidecarPath(out) };
    }
    const rank = place.env?.rank ?? 0;
    const where = place.parallel ? `, ${place.ranks} GPU ranks (${clip ? `${clip.clips} clips, dual-scope p=${clip.window} top-k=${clip.topK}` : `SP ${place.layout.sp} x CFG ${place.layout.cfg}`}, ${place.transport === 'env' ? `multi-host rank ${rank}` : `transport ${place.transport}`})` : '';
    if (rank === 0) log(`model ${o.model} (backend ${name}${where}), ${settings.width}x${settings.height}, ${settings.frames} frames, ${settings.steps} steps, guidance ${settings.guidance} (${settings.guidanceMode}), ${init ? `initial latents ${o.initLatents}` : `seed ${seed}`}`);

    if (place.transport === 'socket') {
      // One process per rank on this host: the same command with --multi-host under the local launcher.
      await launchSocketRanks({ ...o, seed, out }, place.ranks);
      return { video: out, sidecar: sidecarPath(out) };
    }
    const bar = o.progress === false || rank !== 0 ? null : createStepProgress(settings.steps);
    let result: GenerateResult | null;
    try {
      result = await produce(o, settings, place, (s) => bar?.onStep(s as SamplerStep));
    } finally {
      bar?.stop();
    }
    if (!result) {
      log(`rank ${rank}: done (rank 0 writes the video)`);
      return { video: out, sidecar: sidecarPath(out) };
    }
    return await writeOutputs(o, ckpt, out, result, parallelInfo, log);
  } finally {
    await ckpt.close();
  }
}

/** Runs the generation where the placement says; null on ranks other than 0 of a multi-host world. */
async function produce(o: GenerateCliOptions, settings: GenerateSettings, place: Placement, onStep: (s: StepInfo) => void): Promise<GenerateResult | null> {
  const gen = { ...settings, initLatents: o.initLatents };
  const job: RankJob = { model: o.model, layout: place.layout, dtype: o.dtype, devices: o.devices, generate: gen };
  switch (place.transport) {
    case 'env':
      return generateAsEnvRank(place.env!, job, onStep);
    case 'shm':
      return generateWithWorkers(job, place.ranks, onStep);
    case 'inprocess': {
      if (!place.parallel) {
        const trace = tracePathFor(o.profile, o.out ?? join('out', `parallax-${settings.seed}.mp4`));
        const profiler = trace ? newProfiler().start() : undefined;
        try {
          const pipe = await TextToVideoPipeline.fromPretrained(o.model, { backend: o.backend, backendOptions: { dtype: o.dtype, adapterIndex: o.devices?.[0], profiler } });
          try {
            return await pipe.generate({ ...gen, onStep });
          } finally {
            await pipe.dispose(); // the GPU backend collects the profile before it releases its device
          }
        } finally {
          if (profiler && trace) {
            profiler.stop();
            await writeProfile(profiler, trace, { log: (m) => console.error(m) });
          }
        }
      }
      const pp = await InProcessParallelPipeline.create(o.model, { devices: o.devices ?? Array(place.ranks).fill(0), layout: place.layout, dtype: o.dtype });
      try {
        return await pp.generate({ ...gen, onStep });
      } finally {
        await pp.dispose();
      }
    }
    default:
      throw new Error(`internal error: transport ${place.transport} is launched elsewhere`);
  }
}

/** The command line that makes a child process one rank of this generation. */
export function rankArgs(o: GenerateCliOptions & { seed: number; out: string }): string[] {
  const a = ['generate', '--multi-host', '--model', o.model, '--prompt', o.prompt, '--negative-prompt', o.negativePrompt,
    '--frames', String(o.frames), '--width', String(o.width), '--height', String(o.height), '--steps', String(o.steps),
    '--guidance', String(o.guidance), '--guidance-mode', o.guidanceMode, '--seed', String(o.seed), '--fps', String(o.fps), '--out', o.out];
  if (o.dtype) a.push('--dtype', o.dtype);
  if (o.pngFrames) a.push('--png-frames', o.pngFrames);
  if (o.latents) a.push('--latents', o.latents);
  if (o.initLatents) a.push('--init-latents', o.initLatents);
  if (o.saveInitLatents) a.push('--save-init-latents', o.saveInitLatents);
  if (o.devices) a.push('--devices', o.devices.join(','));
  if (o.sp !== undefined) a.push('--sp', String(o.sp));
  if (o.cfgParallel !== undefined) a.push(o.cfgParallel ? '--cfg-parallel' : '--no-cfg-parallel');
  if (o.long) a.push('--long', o.long);
  if (o.blockFrames !== undefined) a.push('--block-frames', String(o.blockFrames));
  if (o.contextFrames !== undefined) a.push('--context-frames', String(o.contextFrames));
  if (o.dualScope && formatDualScope(o.dualScope)) a.push('--dual-scope', formatDualScope(o.dualScope));
  if (o.progress === false) a.push('--no-progress');
  return a;
}

export async function launchSocketRanks(o: GenerateCliOptions & { seed: number; out: string }, ranks: number): Promise<void> {
  const script = fileURLToPath(new URL('../main.ts', import.meta.url));
  const w = await launchLocal({ nproc: ranks, script, args: rankArgs(o), env: { PARALLAX_DIST_TIMEOUT_MS: process.env.PARALLAX_DIST_TIMEOUT_MS ?? String(GENERATION_TIMEOUT_MS) } });
  const r = await w.done;
  if (r.failedRank >= 0) {
    const code = r.codes[r.failedRank];
    const why = code !== null ? `exited with code ${code} (its error is printed above)` : `was killed by ${r.signals[r.failedRank]}`;
    throw new Error(`parallel generation failed: rank ${r.failedRank} ${why}`);
  }
}

async function writeOutputs(o: GenerateCliOptions, ckpt: Checkpoint, out: string, result: GenerateResult, parallel: VideoSidecar['parallel'], log: (s: string) => void) {
  const tHash = performance.now();
  const hash = await checkpointHash(ckpt);
  const modelHashMs = performance.now() - tHash;
  const { video, timings } = result;
  const tWrite = performance.now();
  await writeMp4(out, video.frames, { width: video.width, height: video.height, fps: o.fps });
  const videoWriteMs = performance.now() - tWrite;
  if (o.pngFrames) await writePngFrames(o.pngFrames, video.frames, video.width, video.height);
  if (o.latents) await writeSafetensors(o.latents, { latents: { dtype: 'F32', shape: result.latents.shape, data: result.latents.data } });
  if (o.saveInitLatents) await writeSafetensors(o.saveInitLatents, { latents: { dtype: 'F32', shape: result.initialLatents.shape, data: result.initialLatents.data } });
  const enc = yuv420Size(video.width, video.height);
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  const sidecar: VideoSidecar = {
    parallax: { sidecarVersion: SIDECAR_VERSION, version: '0.1.0' },
    createdAt: new Date().toISOString(),
    settings: { ...result.settings, fps: o.fps },
    model: { path: o.model, hash, hashMethod: MODEL_HASH_METHOD },
    backend: { name: result.backend, ...(o.backend === 'reference' ? {} : { dtype: o.dtype ?? 'f32' }) },
    ...(parallel ? { parallel } : {}),
    output: {
      video: out, pngFrames: o.pngFrames, width: video.width, height: video.height, frames: video.frames.length,
      ...(enc.width !== video.width || enc.height !== video.height ? { encodedWidth: enc.width, encodedHeight: enc.height } : {}),
    },
    latentShape: result.latents.shape,
    initLatents: result.init,
    schedule: result.schedule,
    timings: { ...timings, videoWriteMs, modelHashMs },
    peakMemoryBytes: result.peakMemoryBytes,
    weightsLoaded: result.weightsLoaded,
    maxRssBytes,
  };
  const side = sidecarPath(out);
  await writeSidecar(side, sidecar);
  log(`text-encode ${fmtMs(timings.textEncodeMs)}, denoise ${fmtMs(timings.denoiseMs)} (${(timings.stepMs.length / (timings.denoiseMs / 1000)).toFixed(2)} it/s), decode ${fmtMs(timings.decodeMs)}, total ${fmtMs(timings.totalMs)}; mp4 write ${fmtMs(videoWriteMs)}, model hash ${fmtMs(modelHashMs)}`);
  if (result.weightsLoaded) {
    const w = result.weightsLoaded;
    log(`weights${parallel ? ' (rank 0)' : ''}: ${fmtBytes(w.bytes)} in ${w.tensors} tensors streamed to the GPU in ${fmtMs(w.ms)} (${(w.bytes / 1e6 / Math.max(w.ms / 1e3, 1e-9)).toFixed(0)} MB/s)`);
  }
  log(`memory: ${result.peakMemoryBytes !== undefined ? `backend peak ${fmtBytes(result.peakMemoryBytes)}${parallel ? ' (rank 0)' : ''}, ` : ''}process max RSS ${fmtBytes(maxRssBytes)}`);
  return { video: out, sidecar: side, result };
}

export function registerGenerate(program: Command): void {
  const d = SPEC_DEFAULTS;
  program
    .command('generate')
    .description('generate a video from a text prompt: writes an H.264 MP4 and a JSON sidecar (settings, seed, model hash, timings)')
    .requiredOption('--model <dir>', 'diffusers checkpoint folder (Vchitect-2.0 layout)')
    .requiredOption('--prompt <text>', 'text prompt')
    .option('--negative-prompt <text>', 'negative prompt (encoded like the prompt for CFG)', d.negativePrompt)
    .option('--frames <n>', 'number of frames (>= 1)', parseIntArg('--frames'), d.frames)
    .option('--width <px>', 'width in pixels (multiple of 16 = VAE x8 * patch 2)', parseIntArg('--width'), d.width)
    .option('--height <px>', 'height in pixels (multiple of 16)', parseIntArg('--height'), d.height)
    .option('--steps <n>', 'denoising steps (>= 1)', parseIntArg('--steps'), d.steps)
    .option('--guidance <g>', 'classifier-free guidance scale (CFG on when > 1)', parseFloatArg('--guidance'), d.guidance)
    .addOption(new Option('--guidance-mode <mode>', 'reference: the Vchitect per-step weight; constant: plain CFG').choices(GUIDANCE_MODES).default(d.guidanceMode))
    .option('--seed <n>', 'noise seed, integer in [0, 2^53) (default: random, saved in the sidecar)', parseIntArg('--seed', 0))
    .option('--fps <n>', 'frames per second of the MP4', parseFloatArg('--fps', 0.001), d.fps)
    .addOption(new Option('--dtype <dtype>', 'GPU backend dtype (ignored by the float64 reference)').choices(COMPUTE_DTYPE_CHOICES))
    .option('--out <file.mp4>', 'output video, default out/parallax-<seed>.mp4 (sidecar: same name with .json)')
    .option('--png-frames <dir>', 'also write each frame as dir/frame_NNNNN.png')
    .option('--latents <file.safetensors>', 'also save the final latents (tensor "latents", F32 [1,F,16,h,w])')
    .option('--init-latents <file.safetensors>', 'start from these latents instead of the seeded noise (diffusers\' latents=): tensor "latents", any float dtype (F32, F16, BF16, F64), shape [1,F,16,H/8,W/8] exactly as the reference pipeline\'s; the sidecar records the file\'s SHA-256')
    .option('--save-init-latents <file.safetensors>', 'also save the initial latents (the seeded noise or the --init-latents values) as F32, tensor "latents"')
    .addOption(new Option('--backend <name>', 'model backend: gpu (WebGPU) or reference (float64 CPU, tiny checkpoints only)').choices(BACKEND_NAMES).default('gpu'))
    .option('--devices <list>', 'GPUs by adapter index, one rank each, e.g. 0,1,2,3 (parallax doctor --list); several = parallel generation; repeat an index to run several ranks on one adapter (testing)', parseDeviceList)
    .option('--sp <n>', 'sequence-parallel group size (default: every GPU of a CFG branch); Ulysses all-to-all when it divides the head count, else an all-gather of K/V', parseIntArg('--sp', 1))
    .option('--cfg-parallel', 'conditional and unconditional passes on different GPUs (default: on for an even GPU count when --guidance > 1)')
    .option('--no-cfg-parallel', 'run both CFG passes on every sequence-parallel group')
    .addOption(new Option('--long <strategy>', 'long video (docs/long-video.md): clip-parallel = one contiguous clip of latent frames per GPU, dual-scope temporal attention (Video-Infinity); dualparal = a queue of frame blocks denoised over the GPUs as a pipeline of transformer layers, each finished block appended to the MP4 at once').choices(['clip-parallel', 'dualparal']))
    .option('--block-frames <B>', `--long dualparal: latent frames per block (default ${DUALPARAL_DEFAULTS.blockFrames}); --frames must be n*B + C`, parseIntArg('--block-frames', 1))
    .option('--context-frames <C>', `--long dualparal: context frames shared with each neighbouring block, 0..B (default ${DUALPARAL_DEFAULTS.contextFrames})`, parseIntArg('--context-frames', 0))
    .option('--dual-scope <k=v,...>', 'dual-scope attention of --long clip-parallel: window=<p> (8), top-k=<n> (16), switch=<t> (800), bias=<b> (10), rope=global|window, ends=zeros|mask', parseDualScopeArg)
    .addOption(new Option('--transport <kind>', 'how ranks on this host talk: inprocess (one process drives every GPU), shm (one worker thread per GPU, shared-memory rings), socket (one process per GPU over Unix sockets)').choices(TRANSPORTS))
    .option('--multi-host', 'run as ONE rank of a world started by a launcher (torchrun-style RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; Slurm and MPI variables work too); rank 0 writes the video')
    .option('--no-progress', 'no progress bar')
    .option('--dry-run', 'validate the settings, print the plan (latent shape, cost estimate) as JSON and exit')
    .option('--profile [trace.json]', `${PROFILE_HELP} (default: the video's name with .trace.json and .profile.txt; one device only)`)
    .addHelpText('after', `
Parallel generation (docs/parallelism.md):
  one host, 4 GPUs, CFG 2 x SP 2:   parallax generate --model DIR --prompt "..." --devices 0,1,2,3
  one process per GPU:              ... --devices 0,1,2,3 --transport socket
  two hosts (run on each host):     torchrun-style launcher sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT,
                                    then: parallax generate --multi-host --seed 7 --model DIR --prompt "..."
  The same seed gives the same video for every layout.
  long video, one clip per GPU:     ... --frames 64 --devices 0,1,2,3 --long clip-parallel [--dual-scope window=8,top-k=16]
                                    (the video depends on the clip count: dual-scope attention is not full attention)
  long video, DualParal:            ... --frames 36 --devices 0,1,2,3 --long dualparal --block-frames 8 --context-frames 4
                                    (frames = n*B + C; the transformer's layers split over the GPUs; the same video for
                                    any GPU count; each block is appended to the MP4 as soon as it is done)

Initial latents (e.g. from a PyTorch run of the reference pipeline, or from --save-init-latents):
  parallax generate --model DIR --prompt "..." --init-latents noise.safetensors --frames 40 --width 768 --height 432
  The tensor must be [1, frames, 16, height/8, width/8] (here [1, 40, 16, 54, 96]); every layout gives the same
  video for the same latents. The sidecar lists the sigmas and timesteps that ran (after the scheduler's shift).`)
    .action(async (opts: GenerateCliOptions) => {
      const { video, sidecar, result } = await runGenerate(opts);
      if (!result) return; // --long dualparal prints its own lines (rank 0) as it streams
      console.log(video);
      console.error(`wrote ${video} and ${sidecar}`);
    });
}

function parseDualScopeArg(v: string): Partial<DualScopeOptions> {
  try {
    return parseDualScope(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}
