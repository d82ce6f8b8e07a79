// A tensor parked in host memory between a training forward and its backward (activation offload, training.md
// section 4). HostCopy.start records a copy of the tensor into a MAP_READ staging buffer and submits it at once,
// then asks for the mapping without waiting: the forward goes on recording the next blocks while the GPU works, and
// the caller may dispose the GPU tensor right away (the copy sits before any later reuse of its buffer in queue
// order). The mapping resolves whenever the GPU reaches the copy; settle() awaits it (normally long done), keeps the
// bytes in an ArrayBuffer and frees the staging buffer. upload() writes the bytes into a new pooled GPU tensor with
// queue.writeBuffer, ordered before whatever is recorded after it. Staging buffers live outside the device pool (on a
// discrete GPU MAP_READ memory is host memory), so the pool's peak does not count them.

import type { DType } from '../dtype.js';
import { Tensor } from '../tensor.js';
import type { Device } from '../gpu/device.js';

export class HostCopy {
  private data: ArrayBuffer | null = null;
  private failure: unknown = null;
  private staging: GPUBuffer | null;
  private readonly mapped: Promise<void>;
  private disposed = false;

  private constructor(
    readonly device: Device,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly byteLength: number,
    staging: GPUBuffer,
  ) {
    this.staging = staging;
    this.mapped = staging.mapAsync(GPUMapMode.READ).then(
      () => {
        if (this.disposed) return;
        this.data = staging.getMappedRange().slice(0, byteLength);
        staging.destroy();
        this.staging = null;
      },
      (e: unknown) => {
        if (!this.disposed) this.failure = e;
      },
    );
  }

  /** Starts moving `t` to the host: the copy is recorded and submitted now, its mapping resolves later. */
  static start(t: Tensor): HostCopy {
    const dev = t.device;
    const size = Math.max(4, Math.ceil(t.byteLength / 4) * 4);
    const staging = dev.gpu.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'activation offload' });
    dev.commandEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, size);
    dev.flush(); // a buffer may be mapped only after the submit that writes it
    return new HostCopy(dev, t.shape, t.dtype, t.byteLength, staging);
  }

  /** True once the bytes are on the host. */
  get ready(): boolean {
    return this.data !== null;
  }

  /** Waits for the bytes to reach the host (rethrows a failed mapping). */
  async settle(): Promise<void> {
    await this.mapped;
    if (this.failure) throw new Error(`activation offload: reading a [${this.shape.join(', ')}] tensor back failed: ${String(this.failure)}`);
    if (this.disposed) throw new Error('activation offload: the host copy was disposed before it settled');
  }

  /** A new GPU tensor with the saved bytes (needs settle() first). */
  upload(label?: string): Tensor {
    const d = this.data;
    if (!d) throw new Error(`activation offload: the [${this.shape.join(', ')}] tensor is not on the host yet (await settle() first)`);
    const view = this.dtype === 'f16' ? new Uint16Array(d) : this.dtype === 'u32' ? new Uint32Array(d) : this.dtype === 'i32' ? new Int32Array(d) : new Float32Array(d);
    return Tensor.from(this.device, view, this.shape, this.dtype, label);
  }

  /** Drops the host bytes (and a staging buffer still waiting for its mapping). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.data = null;
    this.staging?.destroy();
    this.staging = null;
  }
}
