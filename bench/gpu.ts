// `npm run bench:gpu`: the one GPU check to run when a GPU machine is lent (issue 9, item 8). Prints the adapter,
// times every kernel case at the 2B model's shapes (TF.js's WebGPU backend beside it) and one 2B-shape transformer
// forward with random weights made on the fly in memory (no checkpoint file), within a time budget (cases that
// would pass it are skipped and the table says so), and writes the table into docs/benchmarks.md. Refuses a CPU
// adapter unless --reduced (small shapes: what the CPU machine runs); --dry-run prints the plan without a GPU.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Device } from '../engine/gpu/device.js';
import { DEFAULT_DAWN_TOGGLES } from '../engine/gpu/platform.js';
import { VchitectTransformer } from '../engine/model/vchitect.js';
import { isCpuAdapter } from '../engine/ops/row-variants.js';
import { Tensor } from '../engine/tensor.js';
import { SeededRandom } from '../engine/io/tiny-random.js';
import type { BenchCase } from './case.js';
import { allCases } from './cases/index.js';
import { checkOnly, parseBenchArgs } from './cli.js';
import { measurePeaks } from './peak.js';
import { loadTfPeer } from './peers.js';
import { randomTransformer, transformerConfig } from './random-weights.js';

const PARTS = ['kernels', 'forward'];
const args = parseBenchArgs({
  command: 'npm run bench:gpu --',
  summary: `The GPU check (under 8 minutes on an H100): adapter, kernel benchmark at the 2B model's shapes next to TF.js's
WebGPU backend, one 2B-shape transformer forward (D=1536, 24 layers, random weights made in memory), all within
--budget seconds; writes the table into docs/benchmarks.md. A CPU adapter needs --reduced (small shapes).`,
  options: {
    reduced: { type: 'boolean', help: 'small shapes (CPU adapters, tests): the reduced kernel cases and a D=128, 2-layer forward' },
    'dry-run': { type: 'boolean', help: 'print the plan (cases, forward shape, budget) and exit without touching the GPU' },
    budget: { type: 'string', value: 'S', help: 'time budget in seconds for the whole run (default 420; cases that would pass it are skipped)' },
    frames: { type: 'string', value: 'F', help: 'frames of the forward (default 40; --reduced 2); lowered to fit the budget and the buffer limit' },
    only: { type: 'string', value: 'PARTS', help: `${PARTS.join(', ')} (default both; implies --no-write)` },
    'no-tfjs': { type: 'boolean', help: 'skip the TensorFlow.js peer' },
    'no-write': { type: 'boolean', help: 'print only; do not touch docs/benchmarks.md' },
  },
});
const reduced = args.flag('reduced');
const budgetS = args.num('budget', 420);
const only = args.list('only');
checkOnly('part', only, PARTS);
const part = (p: string) => !only || only.includes(p);
const noWrite = args.flag('no-write') || only !== undefined;

/** The forward: the real 2B transformer shape at 768x432 (latent 54x96), T = 77 CLIP + 256 T5; or a small one. */
const fwd = reduced
  ? { heads: 4, headDim: 32, layers: 2, M: 16, jointDim: 96, pooledDim: 64, frames: 2, Hl: 16, Wl: 16, T: 40 }
  : { heads: 24, headDim: 64, layers: 24, M: 192, jointDim: 4096, pooledDim: 2048, frames: 40, Hl: 54, Wl: 96, T: 333 };
fwd.frames = args.num('frames', fwd.frames);
const D = fwd.heads * fwd.headDim;
const tokensPerFrame = (fwd.Hl / 2) * (fwd.Wl / 2);
const fwdDesc = `D=${D} (${fwd.heads} heads x ${fwd.headDim}), ${fwd.layers} layers, M=${fwd.M}, J=${fwd.jointDim}, ${fwd.frames} frames of ${fwd.Hl}x${fwd.Wl} latents (${tokensPerFrame} tokens each), T=${fwd.T}`;
const cases = part('kernels') ? allCases(reduced) : [];

const t0 = performance.now();
const elapsed = () => (performance.now() - t0) / 1000;
const left = () => budgetS - elapsed();
const say = (msg: string) => console.log(`[bench:gpu ${elapsed().toFixed(1).padStart(6)} s] ${msg}`);

