import { describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { allocateShmWorld, ShmTransport } from '../../../engine/distributed/shm-transport.js';
import { Ring } from '../../../engine/distributed/shm-ring.js';
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
