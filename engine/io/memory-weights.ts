// A WeightStore over f32 tensors held in memory (e.g. the weights a trainer is updating), so a model can be loaded
// from them exactly as from a checkpoint file (VchitectTransformer.load, VaeModel.load, a GpuBackend).
import type { TensorData, TensorInfo } from './safetensors-reader.js';
import type { WeightStore } from './sharded.js';

export class MemoryWeights implements WeightStore {
  constructor(
    readonly name: string,
    private readonly tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>,
  ) {}

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  private get(key: string): { shape: number[]; data: Float32Array } {
    const t = this.tensors.get(key);
    if (!t) throw new Error(`${this.name}: no tensor named ${key}`);
    return t;
  }

  info(key: string): TensorInfo {
    const t = this.get(key);
    return { name: key, dtype: 'F32', shape: [...t.shape], begin: 0, end: t.data.byteLength };
  }

  fileOf(key: string): string {
    this.get(key);
    return this.name;
  }

  async read(key: string): Promise<TensorData> {
    const t = this.get(key);
    return { name: key, dtype: 'F32', shape: [...t.shape], bytes: new Uint8Array(t.data.slice().buffer) };
  }

  async readFloat32(key: string): Promise<Float32Array> {
    return this.get(key).data.slice();
  }

  async close(): Promise<void> {}
}
