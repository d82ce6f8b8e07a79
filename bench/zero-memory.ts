// Per-rank device memory and traffic of data-parallel training with ZeRO stages 0-3 (engine/train/distributed-step.ts):
// N ranks in this process (in-process transport, one Dawn device each), a make-tiny transformer (default 4 layers,
// D = 64), one item per rank (global batch N), 2 steps. Reports, per rank, the bytes its device holds between steps
// (parameters + Adam moments + EMA: "persistent") and the peak of step 2 (the pool's accounting, 256-byte size
// classes), both above what the device held before, plus the collective bytes it sent in step 2.
// Usage: node --import tsx bench/zero-memory.ts [--layers 4] [--heads 4] [--head-dim 16] [--ranks 1,2,4] [--frames 2] [--size 8]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import type { ZeroStage } from '../engine/train/distributed-step.js';
import { measureRank, tinyTransformer } from './train-rank-memory.js';

const { values: a } = parseArgs({ options: { layers: { type: 'string', default: '4' }, heads: { type: 'string', default: '4' }, 'head-dim': { type: 'string', default: '16' }, ranks: { type: 'string', default: '1,2,4' }, frames: { type: 'string', default: '2' }, size: { type: 'string', default: '8' } } });
const layers = Number(a.layers), heads = Number(a.heads), hd = Number(a['head-dim']), F = Number(a.frames), S = Number(a.size);
const rankList = a.ranks!.split(',').map(Number);

const dir = mkdtempSync(join(tmpdir(), 'parallax-zero-mem-'));
try {
  const m = await tinyTransformer(dir, layers, heads, hd);
  const Tn = 8;
  const devices = await Device.createMany(Math.max(...rankList), { label: 'rank' });
  const mib = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`make-tiny transformer: ${layers} layers, D = ${heads * hd} (${heads} heads x ${hd}), ${(m.nParams / 1e6).toFixed(3)} M parameters (${mib(4 * m.nParams)} MiB f32); item: ${F} frames of ${S}x${S} latents, ${Tn} text tokens; global batch = ranks; adapter: ${devices[0]!.adapter.description}`);
  console.log('\n| ranks | ZeRO | persistent MiB per rank | step peak MiB per rank | sent KiB per rank in a step |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const N of rankList) {
    for (const zero of [0, 1, 2, 3] as ZeroStage[]) {
      const world = createInProcessWorld(N, { timeoutMs: 600_000 });
      const res = await Promise.all(world.map(async (t, r) => {
        const g = ProcessGroup.world(t);
        return measureRank(m, { device: devices[r]!, world: g, group: g, zero, item: { F, S, Tn, seed: 10 + r }, globalBatch: N });
      }));
      console.log(`| ${N} | ${zero} | ${res.map((x) => mib(x.persistent)).join(' / ')} | ${res.map((x) => mib(x.peak)).join(' / ')} | ${res.map((x) => (x.sent / 1024).toFixed(0)).join(' / ')} |`);
    }
  }
  devices.forEach((d) => d.destroy());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
