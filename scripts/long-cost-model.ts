// The cost model of docs/long-video.md: one denoising step of a 1,025-latent-frame video with the 2B Vchitect-2.0
// transformer (D = 1536, 24 heads, 24 layers, T = 333 text tokens) at 768x432 (and the papers' 512x320) on 8 GPUs,
// per strategy: FLOPs, weights and activation bytes per rank, bytes sent per rank (engine/parallel/long-cost.ts), and
// a projected latency from stated assumptions. Prints markdown tables.
//   node --import tsx scripts/long-cost-model.ts [--frames 1025] [--gpus 8]
import { parseArgs } from 'node:util';
import { clipLayout } from '../engine/parallel/clip-layout.js';
import { blockLayout } from '../engine/parallel/dualparal-plan.js';
import { clipForwardBytes, clipVelocityGatherBytes, dualParalStepBytes, forwardFlops, spForwardBytes, spVelocityGatherBytes, type CostDims } from '../engine/parallel/long-cost.js';
import { tokenShard } from '../engine/parallel/ulysses.js';

const { values } = parseArgs({ options: { frames: { type: 'string', default: '1025' }, gpus: { type: 'string', default: '8' } } });
const F = Number(values.frames);
const N = Number(values.gpus);

// Assumptions (docs/long-video.md says where each comes from).
const BYTES = 2; // f16 weights and activations
const PARAMS = 2.4e9; // ../shared/spec/vchitect-2.0.md: ~2.4 B parameters
const RATE = 26.8e12; // FLOP/s per GPU: 40% of an H100's FP32 SIMT peak (docs/parallelism.md)
const LINK = 25e9; // bytes/s per direction, host-staged PCIe Gen4 x16
const STEPS = 50;
// Activation bytes per held token row at the peak of a forward, in units of D values: measured by bench:long on
// lavapipe (f32, D = 32 .. 1024, independent of D): 57 for Ulysses SP (pack buffers included), 47 for clip
// parallelism at long clips. DualParal's pipeline stage is taken at SP's 57 (a plain forward of the window).
const K_SP = 57;
const K_CLIP = 47;
const K_BLOCK = 57;

interface Res {
  name: string;
  flops: number;
  weights: number;
  acts: number;
  sent: number;
  note: string;
}

function strategies(d: CostDims): Res[] {
  const S = d.L + d.T;
  const row = d.D * BYTES;
  const full = forwardFlops(d, F, { kind: 'full' });
  const tot = (f: { linear: number; attention: number; temporal: number }) => f.linear + f.attention + f.temporal;
  const out: Res[] = [];
  const one = tot(full) * 2;
  out.push({ name: '1 GPU (reference)', flops: one, weights: PARAMS * BYTES, acts: K_SP * F * S * row, sent: 0, note: 'full temporal attention' });
  // SP N, both CFG passes on every rank
  const rowsSp = (P: number) => F * (tokenShard(d.L, P, 0).per + tokenShard(d.T, P, 0).per);
  out.push({
    name: `Ulysses SP ${N}`,
    flops: one / N,
    weights: PARAMS * BYTES,
    acts: K_SP * rowsSp(N) * row,
    sent: 2 * spForwardBytes(d, F, N, BYTES) + spVelocityGatherBytes(d, F, N, BYTES),
    note: 'full temporal attention; all-to-alls grow with F',
  });
  if (N % 2 === 0) {
    const P = N / 2;
    out.push({
      name: `CFG 2 x SP ${P}`,
      flops: one / N,
      weights: PARAMS * BYTES,
      acts: K_SP * rowsSp(P) * row,
      sent: spForwardBytes(d, F, P, BYTES) + spVelocityGatherBytes(d, F, P, BYTES) + BYTES * F * tokenShard(d.L, P, 0).per * d.velocity,
      note: 'as SP, half the all-to-all ranks',
    });
  }
  // clip parallelism, spec defaults p = 8, |G| = 16; both CFG passes on every rank
  const layout = clipLayout(F, N, { window: 8, topK: 16 });
  const clipF = forwardFlops(d, F, { kind: 'clip', layout });
  const worst = Math.max(...layout.lengths.map((_, r) => 2 * clipForwardBytes(d, layout, r, BYTES) + clipVelocityGatherBytes(d, layout, r, BYTES)));
  out.push({
    name: `clip parallelism ${N} (p 8, top-k 16)`,
    flops: (2 * tot(clipF)) / N,
    weights: PARAMS * BYTES,
    acts: K_CLIP * Math.max(...layout.lengths) * S * row,
    sent: worst,
    note: `clips of ${Math.max(...layout.lengths)} frames; halos + G do not grow with F`,
  });
  for (const [B, C] of [[10, 5], [32, 1]] as const) {
    let blocks;
    try {
      blocks = blockLayout(F, B, C);
    } catch {
      continue;
    }
    const bf = forwardFlops(d, F, { kind: 'blocks', layout: blocks });
    // rank 0 and the middle ranks send windows; the last sends velocities (fewer bytes): the worst rank is a sender
    const sent = dualParalStepBytes(d, blocks, N, 0, BYTES, 2);
    const cache = C * S * 2 * d.D * BYTES * Math.ceil(d.layers / N) * 2; // next block's context K/V per layer, CFG batch
    out.push({
      name: `DualParal ${N} (B ${B}, C ${C})`,
      flops: (2 * tot(bf)) / N,
      weights: (PARAMS * BYTES) / N,
      acts: K_BLOCK * (B + C) * S * 2 * row + cache,
      sent,
      note: `${blocks.blocks} blocks; window ${B + C} frames, CFG as batch 2; memory independent of F`,
    });
  }
  return out;
}

const GB = (b: number) => (b / 1e9).toFixed(1);
for (const [label, Hl, Wl] of [['768x432', 54, 96], ['512x320', 40, 64]] as const) {
  const d: CostDims = { D: 1536, heads: 24, layers: 24, L: (Hl / 2) * (Wl / 2), T: 333, velocity: 64 };
  console.log(`\n${F} latent frames at ${label} (L = ${d.L}), ${N} GPUs, f16, CFG (2 passes per step), ${STEPS} steps:\n`);
  console.log('| strategy | TFLOP per rank per step | weights GB/rank | activations GB/rank | sent GB/rank/step | step s (compute + comm) | 50 steps | note |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of strategies(d)) {
    const comp = r.flops / RATE;
    const comm = r.sent / LINK;
    const step = comp + comm;
    const total = step * STEPS;
    const t = total >= 120 ? `${(total / 60).toFixed(0)} min` : `${total.toFixed(0)} s`;
    console.log(`| ${r.name} | ${(r.flops / 1e12).toFixed(0)} | ${GB(r.weights)} | ${GB(r.acts)} | ${GB(r.sent)} | ${step.toFixed(1)} (${comp.toFixed(1)} + ${comm.toFixed(1)}) | ${t} | ${r.note} |`);
  }
}
