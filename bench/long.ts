// `npm run bench:long`: latency and peak GPU memory per rank of one transformer forward against the video length
// (latent frames), per long-video strategy (Ulysses SP, clip parallelism with dual-scope attention, DualParal), ranks as async
// tasks in one process with one Dawn device each (the bench:parallel machinery), a make-tiny checkpoint at a tiny
// spatial size. Next to each measured byte count, the analytical one (engine/parallel/long-cost.ts). Then one tiny
// generation per strategy on the same prompt and seed, measured by the border-consistency ratio
// (engine/metrics/border-consistency.ts). Writes the tables into docs/long-video.md (between the bench markers)
// unless --no-write. A strategy is one entry of STRATEGIES. DualParal's "forward" is every block of the video one step
// further (the n block steps of one denoising step through the layer pipeline; its peak is one block window's).
//   npm run bench:long -- [--frames 8,16,...] [--ranks 4] [--only sp,clip,dualparal] [--block-frames 4 --context-frames 4]
//                         [--no-border] [--no-write] [--help]

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ProcessGroup } from '../engine/distributed/collectives.js';
import { createInProcessWorld } from '../engine/distributed/inprocess.js';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint, type SubModel } from '../engine/io/checkpoint.js';
import type { VchitectTransformerConfig } from '../engine/io/configs.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import type { VchitectInputs } from '../engine/model/vchitect.js';
import { clipLayout, type DualScopeOptions } from '../engine/parallel/clip-layout.js';
import { ClipParallelVchitect } from '../engine/parallel/clip-parallel.js';
import { generationBorders, layoutBorders, type LongLayout } from '../engine/parallel/layout-borders.js';
import { clipForwardBytes, dualParalStepBytes, spForwardBytes, type CostDims } from '../engine/parallel/long-cost.js';
import { DualParalVchitect } from '../engine/parallel/dualparal.js';
import { generateDualParalInProcess } from '../engine/parallel/dualparal-generate.js';
import { blockLayout, splitLayers } from '../engine/parallel/dualparal-plan.js';
import { runDualParal } from '../engine/parallel/dualparal-run.js';
import type { DecodedVideo, Tensor32 } from '../engine/pipeline/backend.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { InProcessParallelPipeline } from '../engine/parallel/parallel-pipeline.js';
import type { ParallelLayout } from '../engine/parallel/parallel-transformer.js';
import { tokenShard, UlyssesVchitect } from '../engine/parallel/ulysses.js';
import { Tensor } from '../engine/tensor.js';
import { checkOnly, parseBenchArgs, runSetup } from './cli.js';

/** One strategy: how a rank loads and runs one forward of its share of F frames, its analytical bytes, its layouts. */
interface Strategy {
  key: string;
  name: string;
  /** Why F frames on N ranks cannot run (checked before any GPU work), or null. */
  refuse(F: number, N: number): string | null;
  load(device: Device, sub: SubModel<VchitectTransformerConfig>, group: ProcessGroup): Promise<RankModel>;
  /** Bytes rank r sends in one forward, counted analytically. */
  analyticalBytes(d: CostDims, F: number, N: number, rank: number): number;
  /** Frames rank r holds activations for (SP: all F frames, 1/N of each frame's tokens). */
  framesHeld(F: number, N: number, rank: number): number;
  /** Token rows (visual + text) per held frame on rank r. */
  rowsPerFrame(d: CostDims, N: number): number;
  /** The layout of a generation (for the border measure) and the frame borders to measure it at (own: its own). */
  generation(F: number, N: number): { layout: ParallelLayout; borders: LongLayout; own: boolean };
  /** A generation that does not run through InProcessParallelPipeline (DualParal): its latents and decoded frames. */
  generate?(req: GenerationRequest, N: number): Promise<{ latents: Tensor32; video: DecodedVideo }>;
}

type GenerationRequest = { prompt: string; negativePrompt: string; frames: number; width: number; height: number; steps: number; guidance: number; guidanceMode: 'reference'; seed: number };

interface RankModel {
  /** One forward of this rank's share; resolves when the output is read back. */
  forward(inp: (first: number, count: number) => VchitectInputs, F: number): Promise<void>;
  dispose(): void;
}