if (args.flag('dry-run')) {
  console.log(`bench:gpu plan (${reduced ? 'reduced shapes' : "2B model's shapes"}, budget ${budgetS} s, ${noWrite ? 'no write' : 'writes docs/benchmarks.md'}):`);
  console.log(`  1. adapter check (${reduced ? 'any adapter' : 'refuses a CPU adapter'}), measured FMA and copy peaks`);
  if (part('kernels')) {
    console.log(`  2. kernels (about half the budget), Parallax f32 (+ f16 where supported)${args.flag('no-tfjs') ? '' : ' and TF.js WebGPU'}:`);
    for (const c of cases) console.log(`     - ${c.op}: ${c.name}, ${c.shape}${c.reduced ? ` (reduced: ${c.reduced})` : ''}`);
  }
  if (part('forward')) console.log(`  3. one transformer forward, random in-memory weights: ${fwdDesc}; warm-up at 1 frame first`);
  process.exit(0);
}

let device: Device;
try {
  device = await Device.create({ label: 'bench-gpu' });
} catch (err) {
  console.error(`bench:gpu: no WebGPU device: ${(err as Error).message}\nOn a GPU machine Dawn needs the Vulkan loader (libvulkan.so.1, Debian package libvulkan1) and the GPU driver's Vulkan ICD (NVIDIA: the driver's nvidia_icd.json); check with: node scripts/setup.mjs --check`);
  process.exit(1);
}
const a = device.adapter;
const cpu = isCpuAdapter(device);
say(`adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend})${cpu ? ' [CPU adapter]' : ''}; Dawn toggles ${[...DEFAULT_DAWN_TOGGLES, ...(process.env.PARALLAX_DAWN_TOGGLES?.split(',') ?? [])].join(',')}; shader-f16 ${device.f16 ? 'yes' : 'no'}; maxStorageBufferBindingSize ${(device.caps.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB; host ${os.cpus()[0]?.model} x${os.cpus().length}`);
if (cpu && !reduced) {
  console.error(`bench:gpu: the adapter is a CPU one (${a.description}): the 2B shapes would take hours and its numbers do not belong in docs/benchmarks.md as GPU numbers. Run with --reduced (small shapes) on this machine.`);
  device.destroy();
  process.exit(2);
}
const peaks = await measurePeaks(device);
say(`measured peak: ${peaks.gflops.toFixed(1)} GFLOP/s f32 FMA, ${peaks.gbps.toFixed(1)} GB/s copy`);

interface KRow {
  c: BenchCase;
  f32?: number;
  f16?: number;
  tf?: number;
  skipped?: string;
}
const krows: KRow[] = [];
if (part('kernels')) {
  const kernelDeadline = budgetS * (part('forward') ? 0.5 : 0.95);
  const tf = args.flag('no-tfjs') ? { error: 'disabled (--no-tfjs)' } : await loadTfPeer();
  if ('error' in tf) say(`TF.js peer: ${tf.error}`);
  for (const [i, c] of cases.entries()) {
    const row: KRow = { c };
    krows.push(row);
    if (elapsed() > kernelDeadline) {
      row.skipped = `skipped: kernel budget (${kernelDeadline.toFixed(0)} s) spent`;
      say(`${c.op} ${c.name}: ${row.skipped}`);
      continue;
    }
    // Each case gets at most an even share of what is left (at least 1 s of repeats); the first run (which also
    // compiles) tells whether two more fit before the kernel deadline, otherwise the case stops there and says so.
    const share = Math.max(1000, (1000 * (kernelDeadline - elapsed())) / (cases.length - i) / 3);
    for (const dtype of device.f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const r = c.parallax(device, dtype);
      const once = async () => {
        const s0 = performance.now();
        r.run();
        await device.sync();
        return performance.now() - s0;
      };
      const first = await once();
      if (elapsed() + (2 * first) / 1000 > kernelDeadline) {
        row.skipped = `stopped: ${dtype} first run took ${first.toFixed(0)} ms, two more would pass the kernel budget (${kernelDeadline.toFixed(0)} s)`;
      } else {
        const runs: number[] = [];
        const s0 = performance.now();
        while (runs.length < 10 && (runs.length < 2 || performance.now() - s0 < share)) runs.push(await once());
        row[dtype] = Math.min(...runs);
      }
      r.dispose();
      if (row.skipped) break;
    }
    if (row.skipped) {
      say(`${c.op} ${c.name}: ${row.skipped}`);
      continue;
    }
    if (c.tfjs && !('error' in tf)) {
      const r = c.tfjs(tf.tf);
      row.tf = await tf.time(r);
      r.dispose();
    }
    say(`${c.op} ${c.name}: f32 ${row.f32!.toFixed(2)} ms${row.f16 ? `, f16 ${row.f16.toFixed(2)} ms` : ''}${row.tf ? `, TF.js ${row.tf.toFixed(2)} ms` : ''}`);
  }
}

