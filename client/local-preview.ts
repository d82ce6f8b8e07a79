// Main-thread side of the in-browser preview: starts the preview worker (comlink) and wraps its API.
// Returns null from create() when the browser has no WebGPU or no module workers, so the app uses the server only.
import * as Comlink from 'comlink';
import type { LocalPreviewRequest, LocalPreviewResult, LocalProgress, PreviewWorkerApi, WorkerInfo } from './worker/protocol.js';

export class LocalPreview {
  private constructor(
    private readonly worker: Worker,
    private readonly api: Comlink.Remote<PreviewWorkerApi>,
  ) {}

  /** The worker, or null when navigator.gpu is missing (no point starting it). */
  static create(): LocalPreview | null {
    if (!('gpu' in navigator) || !navigator.gpu || typeof Worker === 'undefined') return null;
    const worker = new Worker(new URL('./worker/preview-worker.ts', import.meta.url), { type: 'module', name: 'parallax-preview' });
    return new LocalPreview(worker, Comlink.wrap<PreviewWorkerApi>(worker));
  }

  init(): Promise<WorkerInfo> {
    return this.api.init();
  }

  run(req: LocalPreviewRequest, onProgress: (p: LocalProgress) => void): Promise<LocalPreviewResult> {
    return this.api.previewLocally(req, Comlink.proxy(onProgress));
  }

  cancel(): Promise<void> {
    return this.api.cancel();
  }

  terminate(): void {
    this.worker.terminate();
  }
}
