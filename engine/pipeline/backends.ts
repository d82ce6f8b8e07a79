// Registry of model backends by name: 'gpu' (WebGPU, engine/pipeline/gpu-backend.ts) and 'reference' (float64 CPU).
import type { Profiler } from '../gpu/profiler.js';
import type { Checkpoint } from '../io/checkpoint.js';
import type { ModelBackend } from './backend.js';
import { GpuBackend } from './gpu-backend.js';
import { ReferenceBackend } from './reference-backend.js';

export type BackendName = 'reference' | 'gpu';
export const BACKEND_NAMES: readonly BackendName[] = ['reference', 'gpu'];

export interface BackendOptions {
  /** Weight/activation dtype for backends that have a choice (the f64 reference ignores it). */
  dtype?: 'f32' | 'f16' | 'bf16';
  /** GPU backend: adapter index of its device (default: the first adapter). */
  adapterIndex?: number;
  /** GPU backend: profile every dispatch of its device into this profiler (collected when the backend is disposed). */
  profiler?: Profiler;
}

export type BackendFactory = (ckpt: Checkpoint, opts: BackendOptions) => Promise<ModelBackend>;

export const BACKENDS: Record<BackendName, BackendFactory> = {
  reference: (ckpt) => ReferenceBackend.create(ckpt),
  gpu: async (ckpt, opts) => {
    if (opts.dtype === 'bf16') throw new Error('WebGPU has no bf16 arithmetic: bf16 checkpoints are converted on upload; use --dtype f16 or f32');
    return GpuBackend.create(ckpt, { dtype: opts.dtype ?? 'f32', adapterIndex: opts.adapterIndex, profiler: opts.profiler });
  },
};

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

/** Creates a backend by name for an opened checkpoint. */
export function createBackend(name: BackendName, ckpt: Checkpoint, opts: BackendOptions = {}): Promise<ModelBackend> {
  if (!isBackendName(name)) throw new Error(`unknown backend ${JSON.stringify(name)} (expected one of ${BACKEND_NAMES.join(', ')})`);
  return BACKENDS[name](ckpt, opts);
}
