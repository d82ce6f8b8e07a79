// Messages between the app and the preview worker (structured-clone friendly; RGBA buffers are transferred).

import type { JobRequest } from '../types.js';

/** A job request run in the browser (guidance mode: the pipeline's default). */
export type LocalPreviewRequest = Omit<JobRequest, 'guidance_mode'> & {
  /** Absolute URL of the checkpoint folder the server exposes (/api/model/); without it the stand-in runs. */
  model_url?: string;
};

export interface RgbaFrame {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export interface LocalProgress {
  step: number;
  total: number;
  its: number;
  eta_s: number;
  preview?: RgbaFrame;
}

export interface LocalPreviewResult {
  frames: RgbaFrame[];
  fps: number;
  ms: number;
  /** 'pipeline' when the model ran in the browser, 'stand-in' when the server exposes no model. */
  kind: 'stand-in' | 'pipeline';
}

export interface WorkerInfo {
  webgpu: boolean;
  adapter?: string;
  f16?: boolean;
  maxBufferSize?: number;
  /** Why WebGPU is unusable (no navigator.gpu, no adapter, device request failed). */
  error?: string;
}

/** The worker's API (exposed with comlink). */
export interface PreviewWorkerApi {
  init(): Promise<WorkerInfo>;
  previewLocally(req: LocalPreviewRequest, onProgress: (p: LocalProgress) => void): Promise<LocalPreviewResult>;
  cancel(): void;
}
