// The engine behind the job server: a Generator for one GPU group. A group of one GPU runs the text-to-video
// pipeline on that adapter; a group of several runs the parallel engine (InProcessParallelPipeline: one rank per
// GPU, SP x CFG layout). Either way the model stays loaded between jobs, per-step latent previews stream, cancellation
// is honoured at step boundaries, and the MP4, PNG frames and sidecar are written into the job's directory.

import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { checkDualParalLayout } from '../cli/commands/generate-dualparal.js';
import { generateDualParalInProcess } from '../engine/parallel/dualparal-generate.js';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { writeProfile } from '../engine/gpu/profile-files.js';
import { Profiler, type Peaks, type ProfilerOptions } from '../engine/gpu/profiler.js';
import type { Checkpoint } from '../engine/io/checkpoint.js';
import { InProcessParallelPipeline, resolveLayout } from '../engine/parallel/parallel-pipeline.js';
import type { ParallelLayout } from '../engine/parallel/parallel-transformer.js';
import type { BackendModelInfo } from '../engine/pipeline/backend.js';
import { sizeMultiple } from '../engine/pipeline/generate-options.js';
import { checkpointHash } from '../engine/pipeline/model-hash.js';
import { MODEL_HASH_METHOD } from '../engine/video/sidecar.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline, type GenerateOptions, type GenerateResult as EngineResult } from '../engine/pipeline/text-to-video.js';
import { writeMp4 } from '../engine/video/mp4.js';
import { writePngFrames } from '../engine/video/png.js';
import type { GenerateHooks, GenerateResult, Generator } from './generator.js';
import { latentPreview } from './latent-preview.js';
import { dualParalBlocks, jobDualScope, longJobError } from './long-job.js';
import { sizeAfterGrowth } from './stream-file.js';

/** How long a block event waits for ffmpeg to write the block's fragment into the growing MP4. */
const BLOCK_WRITE_WAIT_MS = 2000;
import type { JobRequest, RequestLimits } from './schema.js';

export interface PipelineGeneratorOptions {
  /** Checkpoint folder (Vchitect-2.0 diffusers layout). */
  model: string;
  dtype?: DType;
  /** Label of this GPU group in logs and errors. */
  label?: string;
  /** Adapter index of each GPU of the group (default [0]); more than one runs the parallel engine, one rank each. */
  devices?: readonly number[];
  /** Sequence-parallel size of a multi-GPU group (default: see resolveLayout). */
  sp?: number;
  /** Multi-GPU group: CFG branches on different GPUs (default: when the group has an even number of GPUs). */
  cfgParallel?: boolean;
  /** Profile every job (one-GPU groups): per-op table profile.txt and Chrome trace trace.json in the job's folder. */
  profile?: ProfilerOptions;
}

/** What a job needs from either engine (TextToVideoPipeline or InProcessParallelPipeline). */
export interface Engine {
  generate(o: GenerateOptions): Promise<EngineResult>;
  readonly backend: { readonly info: BackendModelInfo };
  readonly checkpoint?: Checkpoint;
  dispose(): Promise<void>;
}

export class PipelineGenerator implements Generator {
  readonly devices: readonly number[];
  /** SP x CFG layout of a multi-GPU group; undefined for one GPU. */
  readonly layout?: ParallelLayout;
  private engine?: Promise<Engine>;
  /** The model's info once loaded (limits() reads it synchronously; the same model is reloaded after a failure). */
  private info?: BackendModelInfo;
  /** Name, fingerprint and folder of the loaded model for sidecars (the path is shown to token holders only). */
  private modelInfo?: Promise<{ name: string; hash?: string; hashMethod?: string; path: string }>;
  /** The one-GPU engine's device (profiled jobs read its timings). */
  private device?: Device;
  private peaks: Peaks | null = null;

  /** Throws at once when the group's layout cannot work (the error says which --sp / --cfg-parallel would). */
  constructor(private readonly opts: PipelineGeneratorOptions) {
    this.devices = opts.devices ?? [0];
    this.layout = groupLayout(this.label, this.devices, opts);
    if (opts.profile && this.layout) throw new Error(`${this.label}: --profile profiles one-GPU groups only; give the group one GPU (e.g. --devices 0)`);
  }

  get label(): string {
    return this.opts.label ?? `group[${this.devices.join('+')}]`;
  }

