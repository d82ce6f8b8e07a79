// Timing script (not a test): attention as QK^T and PV on the matmul op (heads permuted to [H, S, hd], softmax op
// in between; scale, bias and mask left out) against the fused kernels attention_flash_rb and attention_rows, timed
// interleaved in one process, with the measured f32 FMA peak and the load average. It answers whether an
// `attention_matmul` route would pay off on this adapter (see docs/kernels/attention.md).
// Usage: node --import tsx bench/attention-matmul-route.ts [--heads 4] [--hd 64] [--sq 1629] [--sk 1629] [--rounds 3]

import { Command } from 'commander';
import os from 'node:os';
import { Device } from '../engine/gpu/device.js';
import { attention } from '../engine/ops/attention.js';
import { permute } from '../engine/ops/layout.js';
import { matmul } from '../engine/ops/matmul.js';
import { softmax } from '../engine/ops/softmax.js';
import { Tensor } from '../engine/tensor.js';
import { measurePeaks } from './peak.js';

const o = new Command()
  .description('Attention through the matmul op versus the fused attention kernels, interleaved.')
  .option('--heads <n>', 'heads', '4')
  .option('--hd <n>', 'head dim', '64')
  .option('--sq <n>', 'queries (spatial: 1629 joint tokens of a frame)', '1629')
  .option('--sk <n>', 'keys (spatial 1629, cross 333)', '1629')
  .option('--rounds <n>', 'interleaved rounds', '3')
  .parse()
  .opts<{ heads: string; hd: string; sq: string; sk: string; rounds: string }>();
const [H, hd, S, SK, rounds] = [o.heads, o.hd, o.sq, o.sk, o.rounds].map(Number) as [number, number, number, number, number];
const D = H * hd;
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

const dev = await Device.create({ label: 'bench' });
const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const q = Tensor.from(dev, rnd(S * D), [1, S, D]);
const k = Tensor.from(dev, rnd(SK * D), [1, SK, D]);
const v = Tensor.from(dev, rnd(SK * D), [1, SK, D]);
const out = Tensor.empty(dev, [1, S, D]);
const flops = 4 * H * S * SK * hd;

function viaMatmul(): void {
  const qh = permute(q.reshape([S, H, hd]), [1, 0, 2]);
  const kh = permute(k.reshape([SK, H, hd]), [1, 0, 2]);
  const vh = permute(v.reshape([SK, H, hd]), [1, 0, 2]);
  const scores = matmul(qh, kh, { transposeB: true });
  const probs = softmax(scores);
  const oh = matmul(probs, vh);
  const o2 = permute(oh, [1, 0, 2]);
  for (const t of [qh, kh, vh, scores, probs, oh, o2]) t.dispose();
}
const runs: [string, () => void][] = [
  ['matmul route (permute, QK^T, softmax, PV, permute)', viaMatmul],
  ['attention_flash_rb', () => void attention(q, k, v, { heads: H, out, variant: 'attention_flash_rb' })],
  ['attention_rows', () => void attention(q, k, v, { heads: H, out, variant: 'attention_rows' })],
];
console.log(`adapter: ${dev.adapter.description}; ${H} heads x ${hd}, ${S} queries x ${SK} keys; load average ${load()}`);
for (const [, run] of runs) {
  run();
  await dev.sync(); // warm-up, pipeline compile
}
const times = runs.map(() => [] as number[]);
for (let r = 0; r < rounds; r++) {
  for (const [i, [, run]] of runs.entries()) {
    const t0 = performance.now();
    run();
    await dev.sync();
    times[i]!.push(performance.now() - t0);
  }
}
const peak = (await measurePeaks(dev)).gflops;
for (const [i, [name]] of runs.entries()) {
  const best = Math.min(...times[i]!);
  const gf = flops / best / 1e6;
  console.log(`${name.padEnd(52)} best ${best.toFixed(0).padStart(7)} ms ${gf.toFixed(2).padStart(6)} GFLOP/s ${((100 * gf) / peak).toFixed(1).padStart(5)}% peak  [${times[i]!.map((x) => x.toFixed(0)).join(' ')}]`);
}
console.log(`measured peak ${peak.toFixed(1)} GFLOP/s f32 FMA; load average ${load()}`);
dev.destroy();
