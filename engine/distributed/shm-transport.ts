// Shared-memory transport: one worker_thread per rank, one SharedArrayBuffer byte ring per directed pair,
// framed messages chunked through the rings with Atomics.waitAsync; failures published in a shared
// world-state block so every rank notices within one poll interval. The world's first failure (its rank and
// reason, recorded atomically before that rank's Failed status) is the cause every rank reports: a rank that sees
// a peer's Failed status before the reason is readable waits up to CAUSE_WAIT_MS for it.
import { DistError } from './errors.js';
import { type FrameHeader, FrameKind, HEADER_BYTES, checkPayload, readHeader, writeHeader } from './framing.js';
import { RankStatus, Ring, WorldState } from './shm-ring.js';
import { CAUSE_WAIT_MS, MailboxTransport, type TransportOptions } from './transport.js';

/** What a rank needs to join a shared-memory world (structured-cloneable: send it in workerData). */
export interface ShmEndpoint {
  rank: number;
  size: number;
  /** outRings[p] carries rank -> p (null at p = rank). */
  outRings: (SharedArrayBuffer | null)[];
  /** inRings[p] carries p -> rank (null at p = rank). */
  inRings: (SharedArrayBuffer | null)[];
  /** WorldState block shared by all ranks and the launcher. */
  state: SharedArrayBuffer;
}

export interface ShmOptions extends TransportOptions {
  /** How often blocked loops re-check the world state for failures elsewhere (ms, default 20). */
  pollMs?: number;
}

/** Allocates the rings and state of an n-rank world; endpoint r goes to rank r. */
export function allocateShmWorld(size: number, ringBytes = 1 << 20): ShmEndpoint[] {
  const rings: (SharedArrayBuffer | null)[][] = Array.from({ length: size }, (_, i) =>
    Array.from({ length: size }, (_, j) => (i === j ? null : Ring.allocate(ringBytes))),
  );
  const state = WorldState.allocate(size);
  return Array.from({ length: size }, (_, r) => ({
    rank: r,
    size,
    outRings: rings[r]!,
    inRings: rings.map((row) => row[r]!),
    state,
  }));
}

interface PendingWrite {
  bytes: Uint8Array[];
  resolve: () => void;
  reject: (e: Error) => void;
}

export class ShmTransport extends MailboxTransport {
  readonly kind = 'shm';
  private readonly out: (Ring | null)[];
  private readonly in: (Ring | null)[];
  private readonly world: WorldState;
  private readonly pollMs: number;
  private readonly queues: PendingWrite[][];
  private readonly writing: boolean[];
  private stopped = false;
  private readonly readersDone: Promise<void>[];
  /** Atomics.waitAsync does not keep Node's event loop alive: this timer does, and polls the world state. */
  private readonly keepAlive: ReturnType<typeof setInterval>;

  constructor(ep: ShmEndpoint, opts: ShmOptions = {}) {
    super(ep.rank, ep.size, opts);
    this.out = ep.outRings.map((s) => (s ? new Ring(s) : null));
    this.in = ep.inRings.map((s) => (s ? new Ring(s) : null));
    this.world = new WorldState(ep.state, ep.size);
    this.pollMs = opts.pollMs ?? 20;
    this.queues = this.out.map(() => []);
    this.writing = this.out.map(() => false);
    this.keepAlive = setInterval(() => this.checkWorld(), this.pollMs);
    this.readersDone = this.in.map((ring, p) => (ring ? this.readLoop(p, ring) : Promise.resolve()));
  }

  protected sendFrame(peer: number, kind: FrameKind, tag: number, payload: Uint8Array): Promise<void> {
    const header = new Uint8Array(HEADER_BYTES);
    writeHeader(header, 0, kind, this.rank, tag, payload, this.checksumPayloads);
    return this.enqueue(peer, [header, payload]);
  }

  /** Testing: write raw bytes into the ring towards `peer`, as if they were frames. */
  injectRaw(peer: number, bytes: Uint8Array): Promise<void> {
    return this.enqueue(peer, [bytes]);
  }

  protected abortPeers(message: string | null): void {
    if (message !== null) this.world.recordFailure(this.rank, message);
    this.world.setStatus(this.rank, RankStatus.Failed);
    // pending sends fail with the transport's failure (the cause), not a bare 'aborted'
    this.stop(this.failure ?? new DistError(message ?? 'transport aborted'));
  }

  protected async closePeers(): Promise<void> {
    // flush what is queued (peers keep reading until they see us closed), then publish Closed
    await Promise.all(
      this.queues.map(
        (q, p) =>
          new Promise<void>((resolve) => {
            if (q.length === 0 && !this.writing[p]) return resolve();
            const last = q[q.length - 1];
            if (!last) return resolve();
            const { resolve: r0, reject: j0 } = last;
            last.resolve = () => (r0(), resolve());
            last.reject = (e) => (j0(e), resolve());
          }),
      ),
    );
    this.world.setStatus(this.rank, RankStatus.Closed);
    this.stop(new DistError('transport closed'));
    await Promise.all(this.readersDone);
  }

