// Streams a sub-model's weights from its WeightStore to GPU tensors one tensor at a time (never holding a whole
// file), converting f32/f16/bf16 on the host to the requested dtype; reports bytes and time.

import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import type { WeightStore } from '../io/sharded.js';
import { FLOAT_DTYPES } from '../io/dtype.js';
import { Tensor } from '../tensor.js';

export interface LoadProgress {
  loaded: number;
  total: number;
  bytes: number;
  key: string;
}

export interface LoadReport {
  tensors: number;
  /** Bytes read from the checkpoint files. */
  fileBytes: number;
  /** Bytes resident on the GPU. */
  gpuBytes: number;
  ms: number;
}

export class GpuWeights {
  private constructor(
    readonly store: WeightStore,
    private readonly tensors: Map<string, Tensor>,
    readonly report: LoadReport,
  ) {}

  /**
   * Uploads every floating-point tensor of `store` (integer buffers such as position_ids are skipped), or only those
   * `keep` accepts (a pipeline stage that runs some of the layers).
   */
  static async load(device: Device, store: WeightStore, dtype: DType, onProgress?: (p: LoadProgress) => void, keep?: (key: string) => boolean): Promise<GpuWeights> {
    const t0 = performance.now();
    const keys = store.keys().filter((k) => (FLOAT_DTYPES as readonly string[]).includes(store.info(k).dtype) && (!keep || keep(k)));
    const tensors = new Map<string, Tensor>();
    let fileBytes = 0;
    let gpuBytes = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const info = store.info(key);
      const data = await store.readFloat32(key);
      const t = Tensor.from(device, data, info.shape, dtype, key);
      tensors.set(key, t);
      fileBytes += info.end - info.begin;
      gpuBytes += t.byteLength;
      onProgress?.({ loaded: i + 1, total: keys.length, bytes: fileBytes, key });
    }
    return new GpuWeights(store, tensors, { tensors: keys.length, fileBytes, gpuBytes, ms: performance.now() - t0 });
  }

  get(key: string): Tensor {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`${this.store.name}: weight '${key}' is missing (the checkpoint validator should have caught this)`);
    return t;
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}
