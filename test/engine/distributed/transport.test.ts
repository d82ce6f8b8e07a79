// MailboxTransport's first-cause window (what the socket transport uses): a lost peer or an Abort frame opens a
// bounded window; at its end the transport fails with the lowest rank's published reason, else its own first lost
// peer; a relayed lost peer is reported as that root cause; sends and receives to a lost peer during the window
// reject with the settled failure; nothing waits longer than the window.
import { describe, expect, it } from 'vitest';
import { DistError } from '../../../engine/distributed/errors.js';
import type { FrameKind } from '../../../engine/distributed/framing.js';
import { CAUSE_WAIT_MS, MailboxTransport } from '../../../engine/distributed/transport.js';

/** A transport whose frames go nowhere; the test drives what "arrives". */
class Probe extends MailboxTransport {
  readonly kind = 'probe';
  published: (string | null)[] = [];
  constructor(rank: number, size: number, wait = CAUSE_WAIT_MS) {
    super(rank, size, { timeoutMs: 60_000 });
    this.causeWaitMs = wait;
  }
  protected sendFrame(_peer: number, _kind: FrameKind, _tag: number, _payload: Uint8Array): Promise<void> {
    return Promise.resolve();
  }
  protected abortPeers(message: string | null): void {
    this.published.push(message);
  }
  protected async closePeers(): Promise<void> {}
  lost(peer: number): void {
    this.peerLost(peer, 'closed the connection');
  }
  aborted(peer: number, message: string): void {
    this.peerAborted(peer, message);
  }
}

const settle = () => new Promise((r) => setTimeout(r, CAUSE_WAIT_MS + 50));

describe('first-cause window', () => {
  it('a lost peer alone: after the window the loss is the failure, and it is published', async () => {
    const t = new Probe(0, 3);
    const pending = t.recv(1, 7);
    t.lost(2);
    expect(t.failure).toBeNull(); // still waiting for a published reason
    await expect(pending).rejects.toThrow(/^peer rank 2 closed the connection$/);
    expect(t.published).toEqual(['peer rank 2 closed the connection']);
  });

  it('a published reason arriving during the window wins over the loss it caused', async () => {
    const t = new Probe(0, 3);
    const pending = t.recv(2, 7);
    t.lost(2);
    t.aborted(1, 'malformed message from rank 2: bad magic 0x5a5a5a5a');
    await expect(pending).rejects.toThrow(/^rank 1 aborted: malformed message from rank 2: bad magic 0x5a5a5a5a$/);
    expect(t.published).toEqual([null]); // a peer told us: nothing to publish
  });

  it('several published reasons: the lowest rank wins whatever the arrival order; a relayed lost peer is the root cause', async () => {
    const a = new Probe(1, 4);
    const b = new Probe(1, 4);
    a.aborted(3, 'peer rank 0 closed the connection');
    a.aborted(0, 'peer rank 2 closed the connection');
    b.aborted(0, 'peer rank 2 closed the connection');
    b.aborted(3, 'peer rank 0 closed the connection');
    const c = new Probe(1, 4);
    c.aborted(2, 'rank 2 lost its GPU device');
    c.aborted(3, 'peer rank 1 closed the connection'); // about us: not a root cause we can report as is
    await settle();
    expect(a.failure?.message).toBe('peer rank 2 closed the connection');
    expect(b.failure?.message).toBe('peer rank 2 closed the connection');
    expect(c.failure?.message).toBe('rank 2 aborted: rank 2 lost its GPU device');
    const d = new Probe(2, 4);
    d.aborted(0, 'peer rank 2 closed the connection');
    await settle();
    expect(d.failure?.message).toBe('rank 0 aborted: peer rank 2 closed the connection');
  });

  it('send and recv to the lost peer during the window reject with the settled failure, not a second wording', async () => {
    const t = new Probe(0, 3);
    t.lost(2);
    const send = t.send(2, 1, new Uint8Array(4));
    const recv = t.recv(2, 1);
    t.aborted(1, 'rank 1 ran out of memory');
    await expect(send).rejects.toThrow(/^rank 1 aborted: rank 1 ran out of memory$/);
    await expect(recv).rejects.toThrow(/^rank 1 aborted: rank 1 ran out of memory$/);
  });

  it('a local abort during the window fails at once with its own reason', () => {
    const t = new Probe(0, 3);
    t.lost(2);
    t.abort(new DistError('malformed message from rank 1: bad magic 0x01020304'));
    expect(t.failure?.message).toBe('malformed message from rank 1: bad magic 0x01020304');
  });

  it('without a window (causeWaitMs 0) the first report fails the transport at once, as before', () => {
    const t = new Probe(0, 3, 0);
    t.lost(2);
    expect(t.failure?.message).toBe('peer rank 2 closed the connection');
    const u = new Probe(0, 3, 0);
    u.aborted(2, 'peer rank 1 closed the connection');
    expect(u.failure?.message).toBe('rank 2 aborted: peer rank 1 closed the connection');
  });
});
