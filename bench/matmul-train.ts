// Times the linears of one training step of the shapes transformer as engine/train runs them: the forward linear (bias,
// fused epilogue) and linearBackward (dX, dW, db), per problem and per dispatch kind, with GPU timestamps where the
// adapter has them and the host wall time of a batch of repetitions. Candidates (sets of environment variables, e.g.
// PARALLAX_KERNEL_MATMUL=matmul_tiled) are interleaved round by round, medians over rounds, so a shared machine's
// load hits them alike. Not a test.
// With --step it times whole training steps of that model instead (trainStep, batch 1, candidates interleaved).
// Usage: node --import tsx bench/matmul-train.ts [--cands "base:;tiled:PARALLAX_KERNEL_MATMUL=matmul_tiled"]
//        [--problems "M,K,N[,flags];..."] [--rounds N] [--reps N] [--step]

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Device, type ProfileEntry } from '../engine/gpu/device.js';
import { TrainState, trainStep } from '../engine/train/train-step.js';
import { linear } from '../engine/ops/linear.js';
import { linearBackward } from '../engine/ops/linear-backward.js';
import type { Epilogue } from '../engine/ops/matmul.js';
import { Tensor } from '../engine/tensor.js';
import { parseBenchArgs } from './cli.js';
import { median } from './timing.js';
import { deviceParams, rankItem, tinyTransformer } from './train-rank-memory.js';

/** The linears of the shapes transformer (D=64, 8 frames x 16 visual tokens, 32 text tokens; bench:train's model). */
const DEFAULT_PROBLEMS = '128,64,64;256,64,64;32,64,64;256,64,256,gelu;256,256,64,gate;1,64,384;1,256,64';

const args = parseBenchArgs({
  command: 'node --import tsx bench/matmul-train.ts',
  summary: `Times the training step's linears (forward + linearBackward: dX, dW, db) per dispatch kind, candidates interleaved
round by round (GPU timestamps where available, plus host wall time per repetition). Writes no file.`,
  options: {
    cands: { type: 'string', value: '"NAME:ENV=V,ENV=V;..."', help: 'candidates as environment settings (default "base:")' },
    problems: { type: 'string', value: '"M,K,N[,gelu|silu|gate|nobias];..."', help: `linear problems x [M, K] @ w [N, K]^T (default ${DEFAULT_PROBLEMS})` },
    rounds: { type: 'string', value: 'N', help: 'interleaved rounds (default 7)' },
    reps: { type: 'string', value: 'N', help: 'repetitions per round, recorded back to back before one sync (default 10)' },
    'no-backward': { type: 'boolean', help: 'time the forward only' },
    step: { type: 'boolean', help: 'time whole training steps of the shapes transformer (6 layers, D=64, 8 frames of 8x8 latents, 32 text tokens) instead' },
    'gpu-times': { type: 'boolean', help: 'per-dispatch GPU timestamps (one pass per dispatch) besides the CPU and wall times' },
  },
});

interface Problem { M: number; K: number; N: number; epilogue: Epilogue; gate: boolean; bias: boolean; label: string }
const problems: Problem[] = (args.str('problems') ?? DEFAULT_PROBLEMS).split(';').map((s) => {
  const [M, K, N, ...flags] = s.split(',');
  const epilogue = (flags.find((f) => f === 'gelu' || f === 'silu') === 'gelu' ? 'gelu_tanh' : flags.includes('silu') ? 'silu' : 'none') as Epilogue;
  return { M: Number(M), K: Number(K), N: Number(N), epilogue, gate: flags.includes('gate'), bias: !flags.includes('nobias'), label: s };
});
const cands = (args.str('cands') ?? 'base:').split(';').filter(Boolean).map((c) => {
  const [name, env = ''] = c.split(/:(.*)/s);
  return { name: name!, env: Object.fromEntries(env.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string])) };
});
const rounds = args.num('rounds', 7);
const reps = args.num('reps', 10);
const backward = !args.flag('no-backward');

