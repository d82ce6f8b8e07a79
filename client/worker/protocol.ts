// Messages between the app and the preview worker (structured-clone friendly; RGBA buffers are transferred).

export interface LocalPreviewRequest {
  prompt: string;
  negative_prompt: string;
  frames: number;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed: number;
  fps: number;
  /** Absolute URL of the checkpoint folder the server exposes (/api/model/); without it the stand-in runs. */
  model_url?: string;
}

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
