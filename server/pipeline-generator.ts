// The engine behind the job server: a Generator that runs the text-to-video pipeline on its own GPU device,
// keeps the model loaded between jobs, streams per-step latent previews, honours cancellation at step boundaries
// and writes the MP4, PNG frames and sidecar into the job's directory.

import { join } from 'node:path';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline } from '../engine/pipeline/text-to-video.js';
import { writeMp4 } from '../engine/video/mp4.js';
import { writePngFrames } from '../engine/video/png.js';
import type { GenerateHooks, GenerateResult, Generator } from './generator.js';
import { latentPreview } from './latent-preview.js';
import type { JobRequest } from './schema.js';

export interface PipelineGeneratorOptions {
  /** Checkpoint folder (Vchitect-2.0 diffusers layout). */
  model: string;
  dtype?: DType;
  /** Label of this GPU group in logs and errors. */
  label?: string;
}

export class PipelineGenerator implements Generator {
  private pipeline?: Promise<TextToVideoPipeline>;

  constructor(private readonly opts: PipelineGeneratorOptions) {}

  /** Loads the model on first use (or now, to fail fast at server start). */
  load(): Promise<TextToVideoPipeline> {
    this.pipeline ??= (async () => {
      const device = await Device.create({ label: this.opts.label ?? 'serve' });
      return TextToVideoPipeline.fromPretrained(this.opts.model, {
        backend: (ckpt) => GpuBackend.create(ckpt, { device, dtype: this.opts.dtype ?? 'f32' }),
      });
    })();
    return this.pipeline;
  }

  async generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    const pipe = await this.load();
    const result = await pipe.generate({
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
        const { latentChannels, vaeScale } = pipe.backend.info;
        // Latents are [1, F, C, height/vaeScale, width/vaeScale]; the preview projects the first frame.
        const preview = hooks.wantsPreview(step, st.steps)
          ? latentPreview(st.latents, { frames: req.frames, channels: latentChannels, height: req.height / vaeScale, width: req.width / vaeScale })
          : undefined;
        hooks.onStep(step, st.steps, preview);
      },
    });
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
        timings: result.timings,
        peakMemoryBytes: result.peakMemoryBytes,
        weightsLoaded: result.weightsLoaded,
        model: this.opts.model,
      },
    };
  }

  async dispose(): Promise<void> {
    if (this.pipeline) await (await this.pipeline).dispose();
  }
}
