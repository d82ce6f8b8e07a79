// conv2d training kernels on the local adapter (not a test): forward, dX and dW of every registered variant at the
// default make-tiny VAE's training shapes (batch 8 of 64x64), interleaved rounds, best of the rounds, wall and CPU
// time of this process. Run: node --import tsx bench/conv2d-backward.ts [--quick] [--rounds R] [--dtype f16] [--only NAMES]

import { Device } from '../engine/gpu/device.js';
import { conv2d, type Conv2dSpec } from '../engine/ops/conv2d.js';
import { conv2dBackward, conv2dBackwardDx, dxConvApplies } from '../engine/ops/conv2d-backward.js';
import { variants } from '../engine/ops/registry.js';
import { Tensor } from '../engine/tensor.js';
import type { DType } from '../engine/dtype.js';
import { parseBenchArgs } from './cli.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/conv2d-backward.ts',
  summary: 'conv2d forward / dX / dW variants at the tiny VAE training shapes (batch 8, 64x64): best-of-rounds ms and GFLOP/s. Writes no file.',
  options: {
    quick: { type: 'boolean', help: 'one shape, one round' },
    rounds: { type: 'string', value: 'R', help: 'interleaved rounds (default 3)' },
    dtype: { type: 'string', value: 'f32|f16', help: 'dtype (default f32)' },
    only: { type: 'string', value: 'NAMES', help: 'comma-separated case names (variant names, or \"dw_gemm TM=8\")' },
    batch: { type: 'string', value: 'N', help: 'images (default 8)' },
  },
});
const quick = args.flag('quick');
const rounds = quick ? 1 : Number(args.str('rounds') ?? 3);
const dtype = (args.str('dtype') ?? 'f32') as DType;
const N = Number(args.str('batch') ?? 8);
const only = args.list('only');
const device = await Device.create({ label: 'bench' });
console.log(`adapter: ${device.adapter.description || device.adapter.vendor}; ${dtype}, batch ${N}, best of ${rounds} interleaved rounds`);

interface Shape { name: string; Cin: number; Cout: number; H: number; K: number; stride: number; up: boolean }
// The default make-tiny VAE's most expensive convs (per-shape counts per training step in docs/kernels/misc.md).
const shapes: Shape[] = [
  { name: '16->16 64x64 3x3', Cin: 16, Cout: 16, H: 64, K: 3, stride: 1, up: false },
  { name: '32->32 16x16 3x3', Cin: 32, Cout: 32, H: 16, K: 3, stride: 1, up: false },
  { name: '16->16 32x32 up 3x3', Cin: 16, Cout: 16, H: 32, K: 3, stride: 1, up: true },
  { name: '16->16 64x64 s2 3x3', Cin: 16, Cout: 16, H: 64, K: 3, stride: 2, up: false },
].slice(0, quick ? 1 : undefined);
const extraDwTiles = [4, 8, 32];

type Case = { shape: string; name: string; pass: string; flops: number; run: () => void; best: number; bestCpu: number };
const cases: Case[] = [];
const keep: Tensor[] = [];
for (const s of shapes) {
  const up = s.up ? 2 : 1;
  const pad = s.stride === 2 ? { top: 0, bottom: 1, left: 0, right: 1 } : { top: 1, bottom: 1, left: 1, right: 1 };
  const Ho = Math.floor((s.H * up + pad.top + pad.bottom - s.K) / s.stride) + 1;
  const x = Tensor.zeros(device, [N, s.Cin, s.H, s.H], dtype);
  const w = Tensor.zeros(device, [s.Cout, s.Cin, s.K, s.K], dtype);
  const dy = Tensor.zeros(device, [N, s.Cout, Ho, Ho], dtype);
  const dx = Tensor.zeros(device, [N, s.Cin, s.H, s.H], dtype);
  const out = Tensor.zeros(device, [N, s.Cout, Ho, Ho], dtype);
  const dw = Tensor.zeros(device, [s.Cout, s.Cin, s.K, s.K]);
  keep.push(x, w, dy, dx, out, dw);
  const flops = 2 * N * s.Cout * Ho * Ho * s.Cin * s.K * s.K;
  const geo = { stride: s.stride, padding: pad, upsample: s.up };
  const add = (pass: string, name: string, run: () => void) => { if (!only || only.includes(name)) cases.push({ shape: s.name, name, pass, flops, run, best: Infinity, bestCpu: Infinity }); };
  for (const v of variants<Conv2dSpec>('conv2d', device)) add('forward', v.name, () => conv2d(x, w, { ...geo, out, variant: v.name }));
  for (const v of variants('conv2d_backward_dx', device)) {
    if (v.name === 'conv2d_dx_conv' && !dxConvApplies(pad, s.K, s.K)) continue;
    add('dX', v.name, () => conv2dBackwardDx(x, w, dy, { ...geo, dx, dxVariant: v.name }));
  }
  for (const v of variants('conv2d_backward_dw', device)) add('dW', v.name, () => conv2dBackward(x, w, dy, { ...geo, skipDx: true, grads: { weight: dw }, dwVariant: v.name }));
  for (const t of extraDwTiles) add('dW', `dw_gemm TM=${t}`, () => conv2dBackward(x, w, dy, { ...geo, skipDx: true, grads: { weight: dw }, dwVariant: 'conv2d_dw_gemm', dwTile: t }));
}
for (const c of cases) { c.run(); await device.sync(); } // compile
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    c.run();
    await device.sync();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    c.best = Math.min(c.best, ms);
    c.bestCpu = Math.min(c.bestCpu, (cpu.user + cpu.system) / 1e3);
  }
}
for (const c of cases) {
  console.log(`${c.shape.padEnd(22)} ${c.pass.padEnd(8)} ${c.name.padEnd(18)} ${c.best.toFixed(1).padStart(8)} ms ${(c.flops / 1e6 / c.best).toFixed(2).padStart(6)} GFLOP/s wall, ` +
    `${c.bestCpu.toFixed(0).padStart(6)} CPU-ms ${(c.flops / 1e6 / c.bestCpu).toFixed(2).padStart(6)} GFLOP per CPU-s`);
}
for (const t of keep) t.dispose();
device.destroy();
process.exit(0);
