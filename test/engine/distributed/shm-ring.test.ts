// Shared-memory rings and the shm transport in one thread: byte order, chunking, abort propagation, and the
// world's first failure as the one cause every rank reports (waiting, bounded, for its reason).
import { describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { allocateShmWorld, ShmTransport } from '../../../engine/distributed/shm-transport.js';
import { RankStatus, Ring, WorldState } from '../../../engine/distributed/shm-ring.js';
import { CAUSE_WAIT_MS } from '../../../engine/distributed/transport.js';
import { randBytes } from './collective-cases.js';

describe('shm ring and transport in one thread', () => {
  it('ring keeps byte order across many wrap-arounds', () => {
    const ring = new Ring(Ring.allocate(64));
    const src = randBytes(5000, 1, 'ring');
    const dst = new Uint8Array(5000);
    let w = 0;
    let r = 0;
    let step = 0;
    while (r < src.length) {
      w += ring.write(src.subarray(0, Math.min(src.length, w + 1 + (step % 37))), w);
      r += ring.read(dst, r, Math.min(dst.length, r + 1 + ((step * 5) % 23)));
      expect(ring.available()).toBe(w - r);
      step++;
    }
    expect(Array.from(dst)).toEqual(Array.from(src));
  });

  it('chunks messages much larger than a 64-byte ring, in both directions at once', async () => {
    const ts = allocateShmWorld(2, 64).map((ep) => new ShmTransport(ep, { timeoutMs: 5000 }));
    const msg = (r: number) => randBytes(100_003 + r, 2, 'big', r);
    const got = await Promise.all(ts.map(async (t) => {
      const [, m] = await Promise.all([t.send(1 - t.rank, 9, msg(t.rank)), t.recv(1 - t.rank, 9)]);
      return m;
    }));
    expect(Array.from(got[0]!)).toEqual(Array.from(msg(1)));
    expect(Array.from(got[1]!)).toEqual(Array.from(msg(0)));
    await Promise.all(ts.map((t) => t.close()));
  });

  it('rejects rings that are not a power of two', () => {
    expect(() => Ring.allocate(1000)).toThrow(/power of two/);
  });

  it('a rank that aborts fails a peer blocked on another rank within the poll interval', async () => {
    const ts = allocateShmWorld(3, 1024).map((ep) => new ShmTransport(ep, { timeoutMs: 5000, pollMs: 10 }));
    const g0 = ProcessGroup.world(ts[0]!);
    const waiting = g0.recv(1); // waits on rank 1; rank 2 fails
    const t0 = Date.now();
    ts[2]!.abort(new Error('rank 2 lost its GPU device'));
    await expect(waiting).rejects.toThrow(/^recv on group world\[0,1,2\] \(rank 0\): rank 2 aborted: rank 2 lost its GPU device/);
    expect(Date.now() - t0).toBeLessThan(2000);
    ts[1]!.abort(new Error('cleanup'));
  });
});

describe('shm first cause', () => {
  /** Marks `rank` as the world's first failure without its reason yet (the first half of WorldState.recordFailure). */
  function claimFirstFailure(state: SharedArrayBuffer, size: number, rank: number): (reason: string) => void {
    const words = new Int32Array(state, 0, size + 2);
    expect(Atomics.compareExchange(words, size, 0, rank + 1)).toBe(0);
    return (reason) => {
      const bytes = new TextEncoder().encode(reason);
      new Uint8Array(state, (size + 2) * 4, bytes.length).set(bytes); // WorldState layout: reason text after the words
      Atomics.store(words, size + 1, bytes.length);
    };
  }

  it("a peer's Failed status seen before the first failure's reason: the rank waits for it and reports that cause", async () => {
    const eps = allocateShmWorld(3, 1024);
    const ts = eps.map((ep) => new ShmTransport(ep, { timeoutMs: 5000, pollMs: 10 }));
    const world = new WorldState(eps[0]!.state, 3);
    const publish = claimFirstFailure(eps[0]!.state, 3, 2); // rank 2 failed first, still writing its reason
    world.setStatus(1, RankStatus.Failed); // rank 1 failed because of it (a consequence)
    const waiting = ProcessGroup.world(ts[0]!).recv(1);
    setTimeout(() => publish('rank 2 lost its GPU device'), 60);
    await expect(waiting).rejects.toThrow(/^recv on group world\[0,1,2\] \(rank 0\): rank 2 aborted: rank 2 lost its GPU device$/);
    for (const t of ts) t.abort(new Error('cleanup'));
  });

  it('no reason ever published: the rank reports the failed peer after the bounded wait, never hangs', async () => {
    const eps = allocateShmWorld(2, 1024);
    const ts = eps.map((ep) => new ShmTransport(ep, { timeoutMs: 60_000, pollMs: 10 }));
    claimFirstFailure(eps[0]!.state, 2, 1);
    new WorldState(eps[0]!.state, 2).setStatus(1, RankStatus.Failed);
    const t0 = Date.now();
    await expect(ts[0]!.recv(1, 3)).rejects.toThrow(new RegExp(`^rank 1 aborted: no reason published within ${CAUSE_WAIT_MS} ms`));
    expect(Date.now() - t0).toBeLessThan(10_000); // far below the 60 s receive timeout
    for (const t of ts) t.abort(new Error('cleanup'));
  });

  it('a reason recorded just before its rank is marked dead (the launcher) is reported as that death, not an abort', async () => {
    const eps = allocateShmWorld(3, 1024);
    const ts = eps.map((ep) => new ShmTransport(ep, { timeoutMs: 5000, pollMs: 10 }));
    claimFirstFailure(eps[0]!.state, 3, 1)('worker of rank 1 exited with code 7 before finishing'); // status still Running
    const waiting = ProcessGroup.world(ts[0]!).recv(2);
    setTimeout(() => Atomics.store(new WorldState(eps[0]!.state, 3).words, 1, RankStatus.Dead), 60);
    await expect(waiting).rejects.toThrow(/^recv on group world\[0,1,2\] \(rank 0\): peer rank 1 died \(worker of rank 1 exited with code 7 before finishing\)$/);
    for (const t of ts) t.abort(new Error('cleanup'));
  });

  it('a blocked send to a failed peer reports the first cause, not the bare abort', async () => {
    const eps = allocateShmWorld(3, 64);
    const ts = eps.map((ep) => new ShmTransport(ep, { timeoutMs: 5000, pollMs: 10 }));
    const publish = claimFirstFailure(eps[0]!.state, 3, 2);
    new WorldState(eps[0]!.state, 3).setStatus(1, RankStatus.Failed);
    const sending = ts[0]!.send(1, 4, new Uint8Array(10_000)); // more than the 64-byte ring: blocks on rank 1
    setTimeout(() => publish('rank 2 ran out of memory'), 60);
    await expect(sending).rejects.toThrow(/^rank 2 aborted: rank 2 ran out of memory$/);
    for (const t of ts) t.abort(new Error('cleanup'));
  });
});
