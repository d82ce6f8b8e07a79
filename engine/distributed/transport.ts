// The point-to-point transport contract every Parallax backend implements (in-process, shared memory,
// sockets; RDMA later), plus MailboxTransport: the tag matching, timeouts and abort logic they share.
import { DistError, errorText } from './errors.js';
import { FrameKind } from './framing.js';

/** Default wait of a receive before it fails (ms). Override per transport or per call. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Default cap on one message (bytes); larger length fields are treated as corruption. */
export const DEFAULT_MAX_MESSAGE_BYTES = 2 ** 32 - 1;
/**
 * How long a rank that sees a failure without its reason (a closed connection, a peer's abort flag) waits for the
 * published first cause before it reports (ms). Bounded: far below any receive timeout, so never a hang.
 */
export const CAUSE_WAIT_MS = 200;

export interface TransportOptions {
  /** Receive timeout in ms (default 60 s, or env PARALLAX_DIST_TIMEOUT_MS for launcher-built transports). */
  timeoutMs?: number;
  /** Largest accepted message; frames announcing more are rejected as malformed. */
  maxMessageBytes?: number;
  /** Compute and verify a CRC32 of every payload (costs ~1 ns/byte; headers are always checksummed). */
  checksumPayloads?: boolean;
}

export interface RecvOptions {
  /** Overrides the transport's receive timeout for this call (ms). */
  timeoutMs?: number;
}

/**
 * Reliable, ordered, tagged point-to-point messaging between `size` ranks.
 *
 * - Messages from one peer with one tag are received in the order they were sent; different tags or
 *   peers are independent (a recv matches the oldest unmatched message with the same (peer, tag)).
 * - `send` resolves once `bytes` may be reused by the caller (it was copied or fully written out);
 *   it does not wait for the peer to receive. Sending to yourself is allowed.
 * - `recv` rejects after the timeout, when the peer closed (cleanly, with nothing left to match) or
 *   vanished, and when the transport is aborted.
 * - Failures of the transport itself (lost peer, malformed frame, peer abort) abort it: every pending
 *   and later operation rejects with the same DistError, which names the rank.
 * - `abort(err)` fails all pending operations locally and tells every reachable peer (Abort frame), so
 *   ranks blocked on other peers fail fast too. Idempotent; the first error wins.
 * - Every rank reports the same root cause: the rank that detects a failure publishes its reason with the abort;
 *   a rank that only sees the consequence (a closed connection, an abort flag) waits up to CAUSE_WAIT_MS for the
 *   published reason and reports that (see MailboxTransport.causeWaitMs).
 * - `close()` flushes queued sends, tells peers (Close frame) and releases all resources.
 */
export interface Transport {
  /** This rank, 0 <= rank < size. */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** Backend name: 'inprocess' | 'shm' | 'unix' | 'tcp' | ... */
  readonly kind: string;
  /** Default receive timeout (ms). */
  readonly timeoutMs: number;
  /** The error that aborted this transport, or null while healthy. */
  readonly failure: DistError | null;
  send(peer: number, tag: number, bytes: Uint8Array): Promise<void>;
  recv(peer: number, tag: number, opts?: RecvOptions): Promise<Uint8Array>;
  abort(err: Error): void;
  close(): Promise<void>;
}

