// `npm run bench:kernels`: times Parallax's kernels at the Vchitect-2B shapes (reduced where the adapter is a CPU
// and says so), next to TensorFlow.js's WebGPU backend on the same adapter and PyTorch on the same CPU, as rates
// and as % of the adapter's measured peak. Writes the table into docs/benchmarks.md.
//   node --import tsx bench/kernels.ts [--only op1,op2] [--full] [--no-tfjs] [--no-torch] [--no-f16] [--no-write]
// --full keeps the 2B shapes on a CPU adapter too (slow).

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import type { BenchCase } from './case.js';
import { allCases } from './cases/index.js';
import { measurePeaks } from './peak.js';
import { loadTfPeer, runTorchPeer } from './peers.js';
import { timeMedian } from './timing.js';

const argv = process.argv.slice(2);
const flag = (f: string) => argv.includes(f);
const only = argv.find((a, i) => argv[i - 1] === '--only')?.split(',');
const device = await Device.create({ label: 'bench' });
const a = device.adapter;
const cpuAdapter = a.isFallbackAdapter || /lavapipe|llvmpipe|swiftshader/i.test(`${a.backend} ${a.description}`);
const cases = allCases(cpuAdapter && !flag('--full')).filter((c) => !only || only.includes(c.op));
console.log(`Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${os.cpus()[0]?.model} x${os.cpus().length}`);
const peaks = await measurePeaks(device);
console.log(`Measured peak: ${peaks.gflops.toFixed(1)} GFLOP/s f32 FMA, ${peaks.gbps.toFixed(1)} GB/s copy`);

const dtypes: DType[] = device.f16 && !flag('--no-f16') ? ['f32', 'f16'] : ['f32'];
const tfPeer = flag('--no-tfjs') ? { error: 'disabled (--no-tfjs)' } : await loadTfPeer();
const torch = flag('--no-torch') ? { times: {} as Record<string, number>, error: 'disabled (--no-torch)' } : runTorchPeer(cases);
if ('error' in tfPeer) console.log(`TF.js peer: ${tfPeer.error}`);
if (torch.error) console.log(`PyTorch peer: ${torch.error}`);

interface Row {
  c: BenchCase;
  ms: Partial<Record<DType, number>>;
  tf?: number;
  torch?: number;
}
const rows: Row[] = [];
for (const c of cases) {
  const row: Row = { c, ms: {} };
  for (const dtype of dtypes) {
    const r = c.parallax(device, dtype);
    row.ms[dtype] = await timeMedian(async () => {
      r.run();
      await device.sync();
    });
    r.dispose();
  }
  if (c.tfjs && !('error' in tfPeer)) {
    const r = c.tfjs(tfPeer.tf);
    row.tf = await tfPeer.time(r);
    r.dispose();
  }
  row.torch = torch.times[`${c.op}:${c.name}`];
  rows.push(row);
  console.log(`${c.op.padEnd(12)} ${c.name.padEnd(40)} ${dtypes.map((d) => `${d} ${row.ms[d]!.toFixed(2)} ms`).join('  ')}  tfjs ${row.tf?.toFixed(2) ?? '-'} ms  torch ${row.torch?.toFixed(2) ?? '-'} ms`);
}

const fmt = (x: number | undefined, d = 2) => (x === undefined ? '–' : x.toFixed(d));
const rate = (c: BenchCase, ms: number, dtype: DType) =>
  c.bound === 'flops' ? c.flops / ms / 1e6 : c.bytes(dtype === 'f16' ? 2 : 4) / ms / 1e6;
const pct = (c: BenchCase, ms: number, dtype: DType) => (100 * rate(c, ms, dtype)) / (c.bound === 'flops' ? peaks.gflops : peaks.gbps);

const lines: string[] = [];
lines.push(`Command: \`npm run bench:kernels\` — ${new Date().toISOString().slice(0, 10)}`);
lines.push('');
lines.push(`Adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend}). CPU: ${os.cpus()[0]?.model} x${os.cpus().length}.`);
lines.push(`Measured adapter peak: ${peaks.gflops.toFixed(1)} GFLOP/s (f32 FMA), ${peaks.gbps.toFixed(1)} GB/s (copy).`);
lines.push(`Peers in the same run: TensorFlow.js ${'error' in tfPeer ? `(${tfPeer.error})` : `${tfPeer.version} WebGPU backend on the same adapter`}; PyTorch ${torch.version ?? `(${torch.error})`} on the CPU, float32.`);
lines.push('Times are medians of synchronised runs (wall clock, submit to completion). Rate = GFLOP/s for compute-bound ops, GB/s for memory-bound ones; % = of the measured peak. Ratios > 1 mean Parallax f32 is faster.');
lines.push('');
lines.push(`| op | case | shape | reduced from 768x432x40 | Parallax f32 ms | rate | % peak |${dtypes.includes('f16') ? ' Parallax f16 ms |' : ''} TF.js ms | TF.js / Parallax | PyTorch CPU ms | PyTorch / Parallax |`);
lines.push(`|---|---|---|---|---|---|---|${dtypes.includes('f16') ? '---|' : ''}---|---|---|---|`);
for (const r of rows) {
  const f = r.ms.f32!;
  const unit = r.c.bound === 'flops' ? 'GFLOP/s' : 'GB/s';
  lines.push(`| ${r.c.op} | ${r.c.name} | ${r.c.shape} | ${r.c.reduced ?? 'full size'} | ${fmt(f)} | ${fmt(rate(r.c, f, 'f32'), 1)} ${unit} | ${fmt(pct(r.c, f, 'f32'), 0)}% |${dtypes.includes('f16') ? ` ${fmt(r.ms.f16)} |` : ''} ${fmt(r.tf)} | ${r.tf ? fmt(r.tf / f) + 'x' : '–'} | ${fmt(r.torch)} | ${r.torch ? fmt(r.torch / f) + 'x' : '–'} |`);
}
const table = lines.join('\n');
console.log(`\n${table}\n`);

if (!flag('--no-write')) {
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const start = '<!-- bench:kernels:start -->';
  const end = '<!-- bench:kernels:end -->';
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const block = `${start}\n${table}\n${end}`;
  doc = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), block) : `${doc}\n## Kernels\n\n${block}\n`;
  writeFileSync(path, doc);
  console.log('Wrote docs/benchmarks.md');
}
device.destroy();
process.exit(0);
