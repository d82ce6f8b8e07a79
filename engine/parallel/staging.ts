// GPU <-> collective staging: read packed tensors (or byte ranges of them) to the host, run an all-to-all or an
// all-gather over a ProcessGroup, upload the result. Byte-level, so any dtype works. Readbacks are double-buffered
// (chunk i+1 is copied off the GPU while chunk i is in the collective) and every phase is timed.

import type { CommStats, ProcessGroup } from '../distributed/collectives.js';
import type { DType } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { Tensor } from '../tensor.js';

/** Where a rank's time around collectives went (ms) and how much it sent, summed over calls. */
export interface StagingStats {
  /** Waiting for the GPU to finish the work queued before a collective (the compute of that stretch). */
  computeWaitMs: number;
  /** GPU -> host copies (after the compute finished). */
  readbackMs: number;
  /** Inside collectives (includes waiting for slower ranks). */
  collectiveMs: number;
  /** Host -> GPU uploads. */
  uploadMs: number;
  /** Payload bytes this rank sent to other ranks / received from them. */
  bytesSent: number;
  bytesReceived: number;
  /** Collective calls per kind. */
  allToAlls: number;
  allGathers: number;
}

export const emptyStagingStats = (): StagingStats => ({
  computeWaitMs: 0, readbackMs: 0, collectiveMs: 0, uploadMs: 0, bytesSent: 0, bytesReceived: 0, allToAlls: 0, allGathers: 0,
});

export interface StagerOptions {
  /** Readback chunks per all-to-all (double buffering); 1 = one readback, one collective. Default 2. */
  chunks?: number;
}

/** Copies byte ranges of one GPU buffer into one host buffer (one staging buffer, one map). */
export async function readRanges(device: Device, buffer: GPUBuffer, ranges: readonly { offset: number; bytes: number }[]): Promise<Uint8Array> {
  const total = ranges.reduce((a, r) => a + r.bytes, 0);
  for (const r of ranges) {
    if (r.offset % 4 || r.bytes % 4) throw new Error(`readRanges: byte range ${r.offset}+${r.bytes} is not 4-byte aligned (copyBufferToBuffer needs multiples of 4)`);
  }
  const staging = device.gpu.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'staging readback' });
  const enc = device.commandEncoder();
  let at = 0;
  for (const r of ranges) {
    if (r.bytes) enc.copyBufferToBuffer(buffer, r.offset, staging, at, r.bytes);
    at += r.bytes;
  }
  device.flush();
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint8Array(staging.getMappedRange().slice(0, total));
  staging.destroy();
  return out;
}

/** Uploads raw bytes as a tensor of the given shape and dtype (the bytes must be that dtype's storage). */
export function uploadBytes(device: Device, bytes: Uint8Array, shape: readonly number[], dtype: DType, label?: string): Tensor {
  const t = Tensor.empty(device, shape, dtype, label);
  if (bytes.byteLength !== t.byteLength) throw new Error(`uploadBytes ${label ?? ''}: ${bytes.byteLength} bytes for ${dtype} [${shape.join(', ')}] (${t.byteLength} bytes)`);
  device.writeBuffer(t.buffer, 0, bytes);
  return t;
}

/** One rank's staging between its GPU and a ProcessGroup. */
export class Stager {
  readonly stats: StagingStats = emptyStagingStats();
  readonly chunks: number;

  constructor(
    readonly device: Device,
    readonly group: ProcessGroup,
    opts: StagerOptions = {},
  ) {
    this.chunks = Math.max(1, Math.floor(opts.chunks ?? 2));
  }

  /** The transport-level traffic counters of the group (all collectives of this rank). */
  get commStats(): CommStats {
    return this.group.stats;
  }

