// Single-stage commands: `parallax encode-text`, `parallax forward` (one transformer call) and `parallax decode`
// (latents -> MP4 or PNG frames), each on the chosen backend with safetensors in and out. Each opens and validates
// only the part of the checkpoint it uses (text encoders, transformer, VAE), so a folder holding just that part works.
import { Option, type Command } from 'commander';
import { openSafetensors, writeSafetensors } from '../../engine/io/safetensors.js';
import { openCheckpointParts, type CheckpointPart } from '../../engine/io/checkpoint.js';
import { BACKEND_NAMES, createStageBackend, type BackendName } from '../../engine/pipeline/backends.js';
import type { ModelBackend, Tensor32 } from '../../engine/pipeline/backend.js';
import { writeMp4 } from '../../engine/video/mp4.js';
import { writePngFrames } from '../../engine/video/png.js';
import { SPEC_DEFAULTS } from '../../engine/pipeline/generate-options.js';
import { withHostSpan, type Profiler } from '../../engine/gpu/profiler.js';
import { newProfiler, PROFILE_HELP, tracePathFor, writeProfile } from '../profile-output.js';
import { COMPUTE_DTYPE_CHOICES, fmtMs, parseFloatArg, requireModelDir, type DTypeChoice } from '../options.js';

interface StageOpts {
  model: string;
  backend: BackendName;
  dtype?: DTypeChoice;
}

/** Opens only `part` of the --model folder, makes a backend over it (profiled when a profiler is given), runs f, and closes both. */
async function withBackend<T>(o: StageOpts, command: string, part: CheckpointPart, f: (b: ModelBackend) => Promise<T>, profiler?: Profiler): Promise<T> {
  await requireModelDir(o.model);
  const ckpt = await openCheckpointParts(o.model, [part], `\`parallax ${command}\``);
  try {
    const b = await createStageBackend(o.backend, ckpt, [part], { dtype: o.dtype, profiler });
    try {
      return await f(b);
    } finally {
      await b.dispose();
    }
  } finally {
    await ckpt.close();
  }
}

const fmt = (s: readonly (number | string)[]) => `[${s.join(',')}]`;

/** Reads a named F32-convertible tensor and checks its rank and fixed dims (-1 = any). */
async function readInput(path: string, r: Awaited<ReturnType<typeof openSafetensors>>, name: string, want: number[]): Promise<Tensor32> {
  if (!r.has(name)) throw new Error(`${path}: missing tensor "${name}" (expected shape ${fmt(want.map((d) => (d < 0 ? 'N' : d)))}; has ${r.keys().join(', ') || 'none'})`);
  const info = r.info(name);
  if (info.shape.length !== want.length || want.some((d, i) => d >= 0 && d !== info.shape[i])) {
    throw new Error(`${path}: tensor "${name}" has shape ${fmt(info.shape)}, expected ${fmt(want.map((d) => (d < 0 ? 'N' : d)))}`);
  }
  return { shape: [...info.shape], data: Float32Array.from(await r.readFloat32(name)) };
}

function backendOptions(cmd: Command, modelHelp: string): Command {
  return cmd
    .requiredOption('--model <dir>', modelHelp)
    .addOption(new Option('--backend <name>', 'model backend: gpu (WebGPU) or reference (float64 CPU)').choices(BACKEND_NAMES).default('gpu'))
    .addOption(new Option('--dtype <dtype>', 'GPU backend dtype (ignored by the float64 reference)').choices(COMPUTE_DTYPE_CHOICES));
}