const args = parseBenchArgs({
  command: 'npm run bench:long --',
  summary: `Latency and peak GPU memory per rank of one transformer forward against the video length, for Ulysses SP, clip
parallelism and DualParal (every block one step further through the layer pipeline) on in-process ranks (one device
each), bytes sent per rank next to the analytical count, and the border-consistency ratio of one tiny generation per
strategy (same prompt and seed).`,
  options: {
    frames: { type: 'string', value: 'LIST', help: 'latent frame counts (default 8,16,32,64,128,256)' },
    ranks: { type: 'string', value: 'N', help: 'ranks (devices on this adapter) per strategy (default 4)' },
    only: { type: 'string', value: 'LIST', help: 'strategies from sp, clip, dualparal (default all; a partial table implies --no-write)' },
    layers: { type: 'string', value: 'N', help: 'transformer blocks of the make-tiny checkpoint (default 4; DualParal needs at least one per rank)' },
    'block-frames': { type: 'string', value: 'B', help: 'DualParal latent frames per block (default 4; every length must be n*B + C)' },
    'context-frames': { type: 'string', value: 'C', help: 'DualParal context frames (default 4)' },
    latent: { type: 'string', value: 'N', help: 'latent height = width of the forwards (default 8: 16 visual tokens per frame)' },
    'head-dim': { type: 'string', value: 'N', help: 'attention head width of the make-tiny transformer (default 8: D = 32 with 4 heads)' },
    repeats: { type: 'string', value: 'N', help: 'forwards per row; the fastest is reported (default 2: a new length may compile new kernels)' },
    window: { type: 'string', value: 'P', help: 'dual-scope window half-width p of clip parallelism (default 2)' },
    'top-k': { type: 'string', value: 'N', help: 'dual-scope |G| (default 4)' },
    'border-frames': { type: 'string', value: 'N', help: 'latent frames of the border-consistency generations (default 16, 32x32 pixels, 2 steps)' },
    'no-border': { type: 'boolean', help: 'skip the border-consistency generations' },
    'no-write': { type: 'boolean', help: 'print only; by default the tables also replace those in docs/long-video.md' },
  },
});