  /**
   * All-to-all of a packed tensor whose elements are laid out [P, seg]: segment p goes to group rank p. Returns a
   * new tensor of the same shape and dtype whose segment p is what rank p sent. All ranks must pass equal sizes.
   */
  async allToAll(packed: Tensor, label = 'all-to-all'): Promise<Tensor> {
    const P = this.group.size;
    const bytes = packed.byteLength;
    if (bytes % P) throw new Error(`Stager.allToAll: ${label} has ${bytes} bytes, not ${P} equal segments`);
    const seg = bytes / P;
    await this.waitCompute();
    const recv = new Uint8Array(bytes);
    const k = seg % 4 === 0 && seg >= 4 * this.chunks ? this.chunks : 1;
    const bounds = chunkBounds(seg, k);
    const read = (c: number) => {
      const [lo, hi] = bounds[c]!;
      return this.timed('readbackMs', () => readRanges(this.device, packed.buffer, Array.from({ length: P }, (_, p) => ({ offset: p * seg + lo, bytes: hi - lo }))));
    };
    if (k === 1 && seg % 4) {
      // Unaligned segments (odd f16 counts): one whole-tensor readback.
      const all = new Uint8Array(await this.timed('readbackMs', () => packed.readRaw()));
      const got = await this.exchange(Array.from({ length: P }, (_, p) => all.subarray(p * seg, (p + 1) * seg)));
      got.forEach((g, p) => recv.set(g, p * seg));
    } else {
      let next = read(0);
      for (let c = 0; c < k; c++) {
        const host = await next;
        if (c + 1 < k) {
          next = read(c + 1); // double buffering: the next copy runs while this chunk is exchanged
          // If the exchange fails, nobody awaits this readback: mark its rejection handled (a device torn down after
          // the failure must not become an unhandled rejection that kills a worker thread without a message).
          next.catch(() => undefined);
        }
        const [lo, hi] = bounds[c]!;
        const w = hi - lo;
        const got = await this.exchange(Array.from({ length: P }, (_, p) => host.subarray(p * w, (p + 1) * w)));
        got.forEach((g, p) => recv.set(g, p * seg + lo));
      }
    }
    return this.timed('uploadMs', async () => uploadBytes(this.device, recv, packed.shape, packed.dtype, label));
  }

  /** All-gather of equal-sized tensors: returns [P, ...shape] with rank p's tensor at index p. */
  async allGather(t: Tensor, label = 'all-gather'): Promise<Tensor> {
    await this.waitCompute();
    const mine = new Uint8Array(await this.timed('readbackMs', () => t.readRaw()));
    const parts = await this.timed('collectiveMs', () => this.group.allGather(mine));
    this.stats.allGathers++;
    const P = this.group.size;
    this.stats.bytesSent += mine.byteLength * (P - 1);
    this.stats.bytesReceived += mine.byteLength * (P - 1);
    const out = new Uint8Array(mine.byteLength * P);
    parts.forEach((p, r) => {
      if (p.byteLength !== mine.byteLength) throw new Error(`Stager.allGather ${label}: group rank ${r} sent ${p.byteLength} bytes, expected ${mine.byteLength} (shapes differ across ranks)`);
      out.set(p, r * mine.byteLength);
    });
    return this.timed('uploadMs', async () => uploadBytes(this.device, out, [P, ...t.shape], t.dtype, label));
  }

  private async exchange(chunks: Uint8Array[]): Promise<Uint8Array[]> {
    const got = await this.timed('collectiveMs', () => this.group.allToAll(chunks));
    this.stats.allToAlls++;
    chunks.forEach((c, p) => {
      if (p !== this.group.rank) this.stats.bytesSent += c.byteLength;
    });
    got.forEach((g, p) => {
      if (p !== this.group.rank) this.stats.bytesReceived += g.byteLength;
    });
    return got;
  }

  private async waitCompute(): Promise<void> {
    await this.timed('computeWaitMs', () => this.device.sync());
  }

  private async timed<R>(key: 'computeWaitMs' | 'readbackMs' | 'collectiveMs' | 'uploadMs', f: () => Promise<R>): Promise<R> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.stats[key] += performance.now() - t0;
    }
  }
}

/** Splits [0, n) bytes into k 4-byte aligned ranges (the last one takes the rest). */
function chunkBounds(n: number, k: number): [number, number][] {
  const step = Math.ceil(n / k / 4) * 4;
  const out: [number, number][] = [];
  for (let lo = 0; lo < n; lo += step) out.push([lo, Math.min(n, lo + step)]);
  while (out.length < k) out.push([n, n]);
  return out;
}
