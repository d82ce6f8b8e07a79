// Attention timing script (not a test): every attention variant (or the ones named) on the three Vchitect layouts
// (spatial, temporal, cross), f32 and f16, timed INTERLEAVED (round r times variant A, then B, ...) so a shared
// machine's load disturbs all variants alike; prints the best and median ms per call, GFLOP/s, % of the adapter's
// measured f32 FMA peak (bench/peak.ts) and the load average before and after. With --backward, the backward
// (attention_backward variants) from a forward that saved its log-sum-exp.
// Usage: node --import tsx bench/attention.ts [--heads 4] [--hd 64] [--frames 1] [--rounds 3] [--reps 1]
//        [--variants attention_flash,attention_rows] [--layouts spatial,temporal,cross] [--dtypes f32,f16] [--no-peak]
//        [--backward]

import { Command } from 'commander';
import os from 'node:os';
import type { DType } from '../engine/dtype.js';
import { Device } from '../engine/gpu/device.js';
import { attentionBackward } from '../engine/ops/attention-backward.js';
import { variants } from '../engine/ops/registry.js';
import { attention, attentionVariants, seqView, sharedView, temporalView, type SeqView } from '../engine/ops/attention.js';
import { Tensor } from '../engine/tensor.js';
import { measurePeaks } from './peak.js';
import { median } from './timing.js';

const cli = new Command('node --import tsx bench/attention.ts')
  .description('Times the attention variants on the Vchitect layouts, interleaved, against the measured FMA peak.')
  .option('--heads <n>', 'heads (Vchitect 2B: 24)', '4')
  .option('--hd <n>', 'head dim (2B: 64; tiny models 32, 16)', '64')
  .option('--frames <n>', 'frames (query batches) of the spatial and cross layouts', '1')
  .option('--tokens <n>', 'joint tokens per frame (spatial keys; cross queries)', '1629')
  .option('--text <n>', 'text keys of the cross layout', '333')
  .option('--positions <n>', 'token positions of the temporal layout', '204')
  .option('--rounds <n>', 'interleaved rounds (each times every variant once)', '3')
  .option('--reps <n>', 'calls per timed sample', '1')
  .option('--variants <list>', 'comma-separated variant names (default: all available)')
  .option('--layouts <list>', 'spatial,temporal,cross', 'spatial,temporal,cross')
  .option('--only <layouts>', 'same as --layouts')
  .option('--dtypes <list>', 'f32,f16', 'f32,f16')
  .option('--no-peak', 'skip measuring the adapter peak')
  .option('--backward', 'time the backward (dQ, dK, dV from O and L; GFLOP/s counts 2.5x the forward\'s flops, as FlashAttention-2 does)')
  .parse();
const o = cli.opts<{
  heads: string; hd: string; frames: string; tokens: string; text: string; positions: string; rounds: string; reps: string;
  variants?: string; layouts: string; only?: string; dtypes: string; peak: boolean; backward?: boolean;
}>();
if (o.only) o.layouts = o.only;
const H = Number(o.heads);
const hd = Number(o.hd);
const D = H * hd;
const F = Number(o.frames);
const S = Number(o.tokens);
const T = Number(o.text);
const P = Number(o.positions);
const rounds = Number(o.rounds);
const reps = Number(o.reps);
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

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
    layout: 'spatial', desc: `${F} frame(s) x ${S} tokens, ${H} heads x ${hd}`, flops: 4 * F * H * S * S * hd,
    make(dev, dtype) {
      const [q, k, v, out] = [0, 1, 2, 3].map(() => rand(dev, [F, S, D], dtype));
      return { q: seqView(q!), k: seqView(k!), v: seqView(v!), out: seqView(out!), dispose: () => [q, k, v, out].forEach((t) => t!.dispose()) };
    },
  },
  {
    layout: 'temporal', desc: `${P} positions x 40 frames, ${H} heads x ${hd}`, flops: 4 * P * H * 40 * 40 * hd,
    make(dev, dtype) {
      const [q, k, v, out] = [0, 1, 2, 3].map(() => rand(dev, [40, P, D], dtype));
      return { q: temporalView(q!), k: temporalView(k!), v: temporalView(v!), out: temporalView(out!), dispose: () => [q, k, v, out].forEach((t) => t!.dispose()) };
    },
  },
  {
    layout: 'cross', desc: `${F} frame(s) x ${S} queries vs ${T} shared keys, ${H} heads x ${hd}`, flops: 4 * F * H * S * T * hd,
    make(dev, dtype) {
      const q = rand(dev, [F, S, D], dtype);
      const k = rand(dev, [1, T, D], dtype);
      const v = rand(dev, [1, T, D], dtype);
      const out = rand(dev, [F, S, D], dtype);
      return { q: seqView(q), k: sharedView(k, F), v: sharedView(v, F), out: seqView(out), dispose: () => [q, k, v, out].forEach((t) => t.dispose()) };
    },
  },
];

const dev = await Device.create({ label: 'bench' });
console.log(`adapter: ${dev.adapter.description} (${dev.adapter.backend}); ${rounds} interleaved rounds x ${reps} call(s); load average ${load()}`);
const peak = o.peak ? (await measurePeaks(dev)).gflops : undefined;
if (peak) console.log(`measured peak: ${peak.toFixed(1)} GFLOP/s f32 FMA (load average ${load()})`);
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
    const runs = names.map((variant) => o.backward
      ? () => {
        const g = attentionBackward(t.q, t.k, t.v, { ...t.out, tensor: dO! }, { heads: H, headDim: hd, out: t.out, lse: lse!, variant });
        for (const x of new Set([g.dq, g.dk, g.dv])) x.dispose();
      }
      : () => attention(t.q, t.k, t.v, { heads: H, headDim: hd, out: t.out, variant }));
    const flops = o.backward ? 2.5 * p.flops : p.flops;
    for (const run of runs) {
      run();
      await dev.sync(); // warm-up (includes pipeline compile)
    }
    const times: number[][] = names.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, run] of runs.entries()) {
        const t0 = performance.now();
        for (let j = 0; j < reps; j++) run();
        await dev.sync();
        times[i]!.push((performance.now() - t0) / reps);
      }
    }
    for (const [i, variant] of names.entries()) {
      const best = Math.min(...times[i]!);
      const gf = (flops / best) * 1e-6;
      const pct = peak ? `${((100 * gf) / peak).toFixed(1).padStart(5)}% peak` : '';
      console.log(`${dtype} ${p.layout.padEnd(8)} ${variant.padEnd(22)} best ${best.toFixed(1).padStart(8)} ms  median ${median(times[i]!).toFixed(1).padStart(8)} ms ${gf.toFixed(2).padStart(7)} GFLOP/s ${pct}  (${p.desc})`);
    }
    console.log(`   load average ${load()}`);
    lse?.dispose();
    dO?.dispose();
    t.dispose();
  }
}
dev.destroy();
