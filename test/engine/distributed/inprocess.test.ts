import { describe, expect, it } from 'vitest';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { encodeFrame, FrameKind } from '../../../engine/distributed/framing.js';
import { randF32, runCollectiveSuite } from './collective-cases.js';

describe('in-process transport', () => {
  for (const n of [1, 2, 3, 4]) {
    it(`all collectives, ${n} rank(s)`, async () => {
      const world = createInProcessWorld(n, { timeoutMs: 2000 });
      const res = await Promise.all(world.map((t) => runCollectiveSuite(ProcessGroup.world(t), 11 * n, 5003)));
      expect(new Set(res.map((r) => r.allReduceHash)).size).toBe(1);
      expect(new Set(res.map((r) => r.bigHash)).size).toBe(1);
      await Promise.all(world.map((t) => t.close()));
      const s = ProcessGroup.world(world[0]!).stats;
      if (n > 1) {
        expect(s.byOp.allReduce!.bytesSent).toBeGreaterThan(0);
        expect(s.bytesReceived).toBeGreaterThan(0);
      }
    });
  }

  it('8 ranks as CFG 2 x SP 4: concurrent groups do not mix', async () => {
    const world = createInProcessWorld(8, { timeoutMs: 2000 });
    const out = await Promise.all(
      world.map(async (t) => {
        const w = ProcessGroup.world(t);
        const sp = (await w.split(Math.floor(t.rank / 4), t.rank, 'sp'))!;
        const cfg = (await w.split(t.rank % 4, t.rank, 'cfg'))!;
        const x = randF32(24, 5, 'x', t.rank);
        const [a2a, cfgSum, spSum] = await Promise.all([
          sp.allToAll([0, 1, 2, 3].map((j) => x.subarray(j * 6, j * 6 + 6))),
          cfg.allReduce(x),
          sp.allReduce(x),
        ]);
        return { rank: t.rank, sp: sp.describe(), cfg: cfg.describe(), a2a, cfgSum, spSum };
      }),
    );
    for (const o of out) {
      const c = Math.floor(o.rank / 4);
      expect(o.sp).toBe(`sp[${[0, 1, 2, 3].map((i) => c * 4 + i).join(',')}]`);
      expect(o.cfg).toBe(`cfg[${o.rank % 4},${(o.rank % 4) + 4}]`);
      for (let j = 0; j < 4; j++) {
        const src = randF32(24, 5, 'x', c * 4 + j);
        expect(Array.from(o.a2a[j]!)).toEqual(Array.from(src.subarray((o.rank % 4) * 6, (o.rank % 4) * 6 + 6)));
      }
      const a = randF32(24, 5, 'x', o.rank % 4);
      const b = randF32(24, 5, 'x', (o.rank % 4) + 4);
      expect(Array.from(o.cfgSum)).toEqual(Array.from(a, (v, i) => Math.fround(v + b[i]!)));
    }
  });

  it('a rank that never arrives times out on every waiting rank', async () => {
    const world = createInProcessWorld(4, { timeoutMs: 300 });
    const t0 = Date.now();
    const res = await Promise.allSettled(world.slice(0, 3).map((t) => ProcessGroup.world(t).allReduce(new Float32Array(10))));
    expect(Date.now() - t0).toBeLessThan(3000);
    for (const r of res) {
      expect(r.status).toBe('rejected');
      expect(String((r as PromiseRejectedResult).reason.message)).toMatch(/^allReduce on group world\[0,1,2,3\] \(rank \d\): /);
    }
    expect(res.some((r) => /timed out after 300 ms waiting for a message from rank 3/.test((r as PromiseRejectedResult).reason.message))).toBe(true);
  });

  it('a crashed rank fails every other rank, naming it and the collective', async () => {
    const world = createInProcessWorld(3, { timeoutMs: 5000 });
    const groups = world.map((t) => ProcessGroup.world(t));
    const sp = groups.map((g) => g.newGroup([0, 1, 2], 'sp')!);
    const pending = sp.slice(0, 2).map((g) => g.allToAll([new Uint8Array(3), new Uint8Array(3), new Uint8Array(3)]));
    const t0 = Date.now();
    world[2]!.crash();
    const res = await Promise.allSettled(pending);
    expect(Date.now() - t0).toBeLessThan(1000);
    const msgs = res.map((r) => (r as PromiseRejectedResult).reason.message as string);
    expect(msgs.some((m) => m.startsWith('allToAll on group sp[0,1,2] (rank') && m.includes('peer rank 2 closed the connection'))).toBe(true);
    for (const m of msgs) expect(m).toMatch(/rank 2/);
  });

  it('garbage bytes on a link fail every rank', async () => {
    const world = createInProcessWorld(3, { timeoutMs: 5000 });
    world[1]!.injectRaw(0, new Uint8Array(40).fill(0xab));
    const pending = [0, 2].map((r) => ProcessGroup.world(world[r]!).allGather(new Float32Array(5)));
    const res = await Promise.allSettled(pending);
    const msgs = res.map((r) => (r.status === 'rejected' ? (r.reason.message as string) : 'fulfilled'));
    expect(msgs[0]).toMatch(/^allGather on group world\[0,1,2\] \(rank 0\): malformed message from rank 1: bad magic 0xabababab/);
    expect(msgs[1]).toMatch(/^allGather on group world\[0,1,2\] \(rank 2\): rank 0 aborted: malformed message from rank 1: bad magic/);
  });

  it('rejects unknown frame kinds and oversized lengths', async () => {
    for (const [bytes, re] of [
      [(() => { const f = encodeFrame(FrameKind.Data, 1, 0, new Uint8Array(4)); f[5] = 9; return f; })(), /header checksum/],
      [encodeFrame(FrameKind.Hello, 1, 0, new Uint8Array(4)), /unexpected frame kind Hello/],
      [encodeFrame(FrameKind.Data, 1, 0, new Uint8Array(64)), /frame length 64 exceeds the limit of 16 bytes for Data frames/],
    ] as const) {
      const world = createInProcessWorld(2, { timeoutMs: 5000, maxMessageBytes: 16 });
      const p = ProcessGroup.world(world[0]!).recv(1);
      world[1]!.injectRaw(0, bytes);
      await expect(p).rejects.toThrow(re);
      expect(world[1]!.failure?.message).toMatch(/rank 0 aborted/);
    }
  });
});
