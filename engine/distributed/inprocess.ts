// In-process transport: N ranks as N objects in one JS realm, frames passed through per-link decoders on
// the microtask queue. Used by tests and to drive N GPU devices from one Node process.
import { DistError } from './errors.js';
import { abortPayload, encodeFrame, FrameDecoder, FrameKind } from './framing.js';
import { MailboxTransport, type TransportOptions } from './transport.js';

/** One rank of an in-process world; create the whole world with createInProcessWorld. */
export class InProcessTransport extends MailboxTransport {
  readonly kind = 'inprocess';
  /** peers[r] = the transport object of rank r (same array in every rank). */
  private peers: InProcessTransport[] = [];
  private decoders: FrameDecoder[] = [];
  private dead = false;

  /** @internal wires the world together; called by createInProcessWorld. */
  attach(peers: InProcessTransport[]): void {
    this.peers = peers;
    this.decoders = peers.map(
      (_, src) =>
        new FrameDecoder(this.maxMessageBytes, (h, payload) => {
          if (h.source !== src) {
            this.malformed(src, `frame claims source rank ${h.source} on the link from rank ${src}`);
            return;
          }
          if (h.kind === FrameKind.Data) this.deliver(src, h.tag, payload);
          else if (h.kind === FrameKind.Abort) this.peerAborted(src, new TextDecoder().decode(payload));
          else if (h.kind === FrameKind.Close) this.peerClosed(src);
          else this.malformed(src, `unexpected frame kind ${FrameKind[h.kind]} on an established link`);
        }),
    );
  }

  protected async sendFrame(peer: number, kind: FrameKind, tag: number, payload: Uint8Array): Promise<void> {
    const frame = encodeFrame(kind, this.rank, tag, payload, this.checksumPayloads);
    this.post(peer, frame);
  }

  protected abortPeers(message: string | null): void {
    if (message !== null) {
      const frame = abortPayload(message);
      for (let p = 0; p < this.size; p++) {
        if (p !== this.rank) this.post(p, encodeFrame(FrameKind.Abort, this.rank, 0, frame));
      }
    }
    this.dead = true;
  }

  protected async closePeers(): Promise<void> {
    for (let p = 0; p < this.size; p++) {
      if (p !== this.rank) this.post(p, encodeFrame(FrameKind.Close, this.rank, 0, new Uint8Array(0)));
    }
    this.dead = true;
  }

  /** Testing: push raw bytes into the link from this rank to `peer`, as if they came off a wire. */
  injectRaw(peer: number, bytes: Uint8Array): void {
    this.post(peer, new Uint8Array(bytes));
  }

  /** Testing: this rank vanishes without a word (like a killed process); peers see the link drop. */
  crash(): void {
    this.abortPeers(null);
    super.abort(new DistError(`rank ${this.rank} crashed (simulated)`));
    for (let p = 0; p < this.size; p++) {
      if (p !== this.rank) {
        const target = this.peers[p]!;
        queueMicrotask(() => target.linkLost(this.rank));
      }
    }
  }

  private linkLost(src: number): void {
    this.peerLost(src, 'closed the connection');
  }

  private post(peer: number, bytes: Uint8Array): void {
    if (this.dead) return;
    const target = this.peers[peer]!;
    const src = this.rank;
    queueMicrotask(() => target.receiveRaw(src, bytes));
  }

  private receiveRaw(src: number, bytes: Uint8Array): void {
    if (this.dead) return;
    try {
      this.decoders[src]!.push(bytes);
    } catch (e) {
      this.malformed(src, (e as Error).message);
    }
  }
}

/** Builds `size` connected in-process ranks; element r is rank r's transport. */
export function createInProcessWorld(size: number, opts: TransportOptions = {}): InProcessTransport[] {
  const world = Array.from({ length: size }, (_, r) => new InProcessTransport(r, size, opts));
  for (const t of world) t.attach(world);
  return world;
}
