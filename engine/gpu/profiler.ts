// The profiler behind `--profile`: collects a device's per-dispatch times (GPU timestamps, or host completion times
// where the adapter has no timestamp queries) and host spans (pipeline stages, steps, waits), then renders a per-op
// table (calls, ms, share, GFLOP/s and GB/s against the adapter's measured peak) and a Chrome trace (trace event
// format, 'X' complete events; chrome://tracing and ui.perfetto.dev open it). Browser-safe: writing files is the
// caller's job.

import type { Device, ProfileEntry, ProfileTiming } from './device.js';
import { activeHostSpanSink, hostSpan, setHostSpanSink, type HostSpan, type HostSpanSink } from './host-spans.js';

export { hostSpan, withHostSpan, type HostSpan } from './host-spans.js';

/** The adapter's practical peaks (bench/peak.ts measures them). */
export interface Peaks {
  gflops: number;
  gbps: number;
}

export interface ProfileRow {
  op: string;
  calls: number;
  ms: number;
  /** Percent of all GPU time. */
  share: number;
  flops: number;
  bytes: number;
  gflops: number | null;
  gbps: number;
}

export interface ProfilerOptions {
  /** Measures the adapter's peaks for the table's "% of peak" columns (run once, after the profiled work). */
  measurePeaks?: (device: Device) => Promise<Peaks>;
}

export class Profiler implements HostSpanSink {
  readonly host: HostSpan[] = [];
  readonly gpu: ProfileEntry[] = [];
  timing: ProfileTiming | null = null;
  peaks: Peaks | null = null;
  adapter = '';

  constructor(private readonly opts: ProfilerOptions = {}) {}

  /** Makes this the profiler that hostSpan() records into. */
  start(): this {
    setHostSpanSink(this);
    return this;
  }

  stop(): void {
    if (activeHostSpanSink() === this) setHostSpanSink(null);
  }

  /** Takes the device's recorded dispatches; measures the peaks once when a measurer was given. */
  async collect(device: Device): Promise<void> {
    this.gpu.push(...(await device.takeProfile()));
    this.timing ??= device.profileTiming;
    this.adapter ||= [device.adapter.vendor, device.adapter.architecture, device.adapter.description].filter(Boolean).join(' / ');
    if (this.opts.measurePeaks && !this.peaks) {
      const end = hostSpan('measure adapter peaks', 'profile');
      this.peaks = await this.opts.measurePeaks(device);
      end();
      await device.takeProfile(); // the peak kernels are not part of the profiled work
    }
  }

  /** Per-op totals, most time first. */
  rows(): ProfileRow[] {
    const by = new Map<string, ProfileRow>();
    let total = 0;
    for (const e of this.gpu) {
      let r = by.get(e.op);
      if (!r) by.set(e.op, (r = { op: e.op, calls: 0, ms: 0, share: 0, flops: 0, bytes: 0, gflops: null, gbps: 0 }));
      r.calls++;
      r.ms += e.ms;
      r.bytes += e.bytes;
      if (e.flops !== undefined) r.flops += e.flops;
      total += e.ms;
    }
    const rows = [...by.values()];
    for (const r of rows) {
      r.share = total > 0 ? (100 * r.ms) / total : 0;
      const s = r.ms / 1000;
      r.gflops = r.flops > 0 && s > 0 ? r.flops / s / 1e9 : null;
      r.gbps = s > 0 ? r.bytes / s / 1e9 : 0;
    }
    return rows.sort((a, b) => b.ms - a.ms);
  }

  /** The per-op table as aligned text (markdown-compatible). */
  table(): string {
    const rows = this.rows();
    const total = rows.reduce((a, r) => a + r.ms, 0);
    const pk = this.peaks;
    const pct = (v: number, peak: number | undefined) => (peak ? ` (${((100 * v) / peak).toFixed(0)}%)` : '');
    const head = ['op', 'calls', 'ms', 'share', 'GFLOP/s' + (pk ? ' (% peak)' : ''), 'GB/s' + (pk ? ' (% peak)' : '')];
    const body = rows.map((r) => [
      r.op, String(r.calls), r.ms.toFixed(2), `${r.share.toFixed(1)}%`,
      r.gflops === null ? '-' : r.gflops.toFixed(2) + pct(r.gflops, pk?.gflops),
      r.gbps.toFixed(2) + pct(r.gbps, pk?.gbps),
    ]);
    body.push(['total', String(this.gpu.length), total.toFixed(2), '100%', '', '']);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    const line = (c: string[]) => `| ${c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join(' | ')} |`;
    const timing = this.timing === 'host-completion'
      ? 'HOST-TIMED (no timestamp-query: one submit per dispatch, timed by its completion on the host; includes submit and wake-up latency)'
      : 'GPU timestamps per dispatch';
    const notes = [
      `adapter: ${this.adapter || '?'}; timing: ${timing}`,
      pk ? `measured peak: ${pk.gflops.toFixed(1)} GFLOP/s f32 FMA, ${pk.gbps.toFixed(1)} GB/s copy` : 'peak: not measured',
      'GB/s counts the bytes of every bound range (an upper bound for ops that read part of a tensor).',
    ];
    return [...notes, '', line(head), `|${w.map((n, i) => (i === 0 ? ':' : '') + '-'.repeat(n + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...body.map(line)].join('\n');
  }

  /** Chrome trace event format: host spans on one track, GPU dispatches on another, microseconds from the first event. */
  trace(): { traceEvents: Record<string, unknown>[]; displayTimeUnit: 'ms'; otherData: Record<string, unknown> } {
    const starts = [...this.host.map((h) => h.startMs), ...this.gpu.map((g) => g.startMs)];
    const t0 = starts.length ? Math.min(...starts) : 0;
    const us = (ms: number) => Math.round((ms - t0) * 1000 * 1000) / 1000;
    const ev: Record<string, unknown>[] = [
      { name: 'process_name', ph: 'M', pid: 1, tid: 1, args: { name: 'host' } },
      { name: 'process_name', ph: 'M', pid: 2, tid: 1, args: { name: `GPU ${this.adapter} (${this.timing ?? 'no timing'})` } },
    ];
    for (const h of this.host) ev.push({ name: h.name, cat: h.cat, ph: 'X', pid: 1, tid: 1, ts: us(h.startMs), dur: Math.max(0, Math.round(h.durMs * 1000 * 1000) / 1000) });
    for (const g of this.gpu) {
      const args: Record<string, unknown> = { label: g.label, bytes: g.bytes };
      if (g.flops !== undefined) args.flops = g.flops;
      if (g.ms > 0 && g.flops) args['GFLOP/s'] = +(g.flops / g.ms / 1e6).toFixed(3);
      ev.push({ name: g.op, cat: 'gpu', ph: 'X', pid: 2, tid: 1, ts: us(g.startMs), dur: Math.round(g.ms * 1000 * 1000) / 1000, args });
    }
    return { traceEvents: ev, displayTimeUnit: 'ms', otherData: { adapter: this.adapter, timing: this.timing, peaks: this.peaks } };
  }
}
