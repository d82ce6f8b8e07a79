// Web Worker that runs the engine on navigator.gpu for in-browser previews: opens a Parallax Device, reports
// the adapter and f16 support, and runs previewLocally: the text-to-video pipeline on the checkpoint the server
// exposes (HTTP range reads into its safetensors), or the stand-in sampler (standin.ts) when there is no model.
// Exposed to the app with comlink.
import * as Comlink from 'comlink';
import { Device } from '../../engine/gpu/device.js';
import { registerShaderSources } from '../../engine/gpu/shader-source.js';
import type { LocalPreviewRequest, LocalPreviewResult, LocalProgress, PreviewWorkerApi, WorkerInfo } from './protocol.js';
import { runStandIn } from './standin.js';
import { HttpFileStore } from '../../engine/io/file-store.js';
import { GpuBackend } from '../../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline } from '../../engine/pipeline/text-to-video.js';
import { latentPreview } from '../../server/latent-preview.js';

registerShaderSources(import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

let devicePromise: Promise<Device> | null = null;
let info: WorkerInfo | null = null;
const abort = { aborted: false };

async function openDevice(): Promise<Device> {
  devicePromise ??= Device.create({ label: 'browser-preview' });
  return devicePromise;
}

const pipelines = new Map<string, Promise<TextToVideoPipeline>>();

/** The pipeline for a checkpoint URL, loaded once (weights stream in by HTTP range reads) and kept. */
function pipelineFor(device: Device, url: string): Promise<TextToVideoPipeline> {
  let p = pipelines.get(url);
  if (!p) {
    p = TextToVideoPipeline.fromPretrained(new HttpFileStore(url), { backend: (ckpt) => GpuBackend.create(ckpt, { device, dtype: 'f32' }) });
    p.catch(() => pipelines.delete(url));
    pipelines.set(url, p);
  }
  return p;
}

function rgbToRgba(rgb: Uint8Array, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    out[4 * i] = rgb[j]!;
    out[4 * i + 1] = rgb[j + 1]!;
    out[4 * i + 2] = rgb[j + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}

async function runPreview(device: Device, req: LocalPreviewRequest, onProgress: (p: LocalProgress) => void): Promise<LocalPreviewResult> {
  if (!req.model_url) return runStandIn(device, req, onProgress, abort);
  const t0 = performance.now();
  const pipe = await pipelineFor(device, req.model_url);
  const { latentChannels, vaeScale } = pipe.backend.info;
  const stop = new AbortController();
  const result = await pipe.generate({
    prompt: req.prompt, negativePrompt: req.negative_prompt, frames: req.frames, width: req.width, height: req.height,
    steps: req.steps, guidance: req.guidance, seed: req.seed, signal: stop.signal,
    onStep: (st) => {
      if (abort.aborted) stop.abort(new Error('preview cancelled'));
      const elapsed = (performance.now() - t0) / 1000;
      const its = (st.step + 1) / Math.max(elapsed, 1e-3);
      const img = latentPreview(st.latents, { frames: req.frames, channels: latentChannels, height: req.height / vaeScale, width: req.width / vaeScale });
      onProgress({ step: st.step + 1, total: st.steps, its, eta_s: (st.steps - st.step - 1) / its, preview: img });
    },
  });
  const { width, height, frames } = result.video;
  return { frames: frames.map((rgb) => ({ width, height, rgba: rgbToRgba(rgb, width, height) })), fps: req.fps, ms: performance.now() - t0, kind: 'pipeline' };
}

const api: PreviewWorkerApi = {
  async init(): Promise<WorkerInfo> {
    if (info) return info;
    if (!('gpu' in navigator) || !navigator.gpu) {
      info = { webgpu: false, error: 'this browser has no WebGPU (navigator.gpu is missing)' };
      return info;
    }
    try {
      const d = await openDevice();
      const a = d.adapter;
      info = { webgpu: true, adapter: [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unknown adapter', f16: d.f16, maxBufferSize: d.caps.maxBufferSize };
    } catch (err) {
      devicePromise = null;
      info = { webgpu: false, error: err instanceof Error ? err.message : String(err) };
    }
    return info;
  },
  async previewLocally(req, onProgress) {
    const i = await api.init();
    if (!i.webgpu) throw new Error(`WebGPU unavailable: ${i.error}`);
    abort.aborted = false;
    const device = await openDevice();
    const result = await runPreview(device, req, onProgress);
    return Comlink.transfer(result, result.frames.map((f) => f.rgba.buffer as ArrayBuffer));
  },
  cancel() {
    abort.aborted = true;
  },
};

Comlink.expose(api);
