// `npm run bench:parallel`: one guided denoising step (cond + uncond transformer passes) of a tiny and a small
// Vchitect under Ulysses SP of N = 1..4 ranks (and CFG 2 x SP 2), ranks as async tasks in one process, one device
// each (config tiny10: 10 heads, so SP 3 and 4 take the all-gather of K/V). Reports bytes moved per rank next to the
// analytical count, and the split of step time into compute and communication. Writes the table into
// docs/parallelism.md (between the bench markers) unless --no-write.
//   npm run bench:parallel -- [--configs tiny,small,tiny10] [--only sp1,sp2,...] [--steps 2] [--no-write] [--help]

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { ParallelTransformer, type ParallelLayout } from '../engine/parallel/parallel-transformer.js';
import { spAttentionExchange, tokenShard } from '../engine/parallel/ulysses.js';
import { Tensor } from '../engine/tensor.js';
import { checkOnly, parseBenchArgs, runSetup } from './cli.js';

interface BenchConfig {
  name: string;
  heads: number;
  headDim: number;
  layers: number;
  F: number;
  latent: number;
  T: number;
}

const CONFIGS: Record<string, BenchConfig> = {
  tiny: { name: 'tiny', heads: 12, headDim: 8, layers: 2, F: 3, latent: 12, T: 33 },
  small: { name: 'small', heads: 12, headDim: 16, layers: 2, F: 3, latent: 24, T: 77 },
  tiny10: { name: 'tiny10', heads: 10, headDim: 8, layers: 2, F: 3, latent: 12, T: 33 },
};

const LAYOUT_NAMES = ['sp1', 'sp2', 'sp3', 'sp4', 'cfg2sp2'];
const args = parseBenchArgs({
  command: 'npm run bench:parallel --',
  summary: `One guided denoising step of the Vchitect transformer under SP 1-4 and CFG 2 x SP 2 (in-process ranks, one device
each): bytes sent per rank next to the analytical count, step time split into compute and communication.`,
  options: {
    configs: { type: 'string', value: 'LIST', help: `comma-separated, from ${Object.keys(CONFIGS).join(', ')} (default: all; tiny10 has 10 heads, so SP 3 and 4 use the all-gather of K/V)` },
    only: { type: 'string', value: 'LAYOUTS', help: `comma-separated layouts from ${LAYOUT_NAMES.join(', ')} (default: all; implies --no-write)` },
    steps: { type: 'string', value: 'N', help: 'timed steps after one warm-up (default 2)' },
    'no-write': { type: 'boolean', help: 'print only; by default the table also replaces the one in docs/parallelism.md' },
  },
});
const configs = (args.list('configs') ?? Object.keys(CONFIGS)).map((n) => {
  const c = CONFIGS[n];
  if (!c) {
    console.error(`bench:parallel: unknown config ${n}; choose from ${Object.keys(CONFIGS).join(', ')}`);
    process.exit(2);
  }
  return c;
});
const steps = args.num('steps', 2);
const onlyLayouts = args.list('only');
checkOnly('layout', onlyLayouts, LAYOUT_NAMES);
runSetup([]);
const layouts = ([{ sp: 1, cfg: 1 }, { sp: 2, cfg: 1 }, { sp: 3, cfg: 1 }, { sp: 4, cfg: 1 }, { sp: 2, cfg: 2 }] as ParallelLayout[])
  .filter((_, i) => !onlyLayouts || onlyLayouts.includes(LAYOUT_NAMES[i]!));

/**
 * Bytes one SP rank sends in one transformer pass (f32), as implemented. Ulysses (H % P == 0): per layer one
 * all-to-all of q, k, v, q_cross (visual rows) and cq, ck, cv (text rows), one inverse all-to-all of the spatial and
 * cross outputs (text rows skipped in the last block), (P-1)/P of each leaves the rank. All-gather of K/V
 * (H % P != 0): per layer k, v (visual rows) and ck, cv (text rows) go to each of the P-1 other ranks. Then the
 * all-gather of the 64-channel velocity rows (once per step, after CFG). `spec` is parallel.md's estimate for
 * Ulysses: 4 all-to-alls of the local [S/P, D] per branch (spatial, cross).
 */
function analyticalBytes(c: BenchConfig, P: number): { a2a: number; gather: number; spec: number } {
  const D = c.heads * c.headDim;
  const L = (c.latent / 2) ** 2;
  const nL = tokenShard(L, P, 0).per;
  const nT = tokenShard(c.T, P, 0).per;
  const frac = (P - 1) / P;
  const gather = 4 * (P - 1) * c.F * nL * 64;
  const spec = 4 * c.layers * 2 * 4 * frac * c.F * (nL + nT) * D;
  if (spAttentionExchange(c.heads, P) === 'kv-allgather') return { a2a: 4 * (P - 1) * c.F * c.layers * 2 * (nL + nT) * D, gather, spec };
  let rows = 0;
  for (let i = 0; i < c.layers; i++) rows += 4 * nL + 3 * nT + 2 * nL + (i === c.layers - 1 ? 0 : 2 * nT);
  const a2a = 4 * frac * c.F * rows * D;
  return { a2a, gather, spec };
}

interface Row {
  config: string;
  layout: string;
  ranks: number;
  stepMs: number;
  computeMs: number;
  commMs: number;
  collectiveMs: number;
  stagingMs: number;
  sentPerRank: number;
  implPerRank: number;
  specPerRank: number;
  cfgBytes: number;
}

const devices = await Device.createMany(4, { label: 'bench' });
const a = devices[0]!.adapter;
const header = `Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${os.cpus()[0]?.model} x${os.cpus().length}; ${steps} timed steps after 1 warm-up, f32`;
console.log(header);
const rows: Row[] = [];