const gpuTimes = args.flag('gpu-times');
const device = await Device.create({ label: 'bench', profile: gpuTimes ? 'gpu' : false });
console.log(`# ${device.adapter.description} (${device.adapter.backend}); CPU ${os.cpus()[0]?.model} x${os.cpus().length}; load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; timing ${device.profileTiming}`);
console.log(`# node --import tsx bench/matmul-train.ts ${args.argv.map((a) => (/[\s;]/.test(a) ? `'${a}'` : a)).join(' ')}`);

const rand = (n: number, seed: number) => {
  const v = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) >>> 0; v[i] = (s / 2 ** 32 - 0.5) * 0.5; }
  return v;
};

/** Records one forward + backward of a problem; disposes what it made. */
function once(pr: Problem, t: Record<string, Tensor>): void {
  const needZ = pr.epilogue !== 'none' || pr.gate;
  const z = linear(t.x!, t.w!, pr.bias ? t.b : undefined, needZ ? {} : { epilogue: pr.epilogue });
  const y = pr.gate || pr.epilogue !== 'none'
    ? linear(t.x!, t.w!, pr.bias ? t.b : undefined, { epilogue: pr.epilogue, residual: pr.gate ? { x: t.r!, gate: t.g! } : undefined })
    : undefined;
  if (backward) {
    const g = linearBackward(t.x!, t.w!, t.dy!, { epilogue: pr.epilogue, z: needZ ? z : undefined, gate: pr.gate ? t.g : undefined, bias: pr.bias });
    for (const x of [g.dx, g.dw, g.db, g.dgate]) x?.dispose();
  }
  z.dispose();
  y?.dispose();
}

const setEnv = (env: Record<string, string>, on: boolean) => {
  for (const [k, v] of Object.entries(env)) {
    if (on) process.env[k] = v;
    else delete process.env[k];
  }
};

if (args.flag('step')) {
  await timeSteps();
  device.destroy();
  process.exit(0);
}

/** Interleaved whole training steps per candidate: process CPU time and wall per step (the first round warms up). */
async function timeSteps(): Promise<void> {
  const dir = await mkdtemp(join(os.tmpdir(), 'mm-train-'));
  const m = await tinyTransformer(dir, 6, 4, 16);
  const params = deviceParams(m.host, device);
  const shape = m.shape;
  const items = [rankItem(m, device, { F: 8, S: 8, Tn: 32, seed: 1 })];
  const state = new TrainState(params, { ema: true });
  const opts = { seed: 1, lr: 0, sigma: { sampling: 'logit_normal', shift: 3 } as const, clip: 1, emaDecay: {} };
  const cpu = cands.map(() => [] as number[]);
  const wall = cands.map(() => [] as number[]);
  for (let r = -1; r < rounds; r++) {
    for (let i = 0; i < cands.length; i++) {
      setEnv(cands[i]!.env, true);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await trainStep(state, params, shape, items, opts);
      await device.sync();
      const cc = process.cpuUsage(c0);
      const w = performance.now() - t0;
      setEnv(cands[i]!.env, false);
      if (r < 0) continue;
      cpu[i]!.push((cc.user + cc.system) / 1000);
      wall[i]!.push(w);
    }
  }
  console.log(`\n## training step (${rounds} rounds; ms per step)`);
  console.log(`${''.padEnd(40)}${cands.map((x) => x.name.padStart(9)).join('')}${cands.length > 1 ? '   ratio' : ''}`);
  const min = (v: number[]) => Math.min(...v);
  for (const [name, xs, stat] of [['process CPU time, median', cpu, median], ['process CPU time, min', cpu, min], ['wall, median', wall, median], ['wall, min', wall, min]] as const) {
    const r = cands.length > 1 ? `  ${(stat(xs[0]!) / stat(xs[1]!)).toFixed(2)}x` : '';
    console.log(`${name.padEnd(40)}${xs.map((x) => `  ${stat(x).toFixed(0).padStart(7)}`).join('')}${r}`);
  }
  await rm(dir, { recursive: true, force: true });
}

