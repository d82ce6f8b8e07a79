// Web Worker that runs the engine on navigator.gpu for in-browser previews: opens a Parallax Device, reports
// the adapter and f16 support, and runs previewLocally (today the stand-in sampler in standin.ts; the GPU
// pipeline plugs in at runPreview below). Exposed to the app with comlink.
import * as Comlink from 'comlink';
import { Device } from '../../engine/gpu/device.js';
import { registerShaderSources } from '../../engine/gpu/shader-source.js';
import type { LocalPreviewRequest, LocalPreviewResult, LocalProgress, PreviewWorkerApi, WorkerInfo } from './protocol.js';
import { runStandIn } from './standin.js';

registerShaderSources(import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>);

let devicePromise: Promise<Device> | null = null;
let info: WorkerInfo | null = null;
const abort = { aborted: false };

async function openDevice(): Promise<Device> {
  devicePromise ??= Device.create({ label: 'browser-preview' });
  return devicePromise;
}

/** Where the lead plugs in the real pipeline (engine/pipeline + HttpFileStore on the server's /api/model/). */
async function runPreview(device: Device, req: LocalPreviewRequest, onProgress: (p: LocalProgress) => void): Promise<LocalPreviewResult> {
  return runStandIn(device, req, onProgress, abort);
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
