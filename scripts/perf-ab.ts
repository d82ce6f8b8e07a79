// Interleaved A/B in one process on issue 9's transformer shape (4 layers, D 128 = 4 heads x 32, T = 40 text tokens,
// random make-tiny weights): GPU wait spin vs sleep (PARALLAX_GPU_WAIT) with joint writes on, and joint writes on vs
// off (PARALLAX_JOINT_WRITES) with sleep; warm forwards, host CPU time, Dawn polls, and the adapter's peaks after each.
//   node --import tsx scripts/perf-ab.ts [DIR] [frames] [latentH] [latentW] [reps]    (defaults: a temp dir, 5 24 48 2)
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { mulberry32 } from '../engine/mulberry32.js';
import { setGpuWaitMode, gpuWaitState, type GpuWaitMode } from '../engine/gpu/dawn-wait.js';
import { measurePeaks } from '../bench/peak.js';

function mainCpuMs(): number {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(p[11]) + Number(p[12])) * 10;
}
const a = process.argv.slice(2);
const dir = a[0] ?? join(tmpdir(), 'parallax-perf-ab');
const [F, Hl, Wl, reps] = [Number(a[1] ?? 5), Number(a[2] ?? 24), Number(a[3] ?? 48), Number(a[4] ?? 2)];
if (!existsSync(join(dir, 'model_index.json'))) {
  await makeTinyCheckpoint(dir, { transformer: { num_layers: 4, num_attention_heads: 4, attention_head_dim: 32, pos_embed_max_size: 48, sample_size: 48 } });
}
const ckpt = await openCheckpoint(dir);
const b = await GpuBackend.create(ckpt, { dtype: 'f32' });
const C = b.info.latentChannels;
const r = mulberry32(1);
const lat = { shape: [1, F, C, Hl, Wl], data: Float32Array.from({ length: F * C * Hl * Wl }, () => r() - 0.5) };
const emb = Float32Array.from({ length: 40 * 96 }, () => r() - 0.5);
const text = { promptEmbeds: emb, tokens: 40, jointDim: 96, pooled: Float32Array.from({ length: 80 }, () => r() - 0.5) };
await b.velocity(lat, 500, text);
const cases: [GpuWaitMode, boolean][] = [];
for (let i = 0; i < reps; i++) cases.push(['spin', true], ['sleep', true], ['sleep', false]);
for (const [mode, joint] of cases) {
  setGpuWaitMode(mode);
  b.transformer.jointWrites = joint;
  const s0 = { ...gpuWaitState()!.stats };
  const d0 = b.device.counters.dispatches;
  const c0 = process.cpuUsage(); const m0 = mainCpuMs(); const t0 = performance.now();
  await b.velocity(lat, 500, text);
  const wall = performance.now() - t0; const cu = process.cpuUsage(c0); const m = mainCpuMs() - m0;
  const disp = b.device.counters.dispatches - d0;
  const s = gpuWaitState()!.stats;
  const pk = await measurePeaks(b.device);
  const polls = s.immediatePolls - s0.immediatePolls + s.sleptPolls - s0.sleptPolls + s.spinPolls - s0.spinPolls;
  console.log(`wait=${mode} joint=${joint ? 'on ' : 'off'}: forward ${wall.toFixed(0)} ms, main-thread CPU ${m} ms, process CPU ${((cu.user + cu.system) / 1000).toFixed(0)} ms, dispatches ${disp}, Dawn polls ${polls}; peak (same wait mode) ${pk.gflops.toFixed(1)} GFLOP/s, ${pk.gbps.toFixed(2)} GB/s; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}
await b.dispose(); await ckpt.close();
