// Socket transport: one process per rank, a full mesh of node:net connections (Unix-domain or TCP)
// carrying framed messages. Built by connectSocketWorld (rendezvous.ts) from established sockets.
// A closed connection, seen on receive or on send, is one event (the peer lost); it and Abort frames open a
// CAUSE_WAIT_MS window after which every rank reports the same cause (transport.ts, causeWaitMs).
import type { Socket } from 'node:net';
import { DistError } from './errors.js';
import { abortPayload, encodeFrame, FrameDecoder, FrameKind, HEADER_BYTES, writeHeader } from './framing.js';
import { CAUSE_WAIT_MS, MailboxTransport, type TransportOptions } from './transport.js';

export class SocketTransport extends MailboxTransport {
  readonly kind: 'unix' | 'tcp';
  private readonly sockets: (Socket | null)[];
  private readonly closedCleanly: boolean[];
  private readonly allClosed: Promise<void>;
  private finished = false;

  /** sockets[p] is the connected, handshaken socket to rank p (null at p = rank). */
  /**
   * `early[p]`: bytes already read from p's socket during the handshake (fed to the decoder first).
   * Sockets may be paused; they are resumed here.
   */
  constructor(
    rank: number,
    size: number,
    kind: 'unix' | 'tcp',
    sockets: (Socket | null)[],
    opts: TransportOptions = {},
    early: Uint8Array[][] = [],
  ) {
    super(rank, size, opts);
    this.causeWaitMs = CAUSE_WAIT_MS;
    this.kind = kind;
    this.sockets = sockets;
    this.closedCleanly = sockets.map(() => false);
    const closes: Promise<void>[] = [];
    sockets.forEach((s, p) => {
      if (!s) return;
      if (kind === 'tcp') s.setNoDelay(true);
      closes.push(new Promise((resolve) => s.once('close', () => resolve())));
      const decoder = new FrameDecoder(this.maxMessageBytes, (h, payload) => {
        if (h.source !== p) return this.malformed(p, `frame claims source rank ${h.source} on the connection from rank ${p}`);
        if (h.kind === FrameKind.Data) this.deliver(p, h.tag, payload);
        else if (h.kind === FrameKind.Abort) this.peerAborted(p, new TextDecoder().decode(payload));
        else if (h.kind === FrameKind.Close) {
          this.closedCleanly[p] = true;
          this.peerClosed(p);
        } else this.malformed(p, `unexpected frame kind ${FrameKind[h.kind]} on an established connection`);
      });
      const push = (chunk: Uint8Array) => {
        if (this.failure) return;
        try {
          // plain Uint8Array view (Buffer.slice does not copy; receivers may rely on slice())
          decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        } catch (e) {
          this.malformed(p, (e as Error).message);
        }
      };
      for (const chunk of early[p] ?? []) push(chunk);
      s.on('data', push);
      s.resume();
      s.on('error', () => {
        // 'close' follows; ECONNRESET etc. are reported there as a lost peer
      });
      s.on('close', () => {
        this.sockets[p] = null;
        if (!this.closedCleanly[p] && !this.finished) this.peerLost(p, 'closed the connection');
      });
    });
    this.allClosed = Promise.all(closes).then(() => undefined);
  }

  protected sendFrame(peer: number, kind: FrameKind, tag: number, payload: Uint8Array): Promise<void> {
    const s = this.sockets[peer];
    if (!s || s.destroyed || !s.writable) {
      // the same event as the 'close' the reader sees (which may not have fired yet): report it the same way
      if (this.closedCleanly[peer]) return Promise.reject(new DistError(`cannot send to rank ${peer}: peer rank ${peer} closed its transport`));
      return this.lostOnSend(peer, 'closed the connection');
    }
    const header = new Uint8Array(HEADER_BYTES);
    writeHeader(header, 0, kind, this.rank, tag, payload, this.checksumPayloads);
    return new Promise<void>((resolve, reject) => {
      s.cork();
      s.write(header);
      s.write(payload, (err) => {
        if (!err) return resolve();
        const code = (err as NodeJS.ErrnoException).code;
        const closed = code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED';
        if (closed && !this.closedCleanly[peer]) this.lostOnSend(peer, 'closed the connection').catch(reject);
        else reject(new DistError(closed ? `cannot send to rank ${peer}: peer rank ${peer} closed its transport` : `write to rank ${peer} failed: ${err.message}`));
      });
      s.uncork();
    });
  }

  /** A send found the connection to `peer` gone: the peer is lost; rejects with the transport's (settled) failure. */
  private lostOnSend(peer: number, how: string): Promise<never> {
    this.peerLost(peer, how);
    if (this.failure) return Promise.reject(this.failure);
    if (!this.causePending) return Promise.reject(new DistError(`cannot send to rank ${peer}: peer rank ${peer} ${how}`)); // closing
    return this.failed().then((e) => Promise.reject(e));
  }

  /** Testing: write raw bytes on the connection to `peer`. */
  injectRaw(peer: number, bytes: Uint8Array): Promise<void> {
    const s = this.sockets[peer];
    return new Promise((resolve, reject) => (s ? s.write(bytes, (e) => (e ? reject(e) : resolve())) : reject(new Error('no socket'))));
  }

  /** Testing: destroy the connection to `peer` without a Close frame (like a network drop). */
  dropLink(peer: number): void {
    this.sockets[peer]?.destroy();
  }

  protected abortPeers(message: string | null): void {
    const frame = message === null ? null : encodeFrame(FrameKind.Abort, this.rank, 0, abortPayload(message));
    for (const s of this.sockets) {
      if (!s || s.destroyed) continue;
      if (frame && s.writable) s.write(frame);
      // a peer told us it failed: let its Abort frames reach everyone before our connections drop
      if (frame) s.end();
      else setTimeout(() => s.end(), 200);
      setTimeout(() => s.destroy(), 1000).unref();
    }
    this.finished = true;
  }

  protected async closePeers(): Promise<void> {
    const close = encodeFrame(FrameKind.Close, this.rank, 0, new Uint8Array(0));
    this.finished = true;
    for (const s of this.sockets) {
      if (!s || s.destroyed) continue;
      if (s.writable) s.write(close);
      s.end();
    }
    const timer = setTimeout(() => this.sockets.forEach((s) => s?.destroy()), Math.min(this.timeoutMs, 5000));
    await this.allClosed;
    clearTimeout(timer);
  }
}