  /** Loads the model on first use (or now, to fail fast at server start); a failed load is retried next time. */
  load(): Promise<Engine> {
    this.engine ??= this.open().then((e) => ((this.info = e.backend.info), e)).catch((e: unknown) => {
      this.engine = undefined;
      throw new Error(`${this.label}: loading ${this.opts.model} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    });
    return this.engine;
  }

  private async open(): Promise<Engine> {
    const { model } = this.opts;
    const dtype = this.opts.dtype ?? 'f32';
    if (this.layout) return InProcessParallelPipeline.create(model, { devices: this.devices, layout: this.layout, dtype });
    const device = await Device.create({ adapterIndex: this.devices[0], label: this.label, profile: !!this.opts.profile });
    this.device = device;
    try {
      const pipe = await TextToVideoPipeline.fromPretrained(model, { backend: (ckpt) => GpuBackend.create(ckpt, { device, dtype }) });
      // The backend does not own a device it was given: it goes with the pipeline.
      const dispose = async () => {
        await pipe.dispose();
        device.destroy();
      };
      return { generate: (o) => pipe.generate(o), backend: pipe.backend, checkpoint: pipe.checkpoint, dispose };
    } catch (e) {
      device.destroy();
      throw e;
    }
  }

  /** Sizes the loaded model can make: sides up to pos_embed_max_size patches, multiples of VAE scale * patch. */
  limits(): Partial<RequestLimits> {
    const info = this.info;
    if (!info) return {};
    const m = sizeMultiple(info);
    return { sizeMultiple: m, maxWidth: info.posEmbedMaxSize * m, maxHeight: info.posEmbedMaxSize * m };
  }

  private describeModel(engine: Engine) {
    this.modelInfo ??= (async () => {
      const base = { name: basename(resolve(this.opts.model)), path: this.opts.model };
      if (!engine.checkpoint) return base;
      return { ...base, hash: await checkpointHash(engine.checkpoint), hashMethod: MODEL_HASH_METHOD };
    })();
    return this.modelInfo;
  }

  /**
   * Compiles the kernels jobs use (`serve` calls it at start, so the first job does not wait for the shader
   * compiler): one 1-step, 2-frame generation at the smallest size the model takes, its video discarded. The
   * tuning cache, loaded by the CLI, already applies. Returns the milliseconds it took.
   */
  async warm(): Promise<number> {
    const engine = await this.load();
    const { vaeScale, patchSize } = engine.backend.info;
    const t0 = performance.now();
    await engine.generate({ prompt: 'warm-up', frames: 2, width: 2 * vaeScale * patchSize, height: 2 * vaeScale * patchSize, steps: 1, seed: 0 });
    return performance.now() - t0;
  }

  private layers?: number;
  /** The checkpoint's transformer block count (transformer/config.json), or undefined when unreadable. */
  private numLayers(): number | undefined {
    if (this.layers === undefined) {
      try {
        const n = (JSON.parse(readFileSync(join(this.opts.model, 'transformer', 'config.json'), 'utf8')) as { num_layers?: unknown }).num_layers;
        if (typeof n === 'number') this.layers = n;
      } catch {
        /* the load reports a bad checkpoint */
      }
    }
    return this.layers;
  }

  /** Long-video options that do not fit this group (its GPU count, the loaded model's layers): `generate`'s text. */
  check(req: JobRequest): string | null {
    if (req.long === undefined) return null;
    if (this.opts.profile) return `${this.label}: --profile profiles one-GPU jobs without long; a job with long: '${req.long}' cannot run on a profiled server`;
    return longJobError(req, { ranks: this.devices.length, numLayers: this.numLayers() });
  }

  async generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    if (req.long === 'dualparal') return this.generateDualParal(req, hooks);
    if (req.long === 'clip-parallel') return this.generateClipParallel(req, hooks);
    return this.generateWith(await this.load(), req, hooks, true);
  }

  /**
   * long 'clip-parallel': one clip of latent frames per GPU of the group (dual-scope attention), a pipeline with that
   * layout made for the job (weights loaded again) and freed after it.
   */
  private async generateClipParallel(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    const layout = resolveLayout({ ranks: this.devices.length, guidance: req.guidance, long: 'clip-parallel', dualScope: jobDualScope(req) });
    const engine = await InProcessParallelPipeline.create(this.opts.model, { devices: this.devices, layout, dtype: this.opts.dtype ?? 'f32' });
    try {
      const r = await this.generateWith(engine, req, hooks, false);
      return { ...r, sidecar: { ...r.sidecar, layout } };
    } finally {
      await engine.dispose();
    }
  }

  /**
   * long 'dualparal': the block queue over the group's GPUs as a layer pipeline (one rank per GPU, in this process,
   * weights loaded for the job), each finished block decoded and appended to the job's video.mp4 as it leaves the
   * queue (hooks.onBlock), progress per block step.
   */
  private async generateDualParal(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    await this.load(); // the model's info (and a failing checkpoint fails here, as for other jobs)
    const { B, C } = dualParalBlocks(req);
    const { layout } = checkDualParalLayout(req.frames, req.frames, B, C, this.devices.length, this.numLayers());
    const videoPath = join(hooks.outDir, 'video.mp4');
    const settings = {
      prompt: req.prompt, negativePrompt: req.negative_prompt, frames: req.frames, width: req.width, height: req.height,
      steps: req.steps, guidance: req.guidance, guidanceMode: req.guidance_mode, seed: req.seed,
    };
    const total = layout.blocks * req.steps;
    let done = 0;
    // Block events in order, each once the file holds the block (ffmpeg writes it just after the frames reach its pipe).
    let events = Promise.resolve();
    let size = 0;
    const r = await generateDualParalInProcess(
      { model: this.opts.model, dtype: this.opts.dtype, devices: [...this.devices], settings, blockFrames: B, contextFrames: C, out: videoPath, fps: req.fps },
      this.devices.length,
      (p) => {
        events = events.then(async () => {
          size = await sizeAfterGrowth(videoPath, size, BLOCK_WRITE_WAIT_MS);
          hooks.onBlock?.({ ...p, video: videoPath, bytes: size });
        });
      },
      { signal: hooks.signal, onBlockStep: () => hooks.onStep(++done, total) },
    );
    await events;
    return {
      videoPath,
      framePaths: [],
      sidecar: {
        request: req,
        settings: r.settings,
        backend: { name: `webgpu-${this.opts.dtype ?? 'f32'}-dualparal${r.ranks}`, dtype: this.opts.dtype ?? 'f32' },
        devices: this.devices,
        parallel: { ranks: r.ranks, dualparal: { blockFrames: B, contextFrames: C, blocks: r.layout.blocks, layers: r.layers, peakBytesPerRank: r.peakBytesPerRank, weightBytesPerRank: r.weightBytesPerRank } },
        output: { width: r.video.width, height: r.video.height, frames: r.video.frames },
        schedule: r.schedule,
        timings: r.timings,
        peakMemoryBytes: r.peakBytesPerRank[0],
        model: await this.describeModel(await this.load()),
      },
    };
  }

  private async generateWith(engine: Engine, req: JobRequest, hooks: GenerateHooks, shared: boolean): Promise<GenerateResult> {
    const loading = this.engine;
    const profiler = this.opts.profile && this.device ? new Profiler(this.opts.profile) : undefined;
    if (profiler) {
      await this.device!.takeProfile(); // drop what ran before this job (loading, earlier warm-up)
      profiler.peaks = this.peaks;
      profiler.start();
    }
    let result: EngineResult;
    try {
      result = await engine.generate({
        prompt: req.prompt,
        negativePrompt: req.negative_prompt,
        frames: req.frames,
        width: req.width,
        height: req.height,
        steps: req.steps,
        guidance: req.guidance,
        guidanceMode: req.guidance_mode,
        seed: req.seed,
        signal: hooks.signal,
        onStep: (st) => {
          const step = st.step + 1;
          const { latentChannels, vaeScale } = engine.backend.info;
          // Latents are [1, F, C, height/vaeScale, width/vaeScale]; the preview projects the first frame.
          const preview = hooks.wantsPreview(step, st.steps)
            ? latentPreview(st.latents, { frames: req.frames, channels: latentChannels, height: req.height / vaeScale, width: req.width / vaeScale })
            : undefined;
          hooks.onStep(step, st.steps, preview);
        },
      });
    } catch (e) {
      // A parallel pipeline that failed (not an agreed cancellation) refuses further work: free it now and load a
      // fresh one on the next job, so one bad job does not take the group down for good.
      if (shared && this.layout && !isCancellation(e, hooks.signal) && this.engine === loading) {
        this.engine = undefined;
        await engine.dispose().catch(() => undefined);
      }
      throw e;
    } finally {
      if (profiler) {
        profiler.stop();
        await profiler.collect(this.device!);
        this.peaks = profiler.peaks;
        await writeProfile(profiler, join(hooks.outDir, 'trace.json'), { tablePath: join(hooks.outDir, 'profile.txt') });
      }
    }
    const { width, height, frames } = result.video;
    const videoPath = join(hooks.outDir, 'video.mp4');
    await writeMp4(videoPath, frames, { width, height, fps: req.fps });
    const framePaths = await writePngFrames(join(hooks.outDir, 'frames'), frames, width, height);
    return {
      videoPath,
      framePaths,
      sidecar: {
        request: req,
        settings: result.settings,
        backend: result.backend,
        devices: this.devices,
        ...(this.layout && { layout: this.layout }),
        timings: result.timings,
        peakMemoryBytes: result.peakMemoryBytes,
        weightsLoaded: result.weightsLoaded,
        model: await this.describeModel(engine),
      },
    };
  }

  async dispose(): Promise<void> {
    const engine = await this.engine?.catch(() => undefined);
    this.engine = undefined;
    await engine?.dispose();
  }
}

/**
 * The SP x CFG layout of a GPU group (resolveLayout's default unless sp / cfgParallel say otherwise); undefined for a
 * group of one GPU. Errors are resolveLayout's, prefixed with the group's label.
 */
export function groupLayout(label: string, devices: readonly number[], o: { sp?: number; cfgParallel?: boolean }): ParallelLayout | undefined {
  if (devices.length === 0) throw new Error(`${label}: a GPU group needs at least one device`);
  if (devices.length === 1) return undefined;
  try {
    return resolveLayout({ ranks: devices.length, sp: o.sp, cfgParallel: o.cfgParallel });
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`);
  }
}

/** Same rule as the parallel pipeline: the job's own abort reason, or an AbortError, is a cancellation. */
function isCancellation(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted && err === signal.reason) return true;
  return (err instanceof DOMException || err instanceof Error) && err.name === 'AbortError';
}
