// The profiler behind --profile: per-dispatch entries from GPU timestamps and from host completion times, FLOP
// counts from the op wrappers, the per-op table (shares sum to 100%) and the Chrome trace (parses, 'X' events with
// non-negative durations, host spans and GPU ops on their own tracks).

import { describe, expect, it } from 'vitest';
import { Device, type ProfileEntry } from '../../../engine/gpu/device.js';
import { hostSpan, Profiler, withHostSpan } from '../../../engine/gpu/profiler.js';
import { add } from '../../../engine/ops/elementwise.js';
import { linear } from '../../../engine/ops/linear.js';
import { Tensor } from '../../../engine/tensor.js';

const entry = (op: string, ms: number, startMs: number, flops?: number): ProfileEntry => ({ op, label: `${op} x`, ms, startMs, flops, bytes: 1e6, timing: 'gpu-timestamps' });

describe('Profiler tables and traces', () => {
  it('sums per op, shares add to 100%, rates from flops and bytes', () => {
    const p = new Profiler();
    p.gpu.push(entry('linear', 2, 0, 4e6), entry('linear', 2, 2, 4e6), entry('add', 1, 4));
    p.peaks = { gflops: 10, gbps: 5 };
    const rows = p.rows();
    expect(rows.map((r) => r.op)).toEqual(['linear', 'add']);
    expect(rows[0]).toMatchObject({ calls: 2, ms: 4, flops: 8e6 });
    expect(rows[0]!.gflops).toBeCloseTo(2, 9); // 8e6 flops in 4 ms
    expect(rows[1]!.gflops).toBeNull();
    expect(rows[1]!.gbps).toBeCloseTo(1, 9); // 1e6 bytes in 1 ms
    expect(rows.reduce((a, r) => a + r.share, 0)).toBeCloseTo(100, 9);
    const t = p.table();
    expect(t).toMatch(/\| linear +\| +2 \| +4\.00 \| +80\.0% \| +2\.00 \(20%\)/);
    expect(t).toMatch(/GPU timestamps/);
  });

  it('records host spans only while started', async () => {
    const p = new Profiler();
    hostSpan('before')();
    p.start();
    await withHostSpan('inside', 'stage', async () => undefined);
    p.stop();
    hostSpan('after')();
    expect(p.host.map((h) => h.name)).toEqual(['inside']);
    const tr = JSON.parse(JSON.stringify(p.trace()));
    const x = tr.traceEvents.filter((e: { ph: string }) => e.ph === 'X');
    expect(x).toHaveLength(1);
    expect(x[0]).toMatchObject({ name: 'inside', cat: 'stage', pid: 1 });
    expect(x[0].dur).toBeGreaterThanOrEqual(0);
  });
});

describe('device profiles', () => {
  for (const mode of ['gpu', 'host'] as const) {
    it(`times every dispatch (${mode}) with op names, flops and a trace`, async () => {
      const d = await Device.create({ label: `prof-${mode}`, profile: mode });
      try {
        if (mode === 'gpu' && !d.caps.timestampQuery) {
          expect(d.profileTiming).toBe('host-completion'); // falls back
        } else {
          expect(d.profileTiming).toBe(mode === 'gpu' ? 'gpu-timestamps' : 'host-completion');
        }
        const M = 37, K = 29, N = 19;
        const x = Tensor.from(d, Float32Array.from({ length: M * K }, (_, i) => (i % 7) - 3), [M, K]);
        const w = Tensor.from(d, Float32Array.from({ length: N * K }, (_, i) => (i % 5) - 2), [N, K]);
        const p = new Profiler().start();
        const y = linear(x, w);
        const z = add(y, y);
        const v = await withHostSpan('read', 'stage', () => z.read());
        p.stop();
        await p.collect(d);
        expect(v[0]).toBe(2 * Array.from({ length: K }, (_, k) => ((k % 7) - 3) * ((k % 5) - 2)).reduce((a, b) => a + b, 0));
        const ops = p.gpu.map((e) => e.op);
        expect(ops).toContain('linear');
        expect(ops).toContain('add');
        for (const e of p.gpu) {
          expect(e.ms).toBeGreaterThanOrEqual(0);
          expect(Number.isFinite(e.startMs)).toBe(true);
        }
        const lin = p.gpu.filter((e) => e.op === 'linear');
        expect(lin.reduce((a, e) => a + (e.flops ?? 0), 0)).toBe(2 * M * N * K);
        expect(p.rows().reduce((a, r) => a + r.share, 0)).toBeCloseTo(100, 6);
        const tr = JSON.parse(JSON.stringify(p.trace()));
        const gpuEv = tr.traceEvents.filter((e: { ph: string; pid: number }) => e.ph === 'X' && e.pid === 2);
        const hostEv = tr.traceEvents.filter((e: { ph: string; pid: number }) => e.ph === 'X' && e.pid === 1);
        expect(gpuEv.length).toBe(p.gpu.length);
        expect(hostEv.map((e: { name: string }) => e.name)).toContain('read');
        for (const e of [...gpuEv, ...hostEv]) {
          expect(e.dur).toBeGreaterThanOrEqual(0);
          expect(e.ts).toBeGreaterThanOrEqual(0);
        }
        if (mode === 'host') expect(p.table()).toMatch(/HOST-TIMED/);
        [x, w, y, z].forEach((t) => t.dispose());
      } finally {
        d.destroy();
      }
    });
  }
});
