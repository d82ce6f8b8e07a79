// Times the matmul variants (linear layout: w stored [N, K]) at Vchitect sizes and prints GFLOP/s and % of the
// adapter's measured FMA peak. Candidates are interleaved (one run of each per round, median over rounds) so a
// shared machine's load hits them alike. Not a test.
// Usage: node --import tsx bench/matmul.ts [--space] [--no-peak] [--only variant,variant[K=V,...]] [--reps N]
//        [--shapes "M,K,N;M,K,N"] [--dtypes f32,f16,f32xf16]
//   --space: every setting of each variant's tuning space instead of its defaults
//   (defaults also from env BENCH_REPS, BENCH_SHAPES, BENCH_DTYPES); --help lists the options.

import os from 'node:os';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { linear } from '../engine/ops/linear.js';
import { matmulVariants } from '../engine/ops/matmul.js';
import { tuneSettings, type TuneSettings } from '../engine/ops/registry.js';
import { settingsLabel } from '../engine/ops/tuning.js';
import { Tensor } from '../engine/tensor.js';
import { measurePeaks } from './peak.js';
import { median } from './timing.js';
import { parseBenchArgs } from './cli.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/matmul.ts',
  summary: `Times the matmul variants (linear layout, w stored [N, K]) at Vchitect sizes, interleaved round by round; prints
GFLOP/s and % of the measured FMA peak. Writes no file.`,
  options: {
    only: { type: 'string', value: 'VARIANTS', help: 'comma-separated variants, each optionally with settings: matmul_regs[TM=4,WGY=8] (default: all available)' },
    space: { type: 'boolean', help: "every setting of each variant's tuning space instead of its defaults" },
    reps: { type: 'string', value: 'N', help: 'interleaved rounds (default $BENCH_REPS or 3)' },
    shapes: { type: 'string', value: '"M,K,N;..."', help: 'shapes (default $BENCH_SHAPES or the 2B linears)' },
    dtypes: { type: 'string', value: 'LIST', help: 'f32, f16, or XxW pairs such as f32xf16 (default $BENCH_DTYPES or f32,f16)' },
    'no-peak': { type: 'boolean', help: 'skip measuring the adapter peak' },
  },
});
const space = args.flag('space');
/** --only split on the commas outside [...] settings. */
const want = (args.str('only') ?? '').split(/,(?![^[]*\])/).map((x) => x.trim()).filter(Boolean);
const device = await Device.create({ label: 'bench' });
const reps = args.num('reps', Number(process.env.BENCH_REPS ?? 3));
const shapes = (args.str('shapes') ?? process.env.BENCH_SHAPES ?? '1296,1536,1536;1296,1536,6144;1,1536,1536;1,1536,9216')
  .split(';').map((s) => s.split(',').map(Number) as [number, number, number]);
const pairs = (args.str('dtypes') ?? process.env.BENCH_DTYPES ?? 'f32,f16').split(',').map((p) => (p.includes('x') ? p.split('x') : [p, p]) as [DType, DType]);
console.log(`# ${device.adapter.description} (${device.adapter.backend}); CPU ${os.cpus()[0]?.model} x${os.cpus().length}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const peak = args.flag('no-peak') ? null : (await measurePeaks(device)).gflops;
if (peak) console.log(`# measured FMA peak ${peak.toFixed(1)} GFLOP/s`);

const cands: { name: string; variant: string; settings?: TuneSettings }[] = [];
/** `name[K=V,...]` arguments: one variant with explicit settings. */
const explicit = want.map((w) => /^(\w+)\[(.*)\]$/.exec(w)).filter((m): m is RegExpExecArray => !!m);
for (const [arg, name, body] of explicit) {
  const settings = Object.fromEntries(body!.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k!, v === 'true' ? true : v === 'false' ? false : Number(v)]));
  cands.push({ name: arg!, variant: name!, settings });
}
for (const v of matmulVariants(device)) {
  if (want.length ? !want.includes(v.name) : v.name === 'matmul_naive') continue;
  const sets = space ? tuneSettings(v, device) : [];
  if (!sets.length) cands.push({ name: v.name, variant: v.name });
  for (const s of sets) cands.push({ name: `${v.name}[${settingsLabel(s)}]`, variant: v.name, settings: s });
}

for (const [dx, dw] of pairs) {
  if ((dx === 'f16' || dw === 'f16') && !device.f16) continue;
  for (const [M, K, N] of shapes) {
    const x = Tensor.zeros(device, [M, K], dx);
    const w = Tensor.zeros(device, [N, K], dw);
    const b = Tensor.zeros(device, [N], dw);
    const out = Tensor.empty(device, [M, N], dx);
    const times = cands.map(() => [] as number[]);
    const first: number[] = [];
    for (const c of cands) {
      const t0 = performance.now();
      linear(x, w, b, { out, variant: c.variant, settings: c.settings });
      await device.sync();
      first.push(performance.now() - t0);
    }
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < cands.length; i++) {
        const c = cands[i]!;
        const t0 = performance.now();
        linear(x, w, b, { out, variant: c.variant, settings: c.settings });
        await device.sync();
        times[i]!.push(performance.now() - t0);
      }
    }
    cands.forEach((c, i) => {
      const ms = median(times[i]!);
      const gflops = (2 * M * N * K) / (ms * 1e6);
      const pct = peak ? `  ${((100 * gflops) / peak).toFixed(0)}% of peak` : '';
      console.log(`${c.name.padEnd(44)} ${`${dx}x${dw}`.padEnd(8)} M=${M} K=${K} N=${N}: ${ms.toFixed(2)} ms  ${gflops.toFixed(2)} GFLOP/s${pct}  (first call ${first[i]!.toFixed(0)} ms)`);
    });
    for (const t of [x, w, b, out]) t.dispose();
  }
}
console.log(`# load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
device.destroy();