interface Waiter {
  resolve: (bytes: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

interface Mailbox {
  messages: Uint8Array[];
  waiters: Waiter[];
}

/**
 * Base class: subclasses move frames (sendFrame) and report what arrives (deliver, peerAborted,
 * peerClosed, peerLost, malformed). Matching, timeouts and abort bookkeeping live here.
 */
export abstract class MailboxTransport implements Transport {
  abstract readonly kind: string;
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  readonly checksumPayloads: boolean;
  private _failure: DistError | null = null;
  private closing = false;
  /**
   * > 0: a lost peer or an Abort frame opens a window of this many ms in which concurrent reports are gathered; at
   * its end the transport fails with the published reason of the lowest rank that sent one (Abort frames: the
   * cause as the rank that detected it saw it), else with the first lost peer it saw itself. A published reason
   * that is a lost peer (`peer rank N closed the connection`, N not this rank) is that root cause and is reported
   * as is, so every rank that lost N, directly or by word of another, says the same. 0 (default): fail at once.
   * Transports whose ranks learn of a failure from several peers at nearly the same time (sockets) set it.
   */
  protected causeWaitMs = 0;
  private causeTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly publishedCauses: { source: number; message: string }[] = [];
  private firstLoss: DistError | null = null;
  private readonly failureWaiters: ((e: DistError) => void)[] = [];
  private readonly boxes = new Map<string, Mailbox>();
  /** Why a peer can no longer send to us (clean close or loss), by rank. */
  private readonly peerGone = new Map<number, string>();

  constructor(
    readonly rank: number,
    readonly size: number,
    opts: TransportOptions = {},
  ) {
    if (!Number.isInteger(size) || size < 1) throw new DistError(`world size must be a positive integer, got ${size}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
      throw new DistError(`rank must be an integer in [0, ${size}), got ${rank}`);
    }
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.checksumPayloads = opts.checksumPayloads ?? false;
  }

  get failure(): DistError | null {
    return this._failure;
  }

  /** Moves one frame to `peer` (never called with peer === rank). Resolves when `payload` may be reused. */
  protected abstract sendFrame(peer: number, kind: FrameKind, tag: number, payload: Uint8Array): Promise<void>;
  /**
   * Best effort: tell every live peer we failed (Abort frame carrying `message`; null = a peer already told
   * us, send nothing), then release resources. Must not throw.
   */
  protected abstract abortPeers(message: string | null): void;
  /** Flush, tell peers we are done (Close frame), release resources. */
  protected abstract closePeers(): Promise<void>;

  protected checkPeer(peer: number, what: string): void {
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.size) {
      throw new DistError(`${what}: peer rank ${peer} is out of range [0, ${this.size}) (rank ${this.rank})`);
    }
  }

  async send(peer: number, tag: number, bytes: Uint8Array): Promise<void> {
    this.checkPeer(peer, 'send');
    if (this._failure) throw this._failure;
    if (this.closing) throw new DistError(`send to rank ${peer} after close() (rank ${this.rank})`);
    if (bytes.length > this.maxMessageBytes) {
      throw new DistError(`send of ${bytes.length} bytes to rank ${peer} exceeds maxMessageBytes=${this.maxMessageBytes}`);
    }
    if (peer === this.rank) {
      this.deliver(peer, tag, new Uint8Array(bytes)); // copy (Buffer.slice would not)
      return;
    }
    const gone = this.peerGone.get(peer);
    if (gone && this.causePending) throw await this.failed();
    if (gone) throw new DistError(`cannot send to rank ${peer}: ${gone} (rank ${this.rank})`);
    await this.sendFrame(peer, FrameKind.Data, tag, bytes);
  }

  recv(peer: number, tag: number, opts: RecvOptions = {}): Promise<Uint8Array> {
    try {
      this.checkPeer(peer, 'recv');
    } catch (e) {
      return Promise.reject(e);
    }
    if (this._failure) return Promise.reject(this._failure);
    const box = this.box(peer, tag);
    const ready = box.messages.shift();
    if (ready) {
      if (box.messages.length === 0 && box.waiters.length === 0) this.boxes.delete(key(peer, tag));
      return Promise.resolve(ready);
    }
    const gone = this.peerGone.get(peer);
    if (gone && this.causePending) return this.failed().then((e) => Promise.reject(e));
    if (gone) return Promise.reject(new DistError(`${gone} (waiting for rank ${peer}, tag ${tag}; rank ${this.rank})`));
    if (this.closing) return Promise.reject(new DistError(`recv from rank ${peer} after close() (rank ${this.rank})`));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs; // (undefined in opts = transport default)
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null };
      if (Number.isFinite(timeoutMs)) {
        waiter.timer = setTimeout(() => {
          const i = box.waiters.indexOf(waiter);
          if (i >= 0) box.waiters.splice(i, 1);
          reject(
            new DistError(
              `timed out after ${timeoutMs} ms waiting for a message from rank ${peer} (tag ${tag}); ` +
                `the peer is stuck, slow or never arrived (raise timeoutMs / PARALLAX_DIST_TIMEOUT_MS if it is just slow)`,
            ),
          );
        }, timeoutMs);
      }
      box.waiters.push(waiter);
    });
  }

  abort(err: Error): void {
    if (this._failure) return;
    const failure = err instanceof DistError ? err : new DistError(errorText(err), { cause: err });
    this.setFailure(failure);
    this.rejectAll(failure);
    try {
      this.abortPeers(failure.message);
    } catch {
      // best effort by contract
    }
  }

  async close(): Promise<void> {
    if (this.closing || this._failure) return;
    this.closing = true;
    const err = new DistError(`transport of rank ${this.rank} was closed while this receive was pending`);
    this.rejectAll(err);
    await this.closePeers();
  }

  /** Subclasses: a Data frame arrived. */
  protected deliver(source: number, tag: number, payload: Uint8Array): void {
    if (this._failure) return;
    const box = this.box(source, tag);
    const waiter = box.waiters.shift();
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      if (box.messages.length === 0 && box.waiters.length === 0) this.boxes.delete(key(source, tag));
      waiter.resolve(payload);
    } else {
      box.messages.push(payload);
    }
  }

  /** Subclasses: an Abort frame (or shared abort flag) from `source` arrived, carrying its reason. */
  protected peerAborted(source: number, message: string): void {
    if (this._failure) return;
    if (this.causeWaitMs <= 0) return this.failLocally(new DistError(`rank ${source} aborted: ${message}`));
    this.publishedCauses.push({ source, message });
    this.openCauseWindow();
  }

  /** True while a cause window is open (a failure was seen, its reason not yet chosen). */
  protected get causePending(): boolean {
    return this.causeTimer !== null && this._failure === null;
  }

  /** Resolves with the failure once the transport has failed (at the latest when an open cause window ends). */
  protected failed(): Promise<DistError> {
    if (this._failure) return Promise.resolve(this._failure);
    return new Promise((resolve) => this.failureWaiters.push(resolve));
  }

  private openCauseWindow(): void {
    if (this.causeTimer) return;
    this.causeTimer = setTimeout(() => this.settleCause(), this.causeWaitMs);
  }

  /** End of the cause window: the lowest rank's published reason, else the first lost peer. */
  private settleCause(): void {
    this.causeTimer = null;
    if (this._failure) return;
    const published = [...this.publishedCauses].sort((a, b) => a.source - b.source)[0];
    if (published) {
      const lost = LOST_PEER.exec(published.message);
      const rootCause = lost !== null && Number(lost[1]) !== this.rank;
      this.failLocally(new DistError(rootCause ? published.message : `rank ${published.source} aborted: ${published.message}`));
    } else if (this.firstLoss) this.abort(this.firstLoss);
  }

  private setFailure(err: DistError): void {
    this._failure = err;
    if (this.causeTimer) clearTimeout(this.causeTimer);
    this.causeTimer = null;
    for (const w of this.failureWaiters.splice(0)) w(err);
  }

  /** Subclasses: `source` closed cleanly; receives from it that cannot be matched now fail. */
  protected peerClosed(source: number): void {
    const why = `peer rank ${source} closed its transport`;
    this.peerGone.set(source, why);
    for (const [k, box] of this.boxes) {
      if (peerOf(k) !== source) continue;
      for (const w of box.waiters.splice(0)) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(new DistError(`${why} before sending the awaited message (rank ${this.rank})`));
      }
    }
  }

  /** Subclasses: `source` vanished without a clean close (process killed, socket dropped, worker died). */
  protected peerLost(source: number, how = 'closed the connection'): void {
    if (this._failure || this.closing) return;
    this.peerGone.set(source, `peer rank ${source} ${how}`);
    const err = new DistError(`peer rank ${source} ${how}`);
    if (this.causeWaitMs <= 0) return this.abort(err);
    // maybe only a consequence of a failure elsewhere: wait for a published reason first
    this.firstLoss ??= err;
    this.openCauseWindow();
  }

  /** Subclasses: bytes from `source` do not form a valid frame. */
  protected malformed(source: number | string, problem: string): void {
    this.abort(new DistError(`malformed message from ${typeof source === 'number' ? `rank ${source}` : source}: ${problem}`));
  }

  /** Abort state without broadcasting (used when a peer told us it failed). */
  private failLocally(err: DistError): void {
    if (this._failure) return;
    this.setFailure(err);
    this.rejectAll(err);
    try {
      this.abortPeers(null);
    } catch {
      // best effort
    }
  }

  protected get isClosing(): boolean {
    return this.closing;
  }

  private rejectAll(err: Error): void {
    for (const box of this.boxes.values()) {
      for (const w of box.waiters.splice(0)) {
        if (w.timer) clearTimeout(w.timer);
        w.reject(err);
      }
    }
    this.boxes.clear();
  }

  private box(peer: number, tag: number): Mailbox {
    const k = key(peer, tag);
    let b = this.boxes.get(k);
    if (!b) {
      b = { messages: [], waiters: [] };
      this.boxes.set(k, b);
    }
    return b;
  }
}

const key = (peer: number, tag: number) => `${peer}/${tag}`;
/** A published reason that is a lost peer (peerLost's wording): the root cause itself, whoever relays it. */
const LOST_PEER = /^peer rank (\d+) (?:closed the connection|died)/;
const peerOf = (k: string) => Number(k.slice(0, k.indexOf('/')));
