// `npm run bench:kernels`: times Parallax's kernels at the Vchitect-2B shapes (reduced where the adapter is a CPU
// and says so), next to TensorFlow.js's WebGPU backend on the same adapter and PyTorch on the same CPU, as rates
// and as % of the adapter's measured peak. Writes the table into docs/benchmarks.md unless --no-write.
// `npm run bench:kernels -- --help` lists the options.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import type { BenchCase } from './case.js';
import { allCases } from './cases/index.js';
import { checkOnly, parseBenchArgs, runSetup } from './cli.js';
import { measurePeaks } from './peak.js';
import { loadTfPeer, startTorchPeer, type TorchPeer } from './peers.js';
import { timeRuns } from './timing.js';

const OPS = allCases(false).map((c) => c.op);
const args = parseBenchArgs({
  command: 'npm run bench:kernels --',
  summary: `Times every kernel case (ops: ${[...new Set(OPS)].join(', ')}) in Parallax f32/f16, TensorFlow.js's WebGPU
backend on the same adapter and PyTorch on the CPU, interleaved case by case in one run; reports best-of-runs
times, rates and % of the adapter's measured peak. Writes the table into docs/benchmarks.md unless --no-write.`,
  options: {
    only: { type: 'string', value: 'OPS', help: 'comma-separated op families to run (default: all; implies --no-write: a partial table never replaces the full one)' },
    full: { type: 'boolean', help: "keep the 2B model's full shapes on a CPU adapter too (slow)" },
    'no-tfjs': { type: 'boolean', help: 'skip the TensorFlow.js peer' },
    'no-torch': { type: 'boolean', help: 'skip the PyTorch peer' },
    'torch-threads': { type: 'string', value: 'N', help: 'PyTorch threads (default: the CPUs this process may use)' },
    'no-f16': { type: 'boolean', help: 'time f32 only' },
    'no-write': { type: 'boolean', help: 'print the table only; do not touch docs/benchmarks.md' },
  },
});
const flag = args.flag;
const only = args.list('only');
checkOnly('op', only, OPS);
runSetup(flag('no-torch') ? [] : ['--torch']);
const loadStart = os.loadavg()[0]!;
const device = await Device.create({ label: 'bench' });
const a = device.adapter;
const cpuAdapter = a.isFallbackAdapter || /lavapipe|llvmpipe|swiftshader/i.test(`${a.backend} ${a.description}`);
const cases = allCases(cpuAdapter && !flag('full')).filter((c) => !only || only.includes(c.op));
console.log(`Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${os.cpus()[0]?.model} x${os.cpus().length}`);
const peaks = await measurePeaks(device);
console.log(`Measured peak: ${peaks.gflops.toFixed(1)} GFLOP/s f32 FMA, ${peaks.gbps.toFixed(1)} GB/s copy`);

const dtypes: DType[] = device.f16 && !flag('no-f16') ? ['f32', 'f16'] : ['f32'];
const tfPeer = flag('no-tfjs') ? { error: 'disabled (--no-tfjs)' } : await loadTfPeer();
const torch: TorchPeer | { error: string } = flag('no-torch')
  ? { error: 'disabled (--no-torch)' }
  : await startTorchPeer({ threads: args.str('torch-threads') === undefined ? undefined : args.num('torch-threads', 1) });
if ('error' in tfPeer) console.log(`TF.js peer: ${tfPeer.error}`);
if ('error' in torch) console.log(`PyTorch peer: ${torch.error}`);
else console.log(`PyTorch peer: ${torch.describe()}`);

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
    row.ms[dtype] = (await timeRuns(async () => {
      r.run();
      await device.sync();
    })).best;
    r.dispose();
  }
  if (c.tfjs && !('error' in tfPeer)) {
    const r = c.tfjs(tfPeer.tf);
    row.tf = await tfPeer.time(r);
    r.dispose();
  }
  // PyTorch right after ours, case by case: both see the same machine load; the GPU queue is idle meanwhile.
  if (c.torch && !('error' in torch)) row.torch = await torch.time(c.torch);
  rows.push(row);
  console.log(`${c.op.padEnd(12)} ${c.name.padEnd(40)} ${dtypes.map((d) => `${d} ${row.ms[d]!.toFixed(2)} ms`).join('  ')}  tfjs ${row.tf?.toFixed(2) ?? '-'} ms  torch ${row.torch?.toFixed(2) ?? '-'} ms`);
}

const fmt = (x: number | undefined, d = 2) => (x === undefined ? '–' : x.toFixed(d));
const rate = (c: BenchCase, ms: number, dtype: DType) =>
  c.bound === 'flops' ? c.flops / ms / 1e6 : c.bytes(dtype === 'f16' ? 2 : 4) / ms / 1e6;
const pct = (c: BenchCase, ms: number, dtype: DType) => (100 * rate(c, ms, dtype)) / (c.bound === 'flops' ? peaks.gflops : peaks.gbps);

const lines: string[] = [];
lines.push(`Command: \`npm run bench:kernels${args.argv.filter((x) => x !== '--no-write').length ? ` -- ${args.argv.filter((x) => x !== '--no-write').join(' ')}` : ''}\` — ${new Date().toISOString().slice(0, 10)}`);
lines.push('');
lines.push(`Adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend}). CPU: ${os.cpus()[0]?.model} x${os.cpus().length}; 1-min load average ${loadStart.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end (other processes share the CPU).`);
lines.push(`Measured adapter peak: ${peaks.gflops.toFixed(1)} GFLOP/s (f32 FMA), ${peaks.gbps.toFixed(1)} GB/s (copy).`);
lines.push(`Peers in the same run: TensorFlow.js ${'error' in tfPeer ? `(${tfPeer.error})` : `${tfPeer.version} WebGPU backend on the same adapter`}; ${'error' in torch ? `PyTorch (${torch.error})` : `${torch.describe()}; CPU, float32, case by case right after Parallax's`}.`);
lines.push('Times are the best of 3-10 synchronised runs after a warm-up, the same protocol for every column (wall clock, submit to completion). Rate = GFLOP/s for compute-bound ops, GB/s for memory-bound ones; % = of the measured peak. Ratios > 1 mean Parallax f32 is faster.');
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

if ('close' in torch) torch.close();
if (only && !flag('no-write')) console.log('--only: a partial table; docs/benchmarks.md left as it is.');
if (!flag('no-write') && !only) {
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