interface FRow {
  frames: number;
  note: string;
  loadS: number;
  firstS: number;
  warmS?: number;
  dispatches: number;
  peakMiB: number;
  flops: number;
  skipped?: string;
}
let frow: FRow | undefined;
if (part('forward')) {
  // The biggest activation is the MLP hidden [F*L, 4D] f32: cap the frames at the storage-binding limit.
  const maxFrames = Math.max(1, Math.floor(device.caps.maxStorageBufferBindingSize / (tokensPerFrame * 4 * D * 4)));
  let frames = Math.min(fwd.frames, maxFrames);
  const notes: string[] = frames < fwd.frames ? [`${fwd.frames} frames exceed maxStorageBufferBindingSize; ran ${frames}`] : [];
  say(`forward: loading random weights (${fwdDesc})`);
  const cfg = transformerConfig(fwd);
  const tl = performance.now();
  let lastPct = -1;
  const model = await VchitectTransformer.load(device, randomTransformer(cfg), {
    dtype: 'f32',
    onProgress: (p) => {
      const pct = Math.floor((10 * p.loaded) / p.total) * 10;
      if (pct !== lastPct && pct > 0) say(`  weights ${pct}% (${(p.bytes / 2 ** 30).toFixed(2)} GiB)`);
      lastPct = pct;
    },
  });
  const loadS = (performance.now() - tl) / 1000;
  const rng = new SeededRandom(7);
  const inputs = (F: number) => ({
    hidden: Tensor.from(device, rng.normals(F * 16 * fwd.Hl * fwd.Wl), [1, F, 16, fwd.Hl, fwd.Wl], 'f32', 'latents'),
    context: Tensor.from(device, rng.normals(fwd.T * fwd.jointDim), [1, fwd.T, fwd.jointDim], 'f32', 'context'),
    pooled: Tensor.from(device, rng.normals(fwd.pooledDim), [1, fwd.pooledDim], 'f32', 'pooled'),
  });
  const run = async (F: number) => {
    const inp = inputs(F);
    const s = performance.now();
    const out = model.forward({ ...inp, timestep: 637.5 });
    await device.sync();
    const sec = (performance.now() - s) / 1000;
    out.dispose();
    Object.values(inp).forEach((t) => t.dispose());
    return sec;
  };
  // Warm-up at one frame compiles every pipeline; the second one-frame time scales to F frames for the budget check.
  const compileS = await run(1);
  const oneS = await run(1);
  say(`forward warm-up, 1 frame: ${compileS.toFixed(2)} s with pipeline compilation, then ${oneS.toFixed(2)} s; weights loaded in ${loadS.toFixed(1)} s`);
  const est = (F: number) => 1.2 * oneS * F;
  while (frames > 1 && est(frames) > left()) frames = Math.floor(frames / 2);
  if (frames < Math.min(fwd.frames, maxFrames)) notes.push(`lowered to ${frames} frames to fit the time budget`);
  if (est(frames) > left()) {
    frow = { frames, note: notes.join('; '), loadS, firstS: oneS, dispatches: 0, peakMiB: 0, flops: 0, skipped: `skipped: ${left().toFixed(0)} s left of the budget` };
    say(`forward: ${frow.skipped}`);
  } else {
    const d0 = device.counters.dispatches;
    device.pool.resetPeak();
    const firstS = await run(frames);
    const dispatches = device.counters.dispatches - d0;
    const peakMiB = device.pool.stats.peakBytes / 2 ** 20;
    let warmS: number | undefined;
    if (firstS * 1.2 < left()) warmS = Math.min(firstS, await run(frames));
    // Flops per layer: linears, 18 D^2 multiply-adds per visual token (q, k, v, q_cross, 3 temporal, 3 outputs,
    // MLP 8) and 14 per text token per frame (add_q/k/v, 3 outputs, MLP 8); attention 4 D per score (QK^T and PV)
    // for spatial (S^2 per frame), cross (S x T per frame) and temporal (F^2 per position). Embeddings left out.
    const L = tokensPerFrame;
    const S = L + fwd.T;
    const linearFlops = 2 * frames * fwd.layers * D * D * (18 * L + 14 * fwd.T);
    const attnFlops = fwd.layers * 4 * D * (frames * S * S + frames * S * fwd.T + S * frames * frames);
    frow = { frames, note: notes.join('; '), loadS, firstS, warmS, dispatches, peakMiB, flops: linearFlops + attnFlops };
    say(`forward ${frames} frames: ${firstS.toFixed(2)} s${warmS ? `, best ${warmS.toFixed(2)} s` : ''}, ${dispatches} dispatches, peak ${peakMiB.toFixed(0)} MiB`);
  }
  model.dispose();
}

