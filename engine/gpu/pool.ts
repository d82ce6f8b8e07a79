// Storage-buffer pool: reuses freed buffers by size class and accounts live and peak bytes per device.
// Size classes are multiples of 1/8 of the largest power of two not above the size (at most 12.5% waste),
// 256 bytes minimum.

export interface PoolStats {
  /** Bytes in buffers currently held by tensors. */
  liveBytes: number;
  /** Highest liveBytes seen since creation or the last resetPeak(). */
  peakBytes: number;
  /** Bytes kept in the pool for reuse. */
  pooledBytes: number;
  /** Buffers created / reused from the pool. */
  created: number;
  reused: number;
}

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

export function sizeClass(bytes: number): number {
  const n = Math.max(256, Math.ceil(bytes / 4) * 4);
  const p = 2 ** Math.floor(Math.log2(n));
  const step = Math.max(256, p / 8);
  return Math.ceil(n / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  readonly stats: PoolStats = { liveBytes: 0, peakBytes: 0, pooledBytes: 0, created: 0, reused: 0 };
  /** Upper bound on bytes kept idle in the pool; the excess is destroyed. */
  maxPooledBytes = 2 ** 31;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.stats.pooledBytes -= size;
      this.stats.reused++;
    } else {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.stats.created++;
    }
    this.stats.liveBytes += size;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.liveBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.stats.liveBytes -= size;
    if (this.stats.pooledBytes + size > this.maxPooledBytes) {
      buf.destroy();
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.stats.pooledBytes += size;
  }

  resetPeak(): void {
    this.stats.peakBytes = this.stats.liveBytes;
  }

  /** Destroys every idle buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.pooledBytes = 0;
  }
}
