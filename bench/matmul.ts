// Times the matmul variants (linear layout: w stored [N, K]) at Vchitect sizes and prints GFLOP/s. Not a test.
// Usage: node --import tsx bench/matmul.ts [--only VARIANTS] [--reps N] [--shapes "M,K,N;M,K,N"] [--dtypes f32,f16,f32xf16]
// (defaults also from env BENCH_REPS, BENCH_SHAPES, BENCH_DTYPES); --help lists the options.

import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { linear } from '../engine/ops/linear.js';
import { matmulVariants } from '../engine/ops/matmul.js';
import { Tensor } from '../engine/tensor.js';
import { parseBenchArgs } from './cli.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/matmul.ts',
  summary: 'Times every registered matmul variant (linear layout, w stored [N, K]) at Vchitect sizes; prints GFLOP/s.\nWrites no file.',
  options: {
    only: { type: 'string', value: 'VARIANTS', help: 'comma-separated variant names (default: all available)' },
    reps: { type: 'string', value: 'N', help: 'timed repetitions (default $BENCH_REPS or 3)' },
    shapes: { type: 'string', value: '"M,K,N;..."', help: 'shapes (default $BENCH_SHAPES or the 2B linears)' },
    dtypes: { type: 'string', value: 'LIST', help: 'f32, f16, or XxW pairs such as f32xf16 (default $BENCH_DTYPES or f32,f16)' },
  },
});
const want = args.list('only') ?? [];
const reps = args.num('reps', Number(process.env.BENCH_REPS ?? 3));
const shapes = (args.str('shapes') ?? process.env.BENCH_SHAPES ?? '1296,1536,1536;1296,1536,6144;1,1536,1536;1,1536,9216')
  .split(';').map((s) => s.split(',').map(Number) as [number, number, number]);
const device = await Device.create({ label: 'bench' });
const pairs = (args.str('dtypes') ?? process.env.BENCH_DTYPES ?? 'f32,f16').split(',').map((p) => (p.includes('x') ? p.split('x') : [p, p]) as [DType, DType]);
console.log(`# ${device.adapter.description} (${device.adapter.backend})`);
for (const v of matmulVariants(device)) {
  if (want.length && !want.includes(v.name)) continue;
  for (const [dx, dw] of pairs) {
    if ((dx === 'f16' || dw === 'f16') && !device.f16) continue;
    for (const [M, K, N] of shapes) {
      if (v.name === 'matmul_naive' && M * N * K > 2e9) continue;
      const x = Tensor.zeros(device, [M, K], dx);
      const w = Tensor.zeros(device, [N, K], dw);
      const b = Tensor.zeros(device, [N], dw);
      const out = Tensor.empty(device, [M, N], dx);
      const t0 = performance.now();
      linear(x, w, b, { out, variant: v.name });
      await device.sync();
      const warm = performance.now() - t0;
      const t1 = performance.now();
      for (let r = 0; r < reps; r++) linear(x, w, b, { out, variant: v.name });
      await device.sync();
      const ms = (performance.now() - t1) / reps;
      const gflops = (2 * M * N * K) / (ms * 1e6);
      console.log(`${v.name.padEnd(14)} ${`${dx}x${dw}`.padEnd(8)} M=${M} K=${K} N=${N}: ${ms.toFixed(2)} ms  ${gflops.toFixed(2)} GFLOP/s  (first call ${warm.toFixed(0)} ms)`);
      for (const t of [x, w, b, out]) t.dispose();
    }
  }
}
device.destroy();
