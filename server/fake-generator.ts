// Deterministic stand-in for the GPU engine (tests and `--fake` dev runs): sleeps per step, emits previews
// through the real latentPreview projection, and writes a small valid placeholder output set.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GenerateHooks, GenerateResult, Generator } from './generator.js';
import { encodeRgbaPng, latentPreview } from './latent-preview.js';
import type { JobRequest, RequestLimits } from './schema.js';
import { mulberry32 } from '../engine/mulberry32.js';

export interface FakeGeneratorOptions {
  /** Milliseconds slept per denoising step (default 5). */
  msPerStep?: number;
  /** Send a preview every N steps (default 1; 0 = never). */
  previewEvery?: number;
  /** Throw at this step (1-based) for every job; or decide per request with shouldFail. */
  failAtStep?: number;
  shouldFail?: (req: JobRequest) => boolean;
  /** Output frames are (width/scale) x (height/scale) pixels (default 16) to keep files tiny. */
  scale?: number;
  /** Caps the number of frame PNGs written (default: all frames). */
  maxFrameFiles?: number;
  /** What this stand-in claims it can make (as a loaded model would), e.g. {maxWidth: 256, maxHeight: 256}; default none. */
  limits?: Partial<RequestLimits>;
}

function box(type: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(payload, 8);
  return out;
}

/** Smallest well-formed MP4 (ISO BMFF): ftyp + moov/mvhd with the clip duration, no media tracks. */
export function placeholderMp4(durationMs: number): Uint8Array {
  const ftyp = new Uint8Array(16);
  const brands = 'isom' + '\0\0\x02\0' + 'isom' + 'mp41';
  for (let i = 0; i < 16; i++) ftyp[i] = brands.charCodeAt(i);
  const mvhd = new Uint8Array(100);
  const v = new DataView(mvhd.buffer);
  v.setUint32(12, 1000); // timescale
  v.setUint32(16, Math.max(0, Math.round(durationMs))); // duration
  v.setUint32(20, 0x00010000); // rate 1.0
  v.setUint16(24, 0x0100); // volume 1.0
  const matrix = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];
  matrix.forEach((m, i) => v.setUint32(36 + i * 4, m));
  v.setUint32(96, 1); // next_track_ID
  const moov = box('moov', box('mvhd', mvhd));
  const ftypBox = box('ftyp', ftyp);
  const out = new Uint8Array(ftypBox.length + moov.length);
  out.set(ftypBox, 0);
  out.set(moov, ftypBox.length);
  return out;
}

export class FakeGenerator implements Generator {
  readonly calls: JobRequest[] = [];
  constructor(private readonly opts: FakeGeneratorOptions = {}) {}

  limits(): Partial<RequestLimits> {
    return this.opts.limits ?? {};
  }

  async generate(req: JobRequest, hooks: GenerateHooks): Promise<GenerateResult> {
    this.calls.push(req);
    const lim = this.opts.limits ?? {};
    for (const [name, v, max] of [['width', req.width, lim.maxWidth], ['height', req.height, lim.maxHeight], ['frames', req.frames, lim.maxFrames]] as const) {
      if (max !== undefined && v > max) throw new Error(`FakeGenerator: ${name} ${v} exceeds its maximum ${max}`);
    }
    const msPerStep = this.opts.msPerStep ?? 5;
    const previewEvery = this.opts.previewEvery ?? 1;
    const scale = this.opts.scale ?? 16;
    const w = Math.max(1, Math.floor(req.width / scale));
    const h = Math.max(1, Math.floor(req.height / scale));
    const rand = mulberry32(req.seed); // outputs depend only on the seed
    const latents = new Float32Array(16 * w * h);
    for (let i = 0; i < latents.length; i++) latents[i] = rand() * 4 - 2;
    const started = Date.now();
    const fail = this.opts.shouldFail?.(req) ?? false;

    for (let step = 1; step <= req.steps; step++) {
      if (hooks.signal.aborted) throw new Error('aborted');
      await sleep(msPerStep, hooks.signal);
      if (hooks.signal.aborted) throw new Error('aborted');
      if (this.opts.failAtStep === step || (fail && step === Math.ceil(req.steps / 2))) {
        throw new Error(`FakeGenerator: simulated failure at step ${step}`);
      }
      for (let i = 0; i < latents.length; i++) latents[i] *= 0.97; // "denoise" towards the bias colour
      const preview =
        previewEvery > 0 && step % previewEvery === 0 && hooks.wantsPreview(step, req.steps)
          ? latentPreview(latents, { frames: 1, channels: 16, height: h, width: w })
          : undefined;
      hooks.onStep(step, req.steps, preview);
    }

    const framesDir = join(hooks.outDir, 'frames');
    await mkdir(framesDir, { recursive: true });
    const frameCount = Math.min(req.frames, this.opts.maxFrameFiles ?? req.frames);
    const framePaths: string[] = [];
    for (let f = 0; f < frameCount; f++) {
      const rgba = new Uint8Array(w * h * 4);
      for (let p = 0; p < w * h; p++) {
        rgba[p * 4] = (req.seed + f * 7 + p) & 255;
        rgba[p * 4 + 1] = (req.seed >>> 8) & 255;
        rgba[p * 4 + 2] = (f * 255) / Math.max(1, frameCount - 1);
        rgba[p * 4 + 3] = 255;
      }
      const path = join('frames', `frame_${String(f).padStart(4, '0')}.png`);
      await writeFile(join(hooks.outDir, path), encodeRgbaPng({ width: w, height: h, rgba }));
      framePaths.push(path);
    }
    await writeFile(join(hooks.outDir, 'video.mp4'), placeholderMp4((req.frames / req.fps) * 1000));
    return {
      videoPath: 'video.mp4',
      framePaths,
      sidecar: { generator: 'fake', request: req, elapsed_ms: Date.now() - started, frame_size: [w, h] },
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0) return void setImmediate(resolve);
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
