// The in-browser preview stand-in (used when the server exposes no model to run): a rectified-flow Euler sampler run with the
// engine's kernels on navigator.gpu, where the transformer's velocity is replaced by the exact velocity
// towards a procedural latent "scene" seeded by the prompt and seed. Frames are projected to RGB with the
// same SD3 latent->RGB factors the server's previews use. See docs/client.md.
import type { Device } from '../../engine/gpu/device.js';
import { mulberry32 } from '../../engine/mulberry32.js';
import { axpby, sub } from '../../engine/ops/elementwise.js';
import { Tensor } from '../../engine/tensor.js';
import { latentPreview } from '../../server/latent-preview.js';
import type { LocalPreviewRequest, LocalProgress, LocalPreviewResult, RgbaFrame } from './protocol.js';

export const LATENT_CHANNELS = 16;
/** VAE downsampling of Vchitect-2.0 (SD3 VAE): latents are 1/8 of the video in each spatial axis. */
export const VAE_FACTOR = 8;
/** Largest latent volume the stand-in accepts (F*C*h*w floats), to keep a browser tab responsive. */
export const MAX_LATENT_FLOATS = 4 * 1024 * 1024;

/** Mulberry32 PRNG (engine/mulberry32.ts). */
export const prng = mulberry32;

/** FNV-1a hash of a string (the prompt picks the scene). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Standard normal noise [n] from the seed (Box-Muller). */
export function gaussianNoise(n: number, seed: number): Float32Array {
  const r = prng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** A smooth, moving latent scene [F, C, h, w]: per channel, three drifting plane waves chosen by the prompt. */
export function proceduralScene(frames: number, h: number, w: number, key: number): Float32Array {
  const r = prng(key);
  const waves = Array.from({ length: LATENT_CHANNELS }, () =>
    Array.from({ length: 3 }, () => ({ amp: 0.4 + r() * 0.9, fx: (r() - 0.5) * 3, fy: (r() - 0.5) * 3, phase: r() * 2 * Math.PI, speed: (r() - 0.5) * 2 })),
  );
  const out = new Float32Array(frames * LATENT_CHANNELS * h * w);
  let i = 0;
  for (let f = 0; f < frames; f++) {
    const t = (f / Math.max(1, frames)) * 2 * Math.PI;
    for (let c = 0; c < LATENT_CHANNELS; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let v = 0;
          for (const k of waves[c]!) v += k.amp * Math.sin(2 * Math.PI * (k.fx * (x / w) + k.fy * (y / h)) + k.phase + k.speed * t);
          out[i++] = v;
        }
      }
    }
  }
  return out;
}

/** Linear sigma schedule 1 -> 0 over `steps` Euler steps (the real pipeline uses the shifted flow-match one). */
export function sigmas(steps: number): number[] {
  return Array.from({ length: steps + 1 }, (_, k) => 1 - k / steps);
}

function toFrame(lat: Float32Array, shape: { frames: number; channels: number; height: number; width: number }, frame: number): RgbaFrame {
  const img = latentPreview(lat, shape, { frame });
  return { width: img.width, height: img.height, rgba: img.rgba };
}

/**
 * Runs the stand-in sampler on `device`: x <- x + (sigma_{k+1} - sigma_k) * v with v = noise - scene (so x goes
 * from pure noise at sigma 1 to the scene at sigma 0), one `axpby` kernel per step; progress with a preview of
 * frame 0 after each step; returns every frame projected to RGBA at latent resolution.
 */
export async function runStandIn(device: Device, req: LocalPreviewRequest, onProgress: (p: LocalProgress) => void, signal?: { aborted: boolean }): Promise<LocalPreviewResult> {
  const h = Math.max(1, Math.round(req.height / VAE_FACTOR));
  const w = Math.max(1, Math.round(req.width / VAE_FACTOR));
  const shape = { frames: req.frames, channels: LATENT_CHANNELS, height: h, width: w };
  const n = req.frames * LATENT_CHANNELS * h * w;
  if (n > MAX_LATENT_FLOATS) {
    throw new Error(`in-browser preview is limited to ${MAX_LATENT_FLOATS} latent values; ${req.frames} frames at ${req.width}x${req.height} need ${n}. Pick the Preview preset (or fewer frames / a smaller size).`);
  }
  const started = performance.now();
  const noise = Tensor.from(device, gaussianNoise(n, req.seed), [n], 'f32', 'noise');
  const scene = Tensor.from(device, proceduralScene(req.frames, h, w, hashString(req.prompt) ^ req.seed), [n], 'f32', 'scene');
  const v = sub(noise, scene);
  let x = axpby(noise, noise, 1, 0);
  const sig = sigmas(req.steps);
  try {
    for (let k = 0; k < req.steps; k++) {
      if (signal?.aborted) throw new Error('cancelled');
      const next = axpby(x, v, 1, sig[k + 1]! - sig[k]!);
      x.dispose();
      x = next;
      const lat = await x.read();
      const elapsed = (performance.now() - started) / 1000;
      const its = (k + 1) / Math.max(elapsed, 1e-6);
      onProgress({ step: k + 1, total: req.steps, its, eta_s: (req.steps - k - 1) / its, preview: toFrame(lat, shape, 0) });
    }
    const lat = await x.read();
    const frames = Array.from({ length: req.frames }, (_, f) => toFrame(lat, shape, f));
    return { frames, fps: req.fps, ms: performance.now() - started, kind: 'stand-in' };
  } finally {
    for (const t of [noise, scene, v, x]) t.dispose();
  }
}
