// Registry of model backends by name. The GPU model plugs in here: replace the 'gpu' factory body with the
// WebGPU backend's constructor (it receives the opened checkpoint and the requested dtype).
import type { Checkpoint } from '../io/checkpoint.js';
import type { ModelBackend } from './backend.js';
import { ReferenceBackend } from './reference-backend.js';

export type BackendName = 'reference' | 'gpu';
export const BACKEND_NAMES: readonly BackendName[] = ['reference', 'gpu'];

export interface BackendOptions {
  /** Weight/activation dtype for backends that have a choice (the f64 reference ignores it). */
  dtype?: 'f32' | 'f16' | 'bf16';
}

export type BackendFactory = (ckpt: Checkpoint, opts: BackendOptions) => Promise<ModelBackend>;

export const BACKENDS: Record<BackendName, BackendFactory> = {
  reference: (ckpt) => ReferenceBackend.create(ckpt),
  gpu: async () => {
    throw new Error('the WebGPU model backend is not available in this build yet; use --backend reference (float64, slow: tiny checkpoints only)');
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
