// GPU tensors: a shape, a dtype and a pooled storage buffer on one Device; upload, readback, views, disposal.

import { bytesPerElement, fromF16Array, numel, toF16Array, type DType } from './dtype.js';
import type { Device } from './gpu/device.js';
import { ShapeError } from './gpu/errors.js';

interface Storage {
  buffer: GPUBuffer;
  refs: number;
}

export type HostData = Float32Array | Float64Array | Uint16Array | Uint32Array | Int32Array | number[];

export class Tensor {
  private storage: Storage | null;

  private constructor(
    readonly device: Device,
    readonly shape: readonly number[],
    readonly dtype: DType,
    storage: Storage,
    readonly label?: string,
  ) {
    this.storage = storage;
  }

  /** An uninitialised tensor from the device's pool. */
  static empty(device: Device, shape: readonly number[], dtype: DType = 'f32', label?: string): Tensor {
    checkShape(shape, label);
    if (dtype === 'f16' && !device.f16) {
      throw new ShapeError(`${label ?? 'tensor'}: f16 requested but the adapter has no shader-f16; use dtype f32.`);
    }
    const bytes = Math.max(4, numel(shape) * bytesPerElement(dtype));
    if (bytes > device.caps.maxBufferSize) {
      throw new ShapeError(`${label ?? 'tensor'} [${shape.join(', ')}] ${dtype} needs ${bytes} bytes, above the device's maxBufferSize ${device.caps.maxBufferSize}. Split the work (fewer frames per call) or use f16.`);
    }
    const buffer = device.pool.acquire(bytes, label);
    return new Tensor(device, [...shape], dtype, { buffer, refs: 1 }, label);
  }

  /**
   * Uploads host data. Float data is converted to the dtype (f16 rounds to nearest even); a Uint16Array is taken
   * as raw f16 bits for an f16 tensor.
   */
  static from(device: Device, data: HostData, shape: readonly number[], dtype: DType = 'f32', label?: string): Tensor {
    const n = numel(shape);
    if (data.length !== n) throw new ShapeError(`${label ?? 'tensor'}: ${data.length} values for shape [${shape.join(', ')}] (${n} elements)`);
    const t = Tensor.empty(device, shape, dtype, label);
    device.writeBuffer(t.buffer, 0, toDTypeArray(data, dtype));
    return t;
  }

  static zeros(device: Device, shape: readonly number[], dtype: DType = 'f32', label?: string): Tensor {
    const t = Tensor.empty(device, shape, dtype, label);
    device.fillBuffer(t.buffer, 0, t.byteLength, 0);
    return t;
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`${this.label ?? 'tensor'} [${this.shape.join(', ')}] was used after dispose()`);
    return this.storage.buffer;
  }

  get numel(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.numel * bytesPerElement(this.dtype);
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** A tensor with another shape over the same buffer (same element count). Dispose it separately. */
  reshape(shape: readonly number[]): Tensor {
    const s = this.storage;
    if (!s) throw new Error('reshape() of a disposed tensor');
    if (numel(shape) !== this.numel) throw new ShapeError(`reshape [${this.shape.join(', ')}] -> [${shape.join(', ')}]: element counts differ`);
    s.refs++;
    return new Tensor(this.device, [...shape], this.dtype, s, this.label);
  }

  /** Reads the tensor back as f32 (f16 converted), or u32/i32 for integer tensors. */
  async read(): Promise<Float32Array> {
    const raw = await this.device.readBuffer(this.buffer, 0, this.byteLength, `read ${this.label ?? ''}`);
    if (this.dtype === 'f16') return fromF16Array(new Uint16Array(raw));
    return new Float32Array(raw);
  }

  /** Raw bytes as stored. */
  async readRaw(): Promise<ArrayBuffer> {
    return this.device.readBuffer(this.buffer, 0, this.byteLength);
  }

  /** Overwrites the contents with NaN (f32, f16) or 0xFFFFFFFF (integers): unwritten outputs then fail tests. */
  poison(): this {
    this.device.fillBuffer(this.buffer, 0, this.byteLength, 0xffffffff);
    return this;
  }

  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    if (--s.refs === 0) this.device.pool.release(s.buffer);
  }
}

function checkShape(shape: readonly number[], label?: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${label ?? 'tensor'}: bad shape [${shape.join(', ')}]`);
  }
}

function toDTypeArray(data: HostData, dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'f32':
      return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    case 'f16':
      return data instanceof Uint16Array ? data : toF16Array(data);
    case 'u32':
      return data instanceof Uint32Array ? data : Uint32Array.from(data as ArrayLike<number>);
    case 'i32':
      return data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
  }
}
