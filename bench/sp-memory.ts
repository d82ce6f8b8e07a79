// Per-rank device memory of sequence-parallel training (engine/train/sp-model.ts through DistributedTrainer
// { sp }): SP 1/2/4 ranks in this process (in-process transport, one Dawn device each) train the same one item (a
// make-tiny transformer, default 4 layers, D = 64 = 4 heads x 16; 16 frames of 8x8 latents = 16 visual tokens per
// frame, 8 text tokens) for 2 steps. Reports, per rank, the bytes held between steps (parameters + Adam moments +
// EMA: "persistent"), the peak of step 2 above what the device held before (the pool's accounting, 256-byte size
// classes), the activations part (peak - persistent) and the collective bytes sent in step 2; with --memory, one row
// per SP size and memory option (none, recompute = LiteGen ratio 0, recompute+offload = ratio 0 with offload 1).
// Usage: node --import tsx bench/sp-memory.ts [--layers 4] [--heads 4] [--head-dim 16] [--sp 1,2,4] [--frames 16] [--size 8] [--text 8]
//        [--memory none,recompute,recompute+offload]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import type { MemoryOptions } from '../engine/train/memory-plan.js';
import { checkSpLayout, spDataGroups } from '../engine/train/sp-groups.js';
import { measureRank, tinyTransformer } from './train-rank-memory.js';

const { values: a } = parseArgs({
  options: {
    layers: { type: 'string', default: '4' }, heads: { type: 'string', default: '4' }, 'head-dim': { type: 'string', default: '16' },
    sp: { type: 'string', default: '1,2,4' }, frames: { type: 'string', default: '16' }, size: { type: 'string', default: '8' }, text: { type: 'string', default: '8' },
    memory: { type: 'string', default: 'none' },
  },
});
const layers = Number(a.layers), heads = Number(a.heads), hd = Number(a['head-dim']), F = Number(a.frames), S = Number(a.size), Tn = Number(a.text);
const spList = a.sp!.split(',').map(Number);
for (const sp of spList) checkSpLayout(sp, sp, heads);
const MEMORY: Record<string, MemoryOptions> = { none: {}, recompute: { recompute: 0 }, 'recompute+offload': { recompute: 0, offload: 1 } };
const memList = a.memory!.split(',');
for (const k of memList) if (!MEMORY[k]) throw new Error(`--memory ${k}: pick from ${Object.keys(MEMORY).join(', ')}`);

const dir = mkdtempSync(join(tmpdir(), 'parallax-sp-mem-'));
try {
  const m = await tinyTransformer(dir, layers, heads, hd);
  const devices = await Device.createMany(Math.max(...spList), { label: 'rank' });
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  const L = (S / m.shape.patchSize) ** 2;
  console.log(`make-tiny transformer: ${layers} layers, D = ${heads * hd} (${heads} heads x ${hd}), ${(m.nParams / 1e6).toFixed(3)} M parameters (${mib(4 * m.nParams)} MiB f32); item: ${F} frames of ${S}x${S} latents (${L} visual tokens per frame, ${F * L} in all) + ${Tn} text tokens; adapter: ${devices[0]!.adapter.description}`);
  console.log('\n| SP | memory option | persistent MiB per rank | step peak MiB per rank | activations (peak - persistent) MiB per rank | sent KiB per rank in a step |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const sp of spList) for (const mem of memList) {
    const world = createInProcessWorld(sp, { timeoutMs: 600_000 });
    const res = await Promise.all(world.map(async (t, r) => {
      const w = ProcessGroup.world(t);
      const groups = await spDataGroups(w, sp, heads);
      // The same item on every rank of the SP group.
      return measureRank(m, { device: devices[r]!, world: w, group: groups.dp, sp: groups.sp, zero: 0, item: { F, S, Tn, seed: 10 }, globalBatch: 1, memory: MEMORY[mem] });
    }));
    console.log(`| ${sp} | ${mem} | ${res.map((x) => mib(x.persistent)).join(' / ')} | ${res.map((x) => mib(x.peak)).join(' / ')} | ${res.map((x) => mib(x.peak - x.persistent)).join(' / ')} | ${res.map((x) => (x.sent / 1024).toFixed(0)).join(' / ')} |`);
  }
  devices.forEach((d) => d.destroy());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