const dual: Partial<DualScopeOptions> = { window: args.num('window', 2), topK: args.num('top-k', 4) };
const STRATEGIES: Strategy[] = [
  {
    key: 'sp',
    name: 'Ulysses SP',
    refuse: () => null,
    load: async (device, sub, group) => {
      const m = await UlyssesVchitect.loadParallel(device, sub, group);
      return {
        forward: async (inp, F) => {
          const local = await m.forwardLocal(inp(0, F)); // every rank passes the whole video's latents
          await local.rows.read();
          local.rows.dispose();
        },
        dispose: () => m.dispose(),
      };
    },
    analyticalBytes: (d, F, N) => spForwardBytes(d, F, N, 4),
    framesHeld: (F) => F,
    rowsPerFrame: (d, N) => tokenShard(d.L, N, 0).per + tokenShard(d.T, N, 0).per,
    generation: (F, N) => ({ layout: { sp: N, cfg: 1 }, borders: { kind: 'clip', layout: clipLayout(F, N, dual) }, own: false }),
  },
  {
    key: 'clip',
    name: 'clip parallelism',
    refuse: (F, N) => {
      try {
        clipLayout(F, N, dual);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    load: async (device, sub, group) => {
      const m = await ClipParallelVchitect.loadClipParallel(device, sub, group.size > 1 ? group : null);
      return {
        forward: async (inp, F) => {
          const layout = clipLayout(F, group.size, dual);
          const r = group.size > 1 ? group.rank : 0;
          const out = await m.forwardClips(group.size > 1 ? inp(layout.starts[r]!, layout.lengths[r]!) : inp(0, F), layout);
          await out.read();
          out.dispose();
        },
        dispose: () => m.dispose(),
      };
    },
    analyticalBytes: (d, F, N, r) => clipForwardBytes(d, clipLayout(F, N, dual), r, 4),
    framesHeld: (F, N, r) => clipLayout(F, N, dual).lengths[r]!,
    rowsPerFrame: (d) => d.L + d.T,
    generation: (F, N) => ({ layout: { sp: 1, cfg: 1, clip: { clips: N, ...dual } }, borders: { kind: 'clip', layout: clipLayout(F, N, dual) }, own: true }),
  },
];

const B = args.num('block-frames', 4);
const C = args.num('context-frames', 4);
const dualParalRefusal = (F: number, N: number): string | null => {
  if (N > LAYERS) return `${N} ranks need at least ${N} transformer blocks (one per rank): pass --layers ${N}`;
  try {
    blockLayout(F, B, C);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
};
STRATEGIES.push({
  key: 'dualparal',
  name: 'DualParal',
  refuse: dualParalRefusal,
  load: async (device, sub, group) => {
    const m = await DualParalVchitect.loadPart(device, sub, splitLayers(sub.config.num_layers, group.size)[group.rank]!);
    return {
      // Every block one step (steps = 1, no CFG): the n block steps of one denoising step through the pipeline. The
      // queue draws its own noise; the inputs give the text (context on rank 0, pooled on every rank).
      forward: async (inp, F) => {
        const { context, pooled } = inp(0, 1);
        const { height, width } = { height: latent, width: latent };
        await runDualParal(m, group.size > 1 ? group : null, [{ context, pooled }], {
          layout: blockLayout(F, B, C), steps: 1, shift: 3, numTrainTimesteps: 1000, guidance: 1, guidanceMode: 'constant', seed: 7,
          latent: { channels: sub.config.in_channels, height, width },
        });
      },
      dispose: () => m.dispose(),
    };
  },
  analyticalBytes: (d, F, N, r) => dualParalStepBytes(d, blockLayout(F, B, C), N, r, 4, 1),
  framesHeld: () => B + C,
  rowsPerFrame: (d) => d.L + d.T,
  generation: (F) => ({ layout: { sp: 1, cfg: 1 }, borders: { kind: 'dualparal', layout: blockLayout(F, B, C) }, own: true }),
  generate: async (req, N) => {
    const out = join(dir, `dualparal-${N}.mp4`);
    const r = await generateDualParalInProcess({ model: dir, devices: Array(N).fill(0), settings: req, blockFrames: B, contextFrames: C, out, fps: 8, timeoutMs: 600_000 }, N);
    // The final latents decoded by the VAE (not the H.264 file), as the other strategies' frames are.
    const vae = await GpuBackend.forParts(ckpt, ['vae'], { device: devices[0]! });
    try {
      return { latents: { shape: r.latents.shape, data: r.latents.data }, video: await vae.decode({ shape: r.latents.shape, data: r.latents.data }) };
    } finally {
      await vae.dispose();
    }
  },
});

const LAYERS = args.num('layers', 4);
const frameCounts = (args.list('frames') ?? ['8', '16', '32', '64', '128', '256']).map(Number);
const N = args.num('ranks', 4);
const latent = args.num('latent', 8);
const repeats = args.num('repeats', 2);
const borderFrames = args.num('border-frames', 16);
const only = args.list('only');
checkOnly('strategy', only, STRATEGIES.map((s) => s.key));
const keys = only ?? STRATEGIES.map((s) => s.key);
const bad: string[] = [];
if (frameCounts.some((f) => !Number.isInteger(f) || f < 1)) bad.push(`--frames ${args.str('frames')}: expected positive integers`);
if (!Number.isInteger(args.num('head-dim', 8)) || args.num('head-dim', 8) < 1) bad.push(`--head-dim ${args.str('head-dim')}: expected a positive integer`);
if (!Number.isInteger(repeats) || repeats < 1) bad.push(`--repeats ${repeats}: expected a positive integer`);
if (!Number.isInteger(N) || N < 1) bad.push(`--ranks ${N}: expected a positive integer`);
if (!Number.isInteger(LAYERS) || LAYERS < 1) bad.push(`--layers ${LAYERS}: expected a positive integer`);
if (!Number.isInteger(B) || B < 1 || !Number.isInteger(C) || C < 0 || C > B) bad.push(`--block-frames ${B} --context-frames ${C}: expected integers B >= 1, 0 <= C <= B`);
if (!Number.isInteger(latent) || latent < 2 || latent % 2 !== 0 || latent > 32) bad.push(`--latent ${latent}: expected an even integer in [2, 32]`);
const strategies = STRATEGIES.filter((s) => keys.includes(s.key));
for (const s of strategies) {
  for (const F of frameCounts) {
    const why = s.refuse(F, N);
    if (why) bad.push(`${s.name}, ${F} latent frames on ${N} ranks: ${why}`);
  }
  if (!args.flag('no-border')) {
    const why = s.refuse(borderFrames, N);
    if (why) bad.push(`${s.name}, --border-frames ${borderFrames} on ${N} ranks: ${why}`);
  }
}
if (bad.length) {
  console.error(`bench:long: ${bad.join('\nbench:long: ')}`);
  process.exit(2);
}
runSetup([]);

const HEADS = 4;
const HEAD_DIM = args.num('head-dim', 8);
const T = 8;
const dir = mkdtempSync(join(os.tmpdir(), 'parallax-bench-long-'));
await makeTinyCheckpoint(dir, { seed: 5, transformer: { num_attention_heads: HEADS, attention_head_dim: HEAD_DIM, num_layers: LAYERS, pos_embed_max_size: Math.max(16, latent) } });
const ckpt = await openCheckpoint(dir);
const cfg = ckpt.transformer.config;
const J = cfg.joint_attention_dim;
const Cin = cfg.in_channels;
const dims: CostDims = { D: HEADS * HEAD_DIM, heads: HEADS, layers: LAYERS, L: (latent / 2) ** 2, T, velocity: cfg.patch_size ** 2 * cfg.out_channels };
const devices = await Device.createMany(N, { label: 'bench-long' });
const a = devices[0]!.adapter;
const header =
  `Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${os.cpus()[0]?.model} x${os.cpus().length}; load average ${os.loadavg()[0]!.toFixed(1)} at the start; ` +
  `${N} ranks in one process; make-tiny transformer D = ${dims.D} (${HEADS} heads x ${HEAD_DIM}), ${LAYERS} layers, latent ${latent}x${latent} (L = ${dims.L}), T = ${T}, f32; ` +
  `clip parallelism p = ${dual.window}, top-k = ${dual.topK}; DualParal B = ${B}, C = ${C} (a row: every block one step, no CFG; frames held = one window); fastest of ${repeats} forwards at t = 500 per row (after one warm-up forward per strategy); activations = pool peak minus what was live before the forward (weights, inputs)`;
console.log(header);

interface Row {
  strategy: string;
  F: number;
  held: number;
  ms: number;
  peakMax: number;
  actMax: number;
  actPerRow: number;
  sentMax: number;
  analyticalMax: number;
  exact: boolean;
}
const rows: Row[] = [];
const rand = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(1 + k + i * 0.7311) * 0.8);
const Fmax = Math.max(...frameCounts);
const hiddenAll = rand(Fmax * Cin * latent * latent, 0);
const ctx = rand(T * J, 1);
const pooled = rand(cfg.pooled_projection_dim, 2);

for (const s of strategies) {
  const world = createInProcessWorld(N, { timeoutMs: 600_000 });
  const groups = world.map((t) => ProcessGroup.world(t));
  const models = await Promise.all(groups.map((g, r) => s.load(devices[r]!, ckpt.transformer, g)));
  const frameSize = Cin * latent * latent;
  const inputsFor = (d: Device, made: Tensor[]) => (first: number, count: number): VchitectInputs => {
    const t = [
      Tensor.from(d, hiddenAll.subarray(first * frameSize, (first + count) * frameSize), [1, count, Cin, latent, latent]),
      Tensor.from(d, ctx, [1, T, J]),
      Tensor.from(d, pooled, [1, pooled.length]),
    ] as const;
    made.push(...t);
    return { hidden: t[0], timestep: 500, context: t[1], pooled: t[2] };
  };
  const once = async (F: number) =>
    Promise.all(
      models.map(async (m, r) => {
        const d = devices[r]!;
        const made: Tensor[] = [];
        const inp = inputsFor(d, made);
        await d.sync();
        const live0 = d.pool.stats.liveBytes;
        d.pool.resetPeak();
        const sent0 = groups[r]!.stats.bytesSent;
        const t0 = performance.now();
        await m.forward(inp, F);
        const ms = performance.now() - t0;
        const peak = d.pool.stats.peakBytes;
        made.forEach((x) => x.dispose());
        return { ms, peak, act: peak - live0, sent: groups[r]!.stats.bytesSent - sent0 };
      }),
    );
  await once(Math.min(...frameCounts)); // warm-up: pipelines compiled, pools filled
  for (const F of frameCounts) {
    let ms = Infinity;
    let per: Awaited<ReturnType<typeof once>> = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      per = await once(F);
      ms = Math.min(ms, performance.now() - t0);
    }
    const analytical = per.map((_, r) => s.analyticalBytes(dims, F, N, r));
    const actPerRow = Math.max(...per.map((p, r) => p.act / (s.framesHeld(F, N, r) * s.rowsPerFrame(dims, N))));
    const row: Row = {
      strategy: s.name,
      F,
      held: Math.max(...per.map((_, r) => s.framesHeld(F, N, r))),
      ms,
      peakMax: Math.max(...per.map((p) => p.peak)),
      actMax: Math.max(...per.map((p) => p.act)),
      actPerRow,
      sentMax: Math.max(...per.map((p) => p.sent)),
      analyticalMax: Math.max(...analytical),
      exact: per.every((p, r) => p.sent === analytical[r]),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  models.forEach((m) => m.dispose());
  await Promise.allSettled(world.map((t) => t.close()));
}

interface BorderRow {
  strategy: string;
  borders: number[];
  own: boolean;
  latents: number | null;
  video: number | null;
  ms: number;
}
const borderRows: BorderRow[] = [];
const req = { prompt: 'a paper boat drifting down a long river', negativePrompt: '', frames: borderFrames, width: 32, height: 32, steps: 2, guidance: 3, guidanceMode: 'reference' as const, seed: 7 };
if (!args.flag('no-border')) {
  for (const s of strategies) {
    const g = s.generation(borderFrames, N);
    const t0 = performance.now();
    const measure = (res: { latents: Tensor32; video: DecodedVideo }) => {
      const m = generationBorders(res, layoutBorders(g.borders));
      const row = { strategy: s.name, borders: m.borders, own: g.own, latents: m.latents.ratio, video: m.video.ratio, ms: performance.now() - t0 };
      borderRows.push(row);
      console.log(JSON.stringify(row));
    };
    if (s.generate) {
      measure(await s.generate(req, N));
      continue;
    }
    const pp = await InProcessParallelPipeline.create(dir, { devices: Array(N).fill(0), layout: g.layout, timeoutMs: 600_000 });
    try {
      measure(await pp.generate(req));
    } finally {
      await pp.dispose();
    }
  }
}

const kib = (b: number) => (b / 1024).toFixed(1);
const table = [
  '| strategy | latent frames F | frames per rank | forward ms | peak MiB/rank | activations KiB/rank | bytes per held token row | sent KiB/rank | analytical KiB/rank |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.strategy} | ${r.F} | ${r.held}${r.strategy === 'Ulysses SP' ? ` (1/${N} of the tokens)` : ''} | ${r.ms.toFixed(0)} | ${(r.peakMax / 2 ** 20).toFixed(2)} | ${kib(r.actMax)} | ${r.actPerRow.toFixed(0)} | ${kib(r.sentMax)} | ${kib(r.analyticalMax)}${r.exact ? '' : ' (differs)'} |`,
  ),
];
const fmt = (x: number | null) => (x === null ? '-' : x.toFixed(3));
const borderTable = borderRows.length
  ? [
      '',
      `Border consistency (one generation per strategy: "${req.prompt}", seed ${req.seed}, ${borderFrames} latent frames, ${req.width}x${req.height}, ${req.steps} steps, guidance ${req.guidance}, on ${N} ranks): mean frame-to-frame change across the borders over the mean change inside them.`,
      '',
      '| strategy | borders (first frame after) | ratio, latents | ratio, decoded frames | generation ms |',
      '| --- | --- | ---: | ---: | ---: |',
      ...borderRows.map((r) => `| ${r.strategy} | ${r.borders.join(', ')}${r.own ? '' : ' (the clip layout\'s: SP has none)'} | ${fmt(r.latents)} | ${fmt(r.video)} | ${r.ms.toFixed(0)} |`),
    ]
  : [];
const command = `npm run bench:long${args.argv.length ? ` -- ${args.argv.join(' ')}` : ''}`;
const block = ['`' + command + '`', '', header, '', ...table, ...borderTable].join('\n');
console.log(`\n${block}`);

const doc = 'docs/long-video.md';
const partial = only !== undefined;
if (partial && !args.flag('no-write')) console.log('--only: a partial table; docs/long-video.md left as it is.');
if (!args.flag('no-write') && !partial && existsSync(doc)) {
  const text = readFileSync(doc, 'utf8');
  const begin = '<!-- bench:long begin -->';
  const end = '<!-- bench:long end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) {
    writeFileSync(doc, `${text.slice(0, i + begin.length)}\n${block}\n${text.slice(j)}`);
    console.log(`wrote ${doc}`);
  } else console.log(`${doc} has no bench:long markers; nothing written`);
}
await ckpt.close();
devices.forEach((d) => d.destroy());
rmSync(dir, { recursive: true, force: true });