const fmt = (x: number | undefined, d = 2) => (x === undefined ? '–' : x.toFixed(d));
const lines: string[] = [];
const shown = args.argv.filter((x) => x !== '--no-write');
lines.push(`Command: \`npm run bench:gpu${shown.length ? ` -- ${shown.join(' ')}` : ''}\` — ${new Date().toISOString().slice(0, 10)}, ${elapsed().toFixed(0)} s of a ${budgetS} s budget`);
lines.push('');
lines.push(`Adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend}). Host: ${os.cpus()[0]?.model} x${os.cpus().length}, load average ${os.loadavg()[0]!.toFixed(1)}.`);
lines.push(`Measured adapter peak: ${peaks.gflops.toFixed(1)} GFLOP/s (f32 FMA), ${peaks.gbps.toFixed(1)} GB/s (copy).${reduced ? ' **Reduced shapes** (--reduced): not the 2B numbers.' : ''}`);
if (krows.length) {
  lines.push('');
  lines.push('Kernels: best of 2-10 synchronised runs (submit to completion); rate in GFLOP/s (compute-bound) or GB/s (memory-bound); % of the measured peak.');
  lines.push('');
  lines.push('| op | case | shape | Parallax f32 ms | rate | % peak | Parallax f16 ms | TF.js ms | TF.js / Parallax |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of krows) {
    const shape = `${r.c.shape}${r.c.reduced ? ` (reduced: ${r.c.reduced})` : ''}`;
    if (r.skipped || r.f32 === undefined) {
      lines.push(`| ${r.c.op} | ${r.c.name} | ${shape} | ${r.skipped ?? '–'} | | | | | |`);
      continue;
    }
    const rate = r.c.bound === 'flops' ? r.c.flops / r.f32 / 1e6 : r.c.bytes(4) / r.f32 / 1e6;
    const pct = (100 * rate) / (r.c.bound === 'flops' ? peaks.gflops : peaks.gbps);
    lines.push(`| ${r.c.op} | ${r.c.name} | ${shape} | ${fmt(r.f32)} | ${fmt(rate, 1)} ${r.c.bound === 'flops' ? 'GFLOP/s' : 'GB/s'} | ${fmt(pct, 0)}% | ${fmt(r.f16)} | ${fmt(r.tf)} | ${r.tf ? `${fmt(r.tf / r.f32)}x` : '–'} |`);
  }
}
if (frow) {
  lines.push('');
  lines.push(`Transformer forward (${fwdDesc.replace(`${fwd.frames} frames`, `${frow.frames} frames`)}; random f32 weights made in memory, loaded in ${fmt(frow.loadS, 1)} s)${frow.note ? `: ${frow.note}` : ''}.`);
  lines.push('');
  lines.push('| frames | first s/fwd | best s/fwd | dispatches | peak MiB | GFLOP/s (approx.) | % peak |');
  lines.push('|---|---|---|---|---|---|---|');
  const best = frow.warmS ?? frow.firstS;
  lines.push(frow.skipped
    ? `| ${frow.frames} | ${frow.skipped} | | | | | |`
    : `| ${frow.frames} | ${fmt(frow.firstS)} | ${fmt(frow.warmS)} | ${frow.dispatches} | ${fmt(frow.peakMiB, 0)} | ${fmt(frow.flops / best / 1e9, 1)} | ${fmt((100 * frow.flops) / best / 1e9 / peaks.gflops, 0)}% |`);
}
const table = lines.join('\n');
console.log(`\n${table}\n`);

if (noWrite) {
  if (!args.flag('no-write')) say('--only: a partial run; docs/benchmarks.md left as it is');
} else {
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const start = '<!-- bench:gpu:start -->';
  const end = '<!-- bench:gpu:end -->';
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const block = `${start}\n${table}\n${end}`;
  doc = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), () => block) : `${doc}\n## GPU check (\`npm run bench:gpu\`)\n\n${block}\n`;
  writeFileSync(path, doc);
  say('wrote docs/benchmarks.md');
}
device.destroy();
process.exit(0);
