// Attention timing script (not a test): time and GFLOP/s of every attention variant on the three Vchitect layouts
// (spatial, temporal, cross) at reduced sizes, f32 and f16; with --backward, the backward (attention_backward variants)
// from a forward that saved its log-sum-exp.
// Usage: node --import tsx bench/attention.ts [--heads 24] [--reps 3] [--variants attention_flash,attention_rows]
//        [--layouts spatial,temporal,cross] [--dtypes f32,f16] [--backward]

import { Command } from 'commander';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { attentionBackward } from '../engine/ops/attention-backward.js';
import { variants } from '../engine/ops/registry.js';
import { attention, attentionVariants, seqView, sharedView, temporalView, type SeqView } from '../engine/ops/attention.js';
import { Tensor } from '../engine/tensor.js';

const cli = new Command('node --import tsx bench/attention.ts')
  .description('Time and GFLOP/s of every attention variant on the spatial, temporal and cross layouts. Writes no file.')
  .option('--heads <n>', 'heads (Vchitect: 24)', '24')
  .option('--hd <n>', 'head dim', '64')
  .option('--reps <n>', 'timed repetitions', '3')
  .option('--variants <list>', 'comma-separated variant names (default: all available)')
  .option('--layouts <list>', 'spatial,temporal,cross', 'spatial,temporal,cross')
  .option('--only <layouts>', 'same as --layouts')
  .option('--dtypes <list>', 'f32,f16', 'f32,f16')
  .option('--backward', 'time the backward (dQ, dK, dV from O and L; GFLOP/s counts 2.5x the forward\'s flops, as FlashAttention-2 does)')
  .parse();
const o = cli.opts<{ heads: string; hd: string; reps: string; variants?: string; layouts: string; only?: string; dtypes: string; backward?: boolean }>();
if (o.only) o.layouts = o.only;
const H = Number(o.heads);
const hd = Number(o.hd);
const D = H * hd;
const reps = Number(o.reps);

interface Problem {
  layout: string;
  desc: string;
  /** Multiply-adds x2 for QK^T and PV. */
  flops: number;
  make(dev: Device, dtype: DType): { q: SeqView; k: SeqView; v: SeqView; out: SeqView; dispose(): void };
}

const rand = (dev: Device, shape: number[], dtype: DType) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  return Tensor.from(dev, data, shape, dtype);
};

const PROBLEMS: Problem[] = [
  {
    layout: 'spatial', desc: `2 frames x 1629 tokens, ${H} heads x ${hd}`, flops: 4 * 2 * H * 1629 * 1629 * hd,
    make(dev, dtype) {
      const [q, k, v, out] = [0, 1, 2, 3].map(() => rand(dev, [2, 1629, D], dtype));
      return { q: seqView(q!), k: seqView(k!), v: seqView(v!), out: seqView(out!), dispose: () => [q, k, v, out].forEach((t) => t!.dispose()) };
    },
  },
  {
    layout: 'temporal', desc: `1629 positions x 40 frames, ${H} heads x ${hd}`, flops: 4 * 1629 * H * 40 * 40 * hd,
    make(dev, dtype) {
      const [q, k, v, out] = [0, 1, 2, 3].map(() => rand(dev, [40, 1629, D], dtype));
      return { q: temporalView(q!), k: temporalView(k!), v: temporalView(v!), out: temporalView(out!), dispose: () => [q, k, v, out].forEach((t) => t!.dispose()) };
    },
  },
  {
    layout: 'cross', desc: `2 frames x 1296 queries vs 333 shared keys, ${H} heads x ${hd}`, flops: 4 * 2 * H * 1296 * 333 * hd,
    make(dev, dtype) {
      const q = rand(dev, [2, 1296, D], dtype);
      const k = rand(dev, [1, 333, D], dtype);
      const v = rand(dev, [1, 333, D], dtype);
      const out = rand(dev, [2, 1296, D], dtype);
      return { q: seqView(q), k: sharedView(k, 2), v: sharedView(v, 2), out: seqView(out), dispose: () => [q, k, v, out].forEach((t) => t.dispose()) };
    },
  },
];

const dev = await Device.create({ label: 'bench' });
console.log(`adapter: ${dev.adapter.description} (${dev.adapter.backend}); reps ${reps}`);
const names = o.variants ? o.variants.split(',') : o.backward ? variants('attention_backward', dev).map((v) => v.name) : attentionVariants(dev).map((v) => v.name);
for (const dtype of o.dtypes.split(',') as DType[]) {
  if (dtype === 'f16' && !dev.f16) continue;
  for (const p of PROBLEMS.filter((x) => o.layouts.split(',').includes(x.layout))) {
    const t = p.make(dev, dtype);
    let lse: Tensor | undefined;
    let dO: Tensor | undefined;
    if (o.backward) {
      lse = Tensor.empty(dev, [t.q.batch, H, t.q.seq]);
      dO = rand(dev, [t.out.tensor.numel], dtype);
      attention(t.q, t.k, t.v, { heads: H, headDim: hd, out: t.out, lse });
    }
    const dOView = (): SeqView => ({ ...t.out, tensor: dO! });
    for (const variant of names) {
      const run = o.backward
        ? () => {
          const g = attentionBackward(t.q, t.k, t.v, dOView(), { heads: H, headDim: hd, out: t.out, lse: lse!, variant });
          for (const x of new Set([g.dq, g.dk, g.dv])) x.dispose();
        }
        : () => attention(t.q, t.k, t.v, { heads: H, headDim: hd, out: t.out, variant });
      run();
      await dev.sync(); // warm-up (includes pipeline compile)
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) run();
      await dev.sync();
      const ms = (performance.now() - t0) / reps;
      const flops = o.backward ? 2.5 * p.flops : p.flops;
      console.log(`${dtype} ${p.layout.padEnd(8)} ${variant.padEnd(16)} ${ms.toFixed(1).padStart(9)} ms ${((flops / ms) * 1e-6).toFixed(2).padStart(8)} GFLOP/s   (${p.desc})`);
    }
    t.dispose();
    lse?.dispose();
    dO?.dispose();
  }
}
dev.destroy();