for (const c of configs) {
  const dir = mkdtempSync(join(os.tmpdir(), 'parallax-bench-par-'));
  await makeTinyCheckpoint(dir, { seed: 3, transformer: { num_attention_heads: c.heads, attention_head_dim: c.headDim, num_layers: c.layers } });
  const ckpt = await openCheckpoint(dir);
  const cfgJson = ckpt.transformer.config;
  const J = cfgJson.joint_attention_dim;
  const hidden = Float32Array.from({ length: c.F * 16 * c.latent * c.latent }, (_, i) => Math.sin(i * 0.37));
  const ctx = (k: number) => Float32Array.from({ length: c.T * J }, (_, i) => Math.cos(i * 0.11 + k));
  const pooled = (k: number) => Float32Array.from({ length: cfgJson.pooled_projection_dim }, (_, i) => Math.sin(i * 0.7 + k));
  for (const layout of layouts) {
    const n = layout.sp * layout.cfg;
    const world = createInProcessWorld(n, { timeoutMs: 600_000 });
    const perRank = await Promise.all(
      world.map(async (t, r) => {
        const device = devices[r]!;
        const pt = await ParallelTransformer.create(ProcessGroup.world(t), device, ckpt.transformer, layout);
        const inp = {
          hidden: Tensor.from(device, hidden, [1, c.F, 16, c.latent, c.latent]),
          timestep: 500,
          cond: { context: Tensor.from(device, ctx(0), [1, c.T, J]), pooled: Tensor.from(device, pooled(0), [1, pooled(0).length]) },
          uncond: { context: Tensor.from(device, ctx(1), [1, c.T, J]), pooled: Tensor.from(device, pooled(1), [1, pooled(1).length]) },
          guidance: 5,
        };
        (await pt.guidedVelocity(inp)).dispose(); // warm-up: pipeline compilation
        pt.resetStats();
        const cfgStats = pt.cfgStager?.stats;
        const t0 = performance.now();
        for (let s = 0; s < steps; s++) {
          const v = await pt.guidedVelocity(inp);
          await v.read();
          v.dispose();
        }
        const stepMs = (performance.now() - t0) / steps;
        const st = pt.stats();
        const out = {
          stepMs,
          computeWait: st.computeWaitMs / steps,
          collective: st.collectiveMs / steps,
          staging: (st.readbackMs + st.uploadMs) / steps,
          sent: st.bytesSent / steps,
          cfgBytes: (cfgStats?.bytesSent ?? 0) / steps,
        };
        pt.dispose();
        return out;
      }),
    );
    const mean = (f: (x: (typeof perRank)[number]) => number) => perRank.reduce((s, x) => s + f(x), 0) / perRank.length;
    const passesPerRank = layout.cfg === 2 ? 1 : 2;
    const an = analyticalBytes(c, layout.sp);
    const commMs = mean((x) => x.collective + x.staging);
    const row: Row = {
      config: c.name,
      layout: `SP ${layout.sp} x CFG ${layout.cfg}${spAttentionExchange(c.heads, layout.sp) === 'kv-allgather' ? ' (K/V all-gather)' : ''}`,
      ranks: n,
      stepMs: Math.max(...perRank.map((x) => x.stepMs)),
      computeMs: mean((x) => x.stepMs) - commMs,
      commMs,
      collectiveMs: mean((x) => x.collective),
      stagingMs: mean((x) => x.staging),
      sentPerRank: mean((x) => x.sent),
      // passes x all-to-alls + one SP all-gather + (CFG 2) one exchange of the local velocity rows
      implPerRank: passesPerRank * an.a2a + an.gather + (layout.cfg === 2 ? 4 * c.F * tokenShard((c.latent / 2) ** 2, layout.sp, 0).per * 64 : 0),
      specPerRank: passesPerRank * an.spec,
      cfgBytes: mean((x) => x.cfgBytes),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  await ckpt.close();
  rmSync(dir, { recursive: true, force: true });
}

const kib = (b: number) => (b / 1024).toFixed(1);
const table = [
  '| config | layout | ranks | step ms | compute ms | comm ms (collective + staging) | sent KiB/rank/step | analytical KiB (impl) | spec estimate KiB |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map(
    (r) =>
      `| ${r.config} | ${r.layout} | ${r.ranks} | ${r.stepMs.toFixed(0)} | ${r.computeMs.toFixed(0)} | ${r.commMs.toFixed(0)} (${r.collectiveMs.toFixed(0)} + ${r.stagingMs.toFixed(0)}) | ${kib(r.sentPerRank)} | ${kib(r.implPerRank)} | ${kib(r.specPerRank)} |`,
  ),
];
const configLines = configs.map((c) => `- ${c.name}: D = ${c.heads * c.headDim} (${c.heads} heads x ${c.headDim}), ${c.layers} layers, F = ${c.F}, latent ${c.latent}x${c.latent} (L = ${(c.latent / 2) ** 2}), T = ${c.T}`);
const block = [header, '', ...configLines, '', ...table].join('\n');
console.log(`\n${block}`);

const doc = 'docs/parallelism.md';
if (onlyLayouts && !args.flag('no-write')) console.log('--only: a partial table; docs/parallelism.md left as it is.');
if (!args.flag('no-write') && !onlyLayouts && existsSync(doc)) {
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- bench:parallel begin -->';
  const end = '<!-- bench:parallel end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) {
    writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${block}\n${text.slice(j)}`);
    console.log(`wrote ${doc}`);
  }
}
devices.forEach((d) => d.destroy());