export function registerStages(program: Command): void {
  backendOptions(program.command('encode-text').description('run the text encoders alone: writes prompt_embeds [1,T,J] and pooled_projections [1,P] (F32)'),
    'diffusers folder; only text_encoder/, text_encoder_2/, text_encoder_3/ (optional) and tokenizer*/ are read')
    .requiredOption('--prompt <text>', 'text prompt')
    .option('--negative-prompt <text>', 'also write negative_prompt_embeds and negative_pooled_projections for this prompt')
    .requiredOption('--out <file.safetensors>', 'output file')
    .action(async (o: StageOpts & { prompt: string; negativePrompt?: string; out: string }) => {
      await withBackend(o, 'encode-text', 'text', async (b) => {
        const t0 = performance.now();
        const c = await b.encodeText(o.prompt);
        const tensors: [string, { dtype: 'F32'; shape: number[]; data: Float32Array }][] = [
          ['prompt_embeds', { dtype: 'F32', shape: [1, c.tokens, c.jointDim], data: c.promptEmbeds }],
          ['pooled_projections', { dtype: 'F32', shape: [1, c.pooled.length], data: c.pooled }],
        ];
        if (o.negativePrompt !== undefined) {
          const n = await b.encodeText(o.negativePrompt);
          tensors.push(['negative_prompt_embeds', { dtype: 'F32', shape: [1, n.tokens, n.jointDim], data: n.promptEmbeds }]);
          tensors.push(['negative_pooled_projections', { dtype: 'F32', shape: [1, n.pooled.length], data: n.pooled }]);
        }
        await writeSafetensors(o.out, tensors);
        console.error(`text-encode ${fmtMs(performance.now() - t0)}: prompt_embeds [1,${c.tokens},${c.jointDim}], pooled_projections [1,${c.pooled.length}] -> ${o.out}`);
      });
    });

  backendOptions(program.command('forward').description('one transformer forward: hidden_states [1,F,C,H,W], timestep [1], encoder_hidden_states [1,T,J], pooled_projections [1,P] -> sample [1,F,C,H,W] (F32)'),
    'diffusers folder (only transformer/ is read), or a transformer folder itself (config.json + diffusion_pytorch_model*.safetensors)')
    .requiredOption('--inputs <file.safetensors>', 'input tensors (any float dtype)')
    .requiredOption('--out <file.safetensors>', 'output file with tensor "sample"')
    .option('--profile [trace.json]', `${PROFILE_HELP} (default: the output's name with .trace.json and .profile.txt)`)
    .action(async (o: StageOpts & { inputs: string; out: string; profile?: boolean | string }) => {
      const trace = tracePathFor(o.profile, o.out);
      if (trace && o.backend !== 'gpu') throw new Error('--profile times GPU dispatches: use it with --backend gpu');
      const profiler = trace ? newProfiler().start() : undefined;
      await withBackend(o, 'forward', 'transformer', async (b) => {
        const r = await openSafetensors(o.inputs);
        try {
          const i = b.info;
          const hs = await readInput(o.inputs, r, 'hidden_states', [1, -1, i.latentChannels, -1, -1]);
          const ts = await readInput(o.inputs, r, 'timestep', [1]);
          const ehs = await readInput(o.inputs, r, 'encoder_hidden_states', [1, -1, i.jointDim]);
          const pooled = await readInput(o.inputs, r, 'pooled_projections', [1, i.pooledDim]);
          const t0 = performance.now();
          const v = await withHostSpan('forward', 'stage', () => b.velocity(hs, ts.data[0], { promptEmbeds: ehs.data, tokens: ehs.shape[1], jointDim: i.jointDim, pooled: pooled.data }));
          await writeSafetensors(o.out, { sample: { dtype: 'F32', shape: hs.shape, data: v } });
          console.error(`forward ${fmtMs(performance.now() - t0)}: sample ${fmt(hs.shape)} -> ${o.out}`);
        } finally {
          await r.close();
        }
      }, profiler);
      if (profiler && trace) {
        profiler.stop();
        await writeProfile(profiler, trace, { log: (m) => console.error(m) });
      }
    });

  backendOptions(program.command('decode').description('VAE-decode latents [1,F,C,h,w] (tensor "latents", or the file\'s only tensor) to an MP4 (.mp4) or a folder of PNG frames'),
    'diffusers folder (only vae/ is read), or a VAE folder itself (config.json + diffusion_pytorch_model*.safetensors)')
    .requiredOption('--inputs <file.safetensors>', 'latents file')
    .requiredOption('--out <file.mp4|dir>', 'an .mp4 file, otherwise a folder for frame_NNNNN.png')
    .option('--fps <n>', 'frames per second of the MP4', parseFloatArg('--fps', 0.001), SPEC_DEFAULTS.fps)
    .action(async (o: StageOpts & { inputs: string; out: string; fps: number }) => {
      await withBackend(o, 'decode', 'vae', async (b) => {
        const r = await openSafetensors(o.inputs);
        let lat: Tensor32;
        try {
          const keys = r.keys();
          const name = r.has('latents') ? 'latents' : keys.length === 1 ? keys[0] : null;
          if (!name) throw new Error(`${o.inputs}: expected a tensor named "latents" (or a single tensor), found ${keys.join(', ') || 'none'}`);
          lat = await readInput(o.inputs, r, name, [1, -1, b.info.latentChannels, -1, -1]);
        } finally {
          await r.close();
        }
        const t0 = performance.now();
        const v = await b.decode(lat);
        const ms = performance.now() - t0;
        if (/\.mp4$/i.test(o.out)) await writeMp4(o.out, v.frames, { width: v.width, height: v.height, fps: o.fps });
        else await writePngFrames(o.out, v.frames, v.width, v.height);
        console.error(`decode ${fmtMs(ms)}: ${v.frames.length} frames ${v.width}x${v.height} -> ${o.out}`);
      });
    });
}
