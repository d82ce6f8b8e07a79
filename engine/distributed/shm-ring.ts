// Single-producer single-consumer byte ring in a SharedArrayBuffer (one per directed rank pair), plus the
// shared world-state block (per-rank status, first failure and its reason) used by the shm transport.

const CTRL_BYTES = 16;
const WRITTEN = 0;
const READ = 1;

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsyncFn = (Atomics as unknown as {
  waitAsync: (a: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
}).waitAsync;

/** Waits (without blocking the event loop) until a[index] != value, a notify, or timeoutMs. */
export async function waitChange(a: Int32Array, index: number, value: number, timeoutMs: number): Promise<void> {
  const r = waitAsyncFn(a, index, value, timeoutMs);
  if (r.async) await r.value;
}

/**
 * Byte ring: `written` and `read` are free-running u32 byte counters (stored as i32); capacity is a power
 * of two so counter & mask is the position. The producer only advances `written`, the consumer `read`.
 */
export class Ring {
  readonly ctrl: Int32Array;
  readonly data: Uint8Array;
  readonly capacity: number;
  private readonly mask: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    this.data = new Uint8Array(sab, CTRL_BYTES);
    this.capacity = this.data.length;
    this.mask = this.capacity - 1;
  }

  /** Allocates a ring of `capacity` bytes (power of two, 64 B .. 1 GiB). */
  static allocate(capacity: number): SharedArrayBuffer {
    if (!Number.isInteger(capacity) || capacity < 64 || capacity > 2 ** 30 || (capacity & (capacity - 1)) !== 0) {
      throw new Error(`ring capacity must be a power of two between 64 B and 1 GiB, got ${capacity}`);
    }
    return new SharedArrayBuffer(CTRL_BYTES + capacity);
  }

  get writtenCounter(): number {
    return Atomics.load(this.ctrl, WRITTEN);
  }

  get readCounter(): number {
    return Atomics.load(this.ctrl, READ);
  }

  /** Bytes ready for the consumer. */
  available(): number {
    return (Atomics.load(this.ctrl, WRITTEN) - Atomics.load(this.ctrl, READ)) >>> 0;
  }

  /** Free space for the producer. */
  free(): number {
    return this.capacity - this.available();
  }

  /** Producer: copies up to free() bytes of src[offset..]; returns how many were written. */
  write(src: Uint8Array, offset: number): number {
    const w = Atomics.load(this.ctrl, WRITTEN);
    const n = Math.min(this.free(), src.length - offset);
    if (n <= 0) return 0;
    const pos = w & this.mask;
    const first = Math.min(n, this.capacity - pos);
    this.data.set(src.subarray(offset, offset + first), pos);
    if (n > first) this.data.set(src.subarray(offset + first, offset + n), 0);
    Atomics.store(this.ctrl, WRITTEN, (w + n) | 0);
    Atomics.notify(this.ctrl, WRITTEN);
    return n;
  }

  /** Consumer: copies up to available() bytes into dst[offset..end); returns how many were read. */
  read(dst: Uint8Array, offset: number, end = dst.length): number {
    const r = Atomics.load(this.ctrl, READ);
    const n = Math.min(this.available(), end - offset);
    if (n <= 0) return 0;
    const pos = r & this.mask;
    const first = Math.min(n, this.capacity - pos);
    dst.set(this.data.subarray(pos, pos + first), offset);
    if (n > first) dst.set(this.data.subarray(0, n - first), offset + first);
    Atomics.store(this.ctrl, READ, (r + n) | 0);
    Atomics.notify(this.ctrl, READ);
    return n;
  }

  /** Producer waits for space (the consumer advancing `read`). */
  waitForSpace(timeoutMs: number): Promise<void> {
    const r = Atomics.load(this.ctrl, READ);
    if (this.free() > 0) return Promise.resolve();
    return waitChange(this.ctrl, READ, r, timeoutMs);
  }

  /** Consumer waits for data (the producer advancing `written`). */
  waitForData(timeoutMs: number): Promise<void> {
    const w = Atomics.load(this.ctrl, WRITTEN);
    if (this.available() > 0) return Promise.resolve();
    return waitChange(this.ctrl, WRITTEN, w, timeoutMs);
  }

  /** Wakes anyone waiting on this ring (used on abort/close/death). */
  wakeAll(): void {
    Atomics.notify(this.ctrl, WRITTEN);
    Atomics.notify(this.ctrl, READ);
  }
}

export enum RankStatus {
  Running = 0,
  Closed = 1,
  Failed = 2,
  Dead = 3,
}

const REASON_BYTES = 4096;

/**
 * World state shared by all ranks and the launcher: Int32 status per rank, then the first failing rank + 1
 * (0 = none), the reason length, and REASON_BYTES of UTF-8 reason text.
 */
export class WorldState {
  readonly words: Int32Array;
  private readonly reason: Uint8Array;

  constructor(
    readonly sab: SharedArrayBuffer,
    readonly size: number,
  ) {
    this.words = new Int32Array(sab, 0, size + 2);
    this.reason = new Uint8Array(sab, (size + 2) * 4, REASON_BYTES);
  }

  static allocate(size: number): SharedArrayBuffer {
    return new SharedArrayBuffer((size + 2) * 4 + REASON_BYTES);
  }

  status(rank: number): RankStatus {
    return Atomics.load(this.words, rank) as RankStatus;
  }

  /** Sets a rank's status unless it is already terminal-failed (Failed/Dead stay). */
  setStatus(rank: number, s: RankStatus): void {
    const cur = this.status(rank);
    if (cur === RankStatus.Failed || cur === RankStatus.Dead) return;
    Atomics.store(this.words, rank, s);
  }

  /** Records the first failure of the world; later calls keep the first. Returns true if this one was first. */
  recordFailure(rank: number, message: string): boolean {
    if (Atomics.compareExchange(this.words, this.size, 0, rank + 1) !== 0) return false;
    const bytes = new TextEncoder().encode(message || 'unknown failure').subarray(0, REASON_BYTES);
    this.reason.set(bytes);
    Atomics.store(this.words, this.size + 1, bytes.length);
    return true;
  }

  /** The first failure, once its reason is written. */
  firstFailure(): { rank: number; message: string } | null {
    const r = Atomics.load(this.words, this.size) - 1;
    if (r < 0) return null;
    const len = Atomics.load(this.words, this.size + 1);
    if (len === 0) return null; // the reason is still being written
    return { rank: r, message: new TextDecoder().decode(this.reason.slice(0, len)) };
  }
}
