// Registry of model backends by name: 'gpu' (WebGPU, engine/pipeline/gpu-backend.ts) and 'reference' (float64 CPU).
import type { Profiler } from '../gpu/profiler.js';
import type { Checkpoint, CheckpointPart, PartialCheckpoint } from '../io/checkpoint.js';
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

function gpuDtype(opts: BackendOptions): 'f32' | 'f16' {
  if (opts.dtype === 'bf16') throw new Error('WebGPU has no bf16 arithmetic: bf16 checkpoints are converted on upload; use --dtype f16 or f32');
  return opts.dtype ?? 'f32';
}

export const BACKENDS: Record<BackendName, BackendFactory> = {
  reference: (ckpt) => ReferenceBackend.create(ckpt),
  gpu: async (ckpt, opts) => GpuBackend.create(ckpt, { dtype: gpuDtype(opts), adapterIndex: opts.adapterIndex, profiler: opts.profiler }),
};

/** A backend over a checkpoint opened for some parts (openCheckpointParts): validates and loads only those parts. */
export type StageBackendFactory = (ckpt: PartialCheckpoint, parts: readonly CheckpointPart[], opts: BackendOptions) => Promise<ModelBackend>;

export const STAGE_BACKENDS: Record<BackendName, StageBackendFactory> = {
  reference: (ckpt, parts) => ReferenceBackend.forParts(ckpt, parts),
  gpu: async (ckpt, parts, opts) => GpuBackend.forParts(ckpt, parts, { dtype: gpuDtype(opts), adapterIndex: opts.adapterIndex, profiler: opts.profiler }),
};

export function isBackendName(s: string): s is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(s);
}

/** Creates a backend by name for an opened checkpoint. */
export function createBackend(name: BackendName, ckpt: Checkpoint, opts: BackendOptions = {}): Promise<ModelBackend> {
  if (!isBackendName(name)) throw new Error(`unknown backend ${JSON.stringify(name)} (expected one of ${BACKEND_NAMES.join(', ')})`);
  return BACKENDS[name](ckpt, opts);
}

/**
 * Creates a backend by name for the parts a single-stage command opened: only its methods for those parts work
 * (encodeText: 'text', velocity: 'transformer', decode: 'vae'), and info sizes no opened part sets are NaN.
 */
export function createStageBackend(name: BackendName, ckpt: PartialCheckpoint, parts: readonly CheckpointPart[], opts: BackendOptions = {}): Promise<ModelBackend> {
  if (!isBackendName(name)) throw new Error(`unknown backend ${JSON.stringify(name)} (expected one of ${BACKEND_NAMES.join(', ')})`);
  return STAGE_BACKENDS[name](ckpt, parts, opts);
}
