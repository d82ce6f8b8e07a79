// TextToVideoPipeline: the diffusers-like text-to-video API (same code in Node and the browser): text encoding
// with CFG, flow-match Euler denoising from seeded noise or given initial latents, VAE decode, per-stage timings and
// the schedule that ran. Backend-agnostic.
import { hostSpan, withHostSpan } from '../gpu/profiler.js';
import { openCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import type { FileStore } from '../io/file-store.js';
import type { DecodedVideo, ModelBackend, Tensor32, TextConditioning } from './backend.js';
import { createBackend, type BackendFactory, type BackendName, type BackendOptions } from './backends.js';
import { latentShape, resolveGenerateSettings, type GenerateSettings } from './generate-options.js';
import { loadInitLatents, type InitLatentsInfo, type InitLatentsSource } from './init-latents.js';
import { philoxNormalNoise, type NoiseFn } from './noise.js';
import { sampleFlowMatch, type SamplerStep } from './sampler.js';
import type { GuidanceMode } from '../reference/flow-match.js';

export interface PipelineOptions {
  /** A backend name, a factory over the opened checkpoint, or a ready backend (default 'reference'; the pipeline owns it: dispose() disposes it). */
  backend?: BackendName | BackendFactory | ModelBackend;
  backendOptions?: BackendOptions;
  /** Initial-noise generator (default: philoxNormalNoise from noise.ts, the engine's Philox). */
  noise?: NoiseFn;
}

export interface GenerateOptions {
  prompt: string;
  /** Unconditional prompt, encoded like the prompt (default ''). */
  negativePrompt?: string;
  frames?: number;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  guidanceMode?: GuidanceMode;
  /** Default: a random seed (returned in the result's settings). Unused when initLatents is given. */
  seed?: number;
  /**
   * Start from these latents instead of the seeded noise (diffusers' `latents=`): a tensor, a safetensors file's
   * bytes or (Node) its path, tensor "latents" of any float dtype, shape [1, F, C, H/8, W/8] exactly (init-latents.ts).
   */
  initLatents?: InitLatentsSource;
  onStep?: (s: SamplerStep) => void | Promise<void>;
  /** Cancels between stages and denoising steps (rejects with the signal's reason, an AbortError by default). */
  signal?: AbortSignal;
}

export interface GenerateTimings {
  textEncodeMs: number;
  denoiseMs: number;
  decodeMs: number;
  totalMs: number;
  /** Per denoising step. */
  stepMs: number[];
}

/** The flow-match schedule a generation ran: N+1 sigmas (after the scheduler's shift, last 0), N timesteps sigma*1000. */
export interface RanSchedule {
  sigmas: number[];
  timesteps: number[];
}

export interface GenerateResult {
  settings: GenerateSettings;
  /** Where the initial latents came from (seed, file or tensor, with hashes). */
  init: InitLatentsInfo;
  /** The initial latents [1, F, C, h, w] the sampler started from. */
  initialLatents: Tensor32;
  /** The sigmas and timesteps of the steps that ran (what the sampler reported, step by step). */
  schedule: RanSchedule;
  /** Final latents [1, F, C, h, w]. */
  latents: Tensor32;
  video: DecodedVideo;
  timings: GenerateTimings;
  backend: string;
  peakMemoryBytes?: number;
  /** Weights the backend streamed to the device (bytes read, tensors, ms), when it reports them. */
  weightsLoaded?: { bytes: number; tensors: number; ms: number };
}

const now = () => performance.now();

export class TextToVideoPipeline {
  readonly noise: NoiseFn;

  constructor(readonly backend: ModelBackend, opts: { noise?: NoiseFn; checkpoint?: Checkpoint } = {}) {
    this.noise = opts.noise ?? philoxNormalNoise;
    this.checkpoint = opts.checkpoint;
  }

  /** The opened checkpoint when created by fromPretrained (closed by dispose()). */
  readonly checkpoint?: Checkpoint;

  /** Opens a diffusers folder (Node path or FileStore, e.g. HttpFileStore in the browser) and creates the backend. */
  static async fromPretrained(dirOrStore: string | FileStore, opts: PipelineOptions = {}): Promise<TextToVideoPipeline> {
    const ckpt = await openCheckpoint(dirOrStore);
    try {
      const b = opts.backend ?? 'reference';
      const backend = typeof b === 'string' ? await createBackend(b, ckpt, opts.backendOptions) : typeof b === 'function' ? await b(ckpt, opts.backendOptions ?? {}) : b;
      return new TextToVideoPipeline(backend, { noise: opts.noise, checkpoint: ckpt });
    } catch (e) {
      await ckpt.close();
      throw e;
    }
  }

  /** Fills in the spec defaults and validates everything (throws GenerateOptionsError). */
  resolveSettings(o: GenerateOptions): GenerateSettings {
    return resolveGenerateSettings(o, this.backend.info);
  }

  /** Initial latents for the settings: noise(shape, seed). */
  initialLatents(s: Pick<GenerateSettings, 'frames' | 'width' | 'height' | 'seed'>): Tensor32 {
    const shape = latentShape(s, this.backend.info);
    const data = this.noise(shape, s.seed);
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`noise function returned ${data.length} values for shape [${shape.join(',')}] (${n})`);
    return { shape, data };
  }

  /** The settings' initial latents: the given ones (checked against the settings' shape) or the seeded noise. */
  async prepareLatents(s: GenerateSettings, given?: InitLatentsSource): Promise<{ latents: Tensor32; info: InitLatentsInfo }> {
    if (given === undefined) return { latents: this.initialLatents(s), info: { source: 'seed', seed: s.seed } };
    return loadInitLatents(given, latentShape(s, this.backend.info), s);
  }

  /** Denoises `init` with the given conditioning (uncond is only used when guidance > 1). */
  async denoise(init: Tensor32, cond: TextConditioning, uncond: TextConditioning | null, s: GenerateSettings, onStep?: GenerateOptions['onStep']): Promise<Tensor32> {
    const b = this.backend;
    const shape = init.shape;
    const data = await sampleFlowMatch(init.data, {
      steps: s.steps, shift: b.info.shift, numTrainTimesteps: b.info.numTrainTimesteps, guidance: s.guidance, guidanceMode: s.guidanceMode,
      velocity: (x, t, withUncond, step, weight) => withHostSpan(`step ${step + 1}`, 'step', async () => {
        const lat = { shape, data: x };
        if (!withUncond) return { cond: await b.velocity(lat, t, cond) };
        if (!uncond) throw new Error('denoise: guidance > 1 needs the unconditional (negative prompt) conditioning');
        if (b.guidedVelocity) return { guided: await b.guidedVelocity(lat, t, cond, uncond, weight) };
        if (b.velocityPair) {
          const [c, u] = await b.velocityPair(lat, t, cond, uncond);
          return { cond: c, uncond: u };
        }
        return { cond: await b.velocity(lat, t, cond), uncond: await b.velocity(lat, t, uncond) };
      }),
      onStep,
    });
    return { shape: [...shape], data };
  }

  async generate(o: GenerateOptions): Promise<GenerateResult> {
    const s = this.resolveSettings(o);
    const check = () => o.signal?.throwIfAborted();
    check();
    const init = await this.prepareLatents(s, o.initLatents);
    await this.backend.beginGeneration?.(s, init.info);
    const tStart = now();
    const useCfg = s.guidance > 1;
    const endText = hostSpan('text encode', 'stage');
    const cond = await this.backend.encodeText(s.prompt);
    check();
    const uncond = useCfg ? await this.backend.encodeText(s.negativePrompt) : null;
    check();
    endText();
    const tText = now();
    const endDenoise = hostSpan('denoise', 'stage');
    const stepMs: number[] = [];
    const schedule: RanSchedule = { sigmas: [], timesteps: [] };
    const latents = await this.denoise(init.latents, cond, uncond, s, async (st) => {
      stepMs.push(st.ms);
      schedule.timesteps.push(st.timestep);
      schedule.sigmas[st.step] = st.sigma;
      schedule.sigmas[st.step + 1] = st.sigmaNext;
      await o.onStep?.(st);
      check();
    });
    endDenoise();
    const tDenoise = now();
    const video = await withHostSpan('VAE decode', 'stage', () => this.backend.decode(latents));
    const tEnd = now();
    return {
      settings: s,
      init: init.info,
      initialLatents: init.latents,
      schedule,
      latents,
      video,
      timings: { textEncodeMs: tText - tStart, denoiseMs: tDenoise - tText, decodeMs: tEnd - tDenoise, totalMs: tEnd - tStart, stepMs },
      backend: this.backend.info.name,
      peakMemoryBytes: this.backend.peakMemoryBytes?.(),
      weightsLoaded: this.backend.weightsLoaded?.(),
    };
  }

  /** Releases the backend and closes the checkpoint files. */
  async dispose(): Promise<void> {
    await this.backend.dispose();
    await this.checkpoint?.close();
  }
}