  private stop(err: Error): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.keepAlive);
    for (const q of this.queues) for (const w of q.splice(0)) w.reject(err);
    for (const r of [...this.out, ...this.in]) r?.wakeAll();
  }

  private enqueue(peer: number, bytes: Uint8Array[]): Promise<void> {
    if (this.stopped) return Promise.reject(this.failure ?? new DistError(`send on a closed shm transport (rank ${this.rank})`));
    return new Promise<void>((resolve, reject) => {
      this.queues[peer]!.push({ bytes, resolve, reject });
      if (!this.writing[peer]) void this.writeLoop(peer);
    });
  }

  /** Why `peer` can no longer take our bytes, or null. */
  private peerProblem(peer: number): string | null {
    const s = this.world.status(peer);
    if (s === RankStatus.Dead) return `peer rank ${peer} died (worker exited or was terminated)`;
    if (s === RankStatus.Failed) return `peer rank ${peer} aborted`;
    if (s === RankStatus.Closed) return `peer rank ${peer} closed its transport`;
    return null;
  }

  private async writeLoop(peer: number): Promise<void> {
    const ring = this.out[peer]!;
    const q = this.queues[peer]!;
    this.writing[peer] = true;
    try {
      while (q.length > 0 && !this.stopped) {
        const item = q[0]!;
        for (const part of item.bytes) {
          let off = 0;
          while (off < part.length) {
            if (this.stopped) return;
            const n = ring.write(part, off);
            off += n;
            if (n === 0) {
              this.checkWorld();
              if (this.world.status(peer) === RankStatus.Failed) {
                // the peer failed: report the world's first cause, not this symptom
                await this.failWithFirstCause(peer);
                return;
              }
              const problem = this.peerProblem(peer);
              if (problem) throw new DistError(`cannot send to rank ${peer}: ${problem}`);
              await ring.waitForSpace(this.pollMs);
            }
          }
        }
        q.shift();
        item.resolve();
      }
    } catch (e) {
      this.abort(e as Error);
      for (const w of q.splice(0)) w.reject(this.failure ?? (e as Error));
    } finally {
      this.writing[peer] = false;
    }
  }

  /** The world's first failure, waiting up to CAUSE_WAIT_MS for its reason to become readable. */
  private async firstCause(): Promise<{ rank: number; message: string } | null> {
    const until = Date.now() + CAUSE_WAIT_MS;
    for (;;) {
      const f = this.world.firstFailure();
      if (f || this.failure || Date.now() >= until) return f;
      await new Promise((r) => setTimeout(r, Math.min(5, this.pollMs)));
    }
  }

  /** `peer` has the Failed status: fail with the world's first cause (waiting for its reason), else name `peer`. */
  private async failWithFirstCause(peer: number): Promise<void> {
    const f = await this.firstCause();
    if (this.failure || this.stopped) return;
    if (f && f.rank !== this.rank) this.adopt(f);
    else this.peerAborted(peer, `no reason published within ${CAUSE_WAIT_MS} ms`);
  }

  /** Fails with the world's first failure `f` (another rank's): a dead worker is a lost peer, else its abort. */
  private adopt(f: { rank: number; message: string }): void {
    if (this.world.status(f.rank) === RankStatus.Dead) this.peerLost(f.rank, `died (${f.message})`);
    else this.peerAborted(f.rank, f.message);
  }

  /** When a recorded first failure was first seen while its rank still had a live status (0: not seen). */
  private causeSeenAt = 0;

  /**
   * Fails this transport if another rank failed or died (the shared abort broadcast). The reason is recorded
   * before the failing rank's status (Failed by the rank itself, Dead by the launcher right after): while that
   * status is not there yet, wait (bounded by CAUSE_WAIT_MS) so a dead worker is reported as dead everywhere.
   */
  private checkWorld(): void {
    if (this.failure || this.stopped) return;
    const f = this.world.firstFailure();
    if (!f || f.rank === this.rank) return;
    const s = this.world.status(f.rank);
    if (s === RankStatus.Dead || s === RankStatus.Failed) return this.adopt(f);
    const now = Date.now();
    if (this.causeSeenAt === 0) this.causeSeenAt = now;
    else if (now - this.causeSeenAt >= CAUSE_WAIT_MS) this.adopt(f);
  }

  private async readLoop(peer: number, ring: Ring): Promise<void> {
    const head = new Uint8Array(HEADER_BYTES);
    let header: FrameHeader | null = null;
    let payload: Uint8Array = new Uint8Array(0);
    let got = 0;
    while (!this.stopped) {
      if (ring.available() === 0) {
        this.checkWorld();
        if (this.stopped || this.failure) break;
        const s = this.world.status(peer);
        if (s !== RankStatus.Running && ring.available() === 0) {
          if (s === RankStatus.Closed) {
            if (header || got > 0) this.malformed(peer, 'peer closed in the middle of a frame');
            else this.peerClosed(peer);
          } else if (s === RankStatus.Dead) {
            const f = this.world.firstFailure(); // recorded before the Dead status: the launcher's reason
            if (f && f.rank !== this.rank) this.adopt(f);
            else this.peerLost(peer, 'died (worker exited or was terminated)');
          } else {
            await this.failWithFirstCause(peer);
          }
          return;
        }
        await ring.waitForData(this.pollMs);
        continue;
      }
      if (!header) {
        got += ring.read(head, got);
        if (got < HEADER_BYTES) continue;
        try {
          header = readHeader(head, 0, this.maxMessageBytes);
        } catch (e) {
          this.malformed(peer, (e as Error).message);
          return;
        }
        if (header.source !== peer) {
          this.malformed(peer, `frame claims source rank ${header.source} on the ring from rank ${peer}`);
          return;
        }
        payload = new Uint8Array(header.length);
        got = 0;
      } else {
        got += ring.read(payload, got);
      }
      if (header && got === header.length) {
        const h = header;
        header = null;
        got = 0;
        try {
          checkPayload(h, payload);
        } catch (e) {
          this.malformed(peer, (e as Error).message);
          return;
        }
        if (h.kind === FrameKind.Data) this.deliver(peer, h.tag, payload);
        else if (h.kind === FrameKind.Abort) this.peerAborted(peer, new TextDecoder().decode(payload));
        else if (h.kind === FrameKind.Close) this.peerClosed(peer);
        else {
          this.malformed(peer, `unexpected frame kind ${FrameKind[h.kind]} on a shm ring`);
          return;
        }
      }
    }
  }
}
