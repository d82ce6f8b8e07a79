// `parallax generate`: text -> MP4 (+ JSON sidecar, optional PNG frames and latents) through TextToVideoPipeline,
// with a progress bar and per-stage timings. `runGenerate` is reused by `parallax demo`.
import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { TextToVideoPipeline, type GenerateResult } from '../../engine/pipeline/text-to-video.js';
import { BACKEND_NAMES, type BackendName } from '../../engine/pipeline/backends.js';
import { GUIDANCE_MODES, SPEC_DEFAULTS, latentShape, randomSeed } from '../../engine/pipeline/generate-options.js';
import { estimateGenerationCost } from '../../engine/pipeline/cost.js';
import { checkpointHash } from '../../engine/pipeline/model-hash.js';
import type { GuidanceMode } from '../../engine/reference/flow-match.js';
import { writeMp4, yuv420Size } from '../../engine/video/mp4.js';
import { writePngFrames } from '../../engine/video/png.js';
import { MODEL_HASH_METHOD, SIDECAR_VERSION, sidecarPath, writeSidecar, type VideoSidecar } from '../../engine/video/sidecar.js';
import { writeSafetensors } from '../../engine/io/safetensors.js';
import { createStepProgress } from '../progress.js';
import { COMPUTE_DTYPE_CHOICES, fmtBytes, fmtMs, parseFloatArg, parseIntArg, requireModelDir, type DTypeChoice } from '../options.js';

export interface GenerateCliOptions {
  model: string;
  prompt: string;
  negativePrompt: string;
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  seed?: number;
  fps: number;
  dtype?: DTypeChoice;
  out?: string;
  pngFrames?: string;
  latents?: string;
  backend: BackendName;
  progress?: boolean;
  /** Validate and print the plan (settings, latent shape, cost estimate) without generating. */
  dryRun?: boolean;
}

/** Float64 reference throughput used for the time warning (CPU time of `parallax demo` on one core: ~3.7e8 FLOP/s by this cost model). */
const REFERENCE_FLOPS_PER_S = 3e8;
const WARN_AFTER_S = 120;

export async function runGenerate(o: GenerateCliOptions, log: (s: string) => void = (s) => console.error(s)): Promise<{ video: string; sidecar: string; result?: GenerateResult }> {
  await requireModelDir(o.model);
  const seed = o.seed ?? randomSeed();
  const out = o.out ?? join('out', `parallax-${seed}.mp4`);
  if (!/\.mp4$/i.test(out)) throw new Error(`--out ${out}: expected a .mp4 file name`);
  const pipe = await TextToVideoPipeline.fromPretrained(o.model, { backend: o.backend, backendOptions: { dtype: o.dtype } });
  try {
    const settings = pipe.resolveSettings({ ...o, seed });
    const ckpt = pipe.checkpoint!;
    const cost = estimateGenerationCost(ckpt, settings);
    const refSecs = cost.totalFlops / REFERENCE_FLOPS_PER_S;
    if (o.backend === 'reference') {
      const secs = refSecs;
      if (secs > WARN_AFTER_S) {
        log(`warning: the float64 reference backend at ${settings.width}x${settings.height}, ${settings.frames} frames, ${settings.steps} steps needs ~${(cost.totalFlops / 1e12).toFixed(1)} TFLOP: expect roughly ${fmtMs(secs * 1000)} on one CPU core. Use smaller sizes (e.g. --width 64 --height 64 --frames 3 --steps 4) or --backend gpu.`);
      }
    }
    if (o.dryRun) {
      console.log(JSON.stringify({
        settings: { ...settings, fps: o.fps }, backend: pipe.backend.info.name, out,
        latentShape: latentShape(settings, pipe.backend.info), estimatedFlops: cost.totalFlops,
        estimatedReferenceSeconds: o.backend === 'reference' ? Math.round(refSecs) : undefined,
      }, null, 2));
      return { video: out, sidecar: sidecarPath(out) };
    }
    log(`model ${o.model} (backend ${pipe.backend.info.name}), ${settings.width}x${settings.height}, ${settings.frames} frames, ${settings.steps} steps, guidance ${settings.guidance} (${settings.guidanceMode}), seed ${seed}`);
    const tHash = performance.now();
    const hash = await checkpointHash(ckpt);
    const modelHashMs = performance.now() - tHash;
    const bar = o.progress === false ? null : createStepProgress(settings.steps);
    let result: GenerateResult;
    try {
      result = await pipe.generate({ ...settings, onStep: (s) => bar?.onStep(s) });
    } finally {
      bar?.stop();
    }
    const { video, timings } = result;
    const tWrite = performance.now();
    await writeMp4(out, video.frames, { width: video.width, height: video.height, fps: o.fps });
    const videoWriteMs = performance.now() - tWrite;
    if (o.pngFrames) await writePngFrames(o.pngFrames, video.frames, video.width, video.height);
    if (o.latents) await writeSafetensors(o.latents, { latents: { dtype: 'F32', shape: result.latents.shape, data: result.latents.data } });
    const enc = yuv420Size(video.width, video.height);
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    const sidecar: VideoSidecar = {
      parallax: { sidecarVersion: SIDECAR_VERSION, version: '0.1.0' },
      createdAt: new Date().toISOString(),
      settings: { ...result.settings, fps: o.fps },
      model: { path: o.model, hash, hashMethod: MODEL_HASH_METHOD },
      backend: { name: result.backend, ...(o.backend === 'reference' ? {} : { dtype: o.dtype }) },
      output: {
        video: out, pngFrames: o.pngFrames, width: video.width, height: video.height, frames: video.frames.length,
        ...(enc.width !== video.width || enc.height !== video.height ? { encodedWidth: enc.width, encodedHeight: enc.height } : {}),
      },
      latentShape: result.latents.shape,
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
      log(`weights: ${fmtBytes(w.bytes)} in ${w.tensors} tensors streamed to the GPU in ${fmtMs(w.ms)} (${(w.bytes / 1e6 / Math.max(w.ms / 1e3, 1e-9)).toFixed(0)} MB/s)`);
    }
    log(`memory: ${result.peakMemoryBytes !== undefined ? `backend peak ${fmtBytes(result.peakMemoryBytes)}, ` : ''}process max RSS ${fmtBytes(maxRssBytes)}`);
    return { video: out, sidecar: side, result };
  } finally {
    await pipe.dispose();
  }
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
    .addOption(new Option('--backend <name>', 'model backend: gpu (WebGPU) or reference (float64 CPU, tiny checkpoints only)').choices(BACKEND_NAMES).default('gpu'))
    .option('--no-progress', 'no progress bar')
    .option('--dry-run', 'validate the settings, print the plan (latent shape, cost estimate) as JSON and exit')
    .action(async (opts: GenerateCliOptions) => {
      const { video, sidecar, result } = await runGenerate(opts);
      if (!result) return;
      console.log(video);
      console.error(`wrote ${video} and ${sidecar}`);
    });
}