for (const pr of problems) {
  const { M, K, N } = pr;
  const t: Record<string, Tensor> = {
    x: Tensor.from(device, rand(M * K, 1), [M, K], 'f32'), w: Tensor.from(device, rand(N * K, 2), [N, K], 'f32'),
    b: Tensor.from(device, rand(N, 3), [N], 'f32'), dy: Tensor.from(device, rand(M * N, 4), [M, N], 'f32'),
    r: Tensor.from(device, rand(M * N, 5), [M, N], 'f32'), g: Tensor.from(device, rand(N, 6), [N], 'f32'),
  };
  // per candidate: wall ms per rep (one per round), and per dispatch label: GPU ms per rep (one per round)
  const wall = cands.map(() => [] as number[]);
  const cpu = cands.map(() => [] as number[]);
  const gpu = cands.map(() => new Map<string, number[]>());
  for (let r = -1; r < rounds; r++) {
    for (let c = 0; c < cands.length; c++) {
      setEnv(cands[c]!.env, true);
      await device.sync();
      await device.takeProfile();
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let i = 0; i < reps; i++) once(pr, t);
      await device.sync();
      const ms = (performance.now() - t0) / reps;
      const c1 = process.cpuUsage(c0);
      const prof: ProfileEntry[] = await device.takeProfile();
      setEnv(cands[c]!.env, false);
      if (r < 0) continue; // warm-up round (pipeline compiles)
      wall[c]!.push(ms);
      cpu[c]!.push((c1.user + c1.system) / 1000 / reps);
      const sums = new Map<string, number>();
      for (const e of prof) {
        const k = `${e.op} ${e.label}`;
        sums.set(k, (sums.get(k) ?? 0) + e.ms / reps);
        sums.set('total', (sums.get('total') ?? 0) + e.ms / reps);
      }
      for (const [k, v] of sums) gpu[c]!.set(k, [...(gpu[c]!.get(k) ?? []), v]);
    }
  }
  console.log(`\n## linear M=${M} K=${K} N=${N} ${pr.epilogue}${pr.gate ? ' +gate' : ''}${pr.bias ? ' +bias' : ''}  (${rounds} rounds x ${reps} reps; us per rep, median over rounds)`);
  const keys = [...new Set(gpu.flatMap((m) => [...m.keys()]))].sort((a, b) => (a === 'total' ? 1 : b === 'total' ? -1 : a.localeCompare(b)));
  const us = (xs: number[] | undefined) => (xs ? (1000 * median(xs)).toFixed(0).padStart(7) : '      -');
  console.log(`${(gpuTimes ? 'dispatch (GPU timestamps)' : '').padEnd(90)}${cands.map((c) => c.name.padStart(9)).join('')}${cands.length > 1 ? '   ratio' : ''}`);
  for (const k of gpuTimes ? keys : []) {
    const vals = cands.map((_, c) => gpu[c]!.get(k));
    const ratio = cands.length > 1 && vals[0] && vals[1] ? `  ${(median(vals[0]) / median(vals[1])).toFixed(2)}x` : '';
    console.log(`${k.slice(0, 89).padEnd(90)}${vals.map((v) => `  ${us(v)}`).join('')}${ratio}`);
  }
  const row = (name: string, xs: number[][], stat: (v: number[]) => number) => {
    const r = cands.length > 1 ? `  ${(stat(xs[0]!) / stat(xs[1]!)).toFixed(2)}x` : '';
    console.log(`${name.padEnd(90)}${xs.map((w) => `  ${(1000 * stat(w)).toFixed(0).padStart(7)}`).join('')}${r}`);
  };
  const min = (v: number[]) => Math.min(...v);
  row('process CPU time per rep (all threads), median', cpu, median);
  row('process CPU time per rep, min', cpu, min);
  row('host wall per rep, median', wall, median);
  row('host wall per rep, min', wall, min);
  for (const x of Object.values(t)) x.dispose();
}
console.log(`# load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
device.destroy();
