// Peak GPU memory and time of one training forward + backward of the Vchitect transformer (engine/train/
// vchitect-backward.ts) per memory option: none, selective recomputation (LiteGen's ratio: the share of blocks that
// keep their activations, so 0 recomputes every block) and activation offload (share of the checkpointed blocks).
// A random make-tiny checkpoint of the chosen size; bytes are the device pool's (weights excluded: measured from just
// before the forward); "held" is what stays on the GPU between forward and backward. Prints a markdown table.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../engine/io/make-tiny.js';
import { LN_EPS } from '../engine/model/vchitect.js';
import { Tensor } from '../engine/tensor.js';
import { memoryPlan, type MemoryOptions } from '../engine/train/memory-plan.js';
import { disposeModelSaved, modelBackward, modelForward, offloadReady, type ModelShape } from '../engine/train/vchitect-backward.js';
import { parseBenchArgs } from './cli.js';
import { median } from './timing.js';

const args = parseBenchArgs({
  command: 'node --import tsx bench/train-memory.ts',
  summary: 'Peak GPU memory (device pool) and time of one training forward + backward per memory option, on a random\nmake-tiny checkpoint. Case syntax: none | rR | rR+oO (recompute ratio R, offload ratio O), e.g. none,r0.5,r0,r0+o0.2.',
  options: {
    layers: { type: 'string', value: 'N', help: 'transformer blocks (default 6)' },
    heads: { type: 'string', value: 'N', help: 'attention heads (default 4)' },
    'head-dim': { type: 'string', value: 'N', help: 'head width (default 16: D = 64)' },
    frames: { type: 'string', value: 'N', help: 'latent frames (default 8)' },
    latent: { type: 'string', value: 'N', help: 'latent height = width (default 8)' },
    text: { type: 'string', value: 'N', help: 'text tokens (default 32)' },
    cases: { type: 'string', value: 'LIST', help: 'memory options to compare (default none,r0.5,r0,r0+o0.2)' },
    rounds: { type: 'string', value: 'N', help: 'timed rounds, each running every case once in turn (default 5)' },
  },
});

function parseCase(s: string): MemoryOptions {
  if (s === 'none') return {};
  const m = /^r([\d.]+)(?:\+o([\d.]+))?$/.exec(s);
  if (!m) throw new Error(`bench/train-memory: case '${s}' is not none, rR or rR+oO (e.g. r0.5, r0+o0.2)`);
  return m[2] === undefined ? { recompute: Number(m[1]) } : { recompute: Number(m[1]), offload: Number(m[2]) };
}

const layers = args.num('layers', 6), heads = args.num('heads', 4), headDim = args.num('head-dim', 16);
const F = args.num('frames', 8), S = args.num('latent', 8), Tn = args.num('text', 32);
let cases: (readonly [string, MemoryOptions])[];
try {
  cases = (args.list('cases') ?? ['none', 'r0.5', 'r0', 'r0+o0.2']).map((c) => [c, parseCase(c)] as const);
  for (const [, c] of cases) memoryPlan(layers, c); // bad cases named before any GPU work
} catch (err) {
  console.error(`bench/train-memory: ${(err as Error).message}`);
  process.exit(2);
}

const dir = await mkdtemp(join(os.tmpdir(), 'parallax-train-memory-'));
const device = await Device.create({ label: 'bench' });
try {
  await makeTinyCheckpoint(dir, { seed: 7, transformer: { num_layers: layers, num_attention_heads: heads, attention_head_dim: headDim, pos_embed_max_size: Math.max(16, S) } });
  const ckpt = await openCheckpoint(dir);
  const store = ckpt.transformer.weights;
  const params = new Map<string, Tensor>();
  for (const k of store.keys()) params.set(k, Tensor.from(device, await store.readFloat32(k), [...store.info(k).shape], 'f32'));
  const cfg = ckpt.transformer.config as unknown as Record<string, number>;
  const shape: ModelShape = { numLayers: layers, heads, patchSize: cfg.patch_size ?? 2, eps: LN_EPS };
  const C = cfg.in_channels!, J = cfg.joint_attention_dim!, P = cfg.pooled_projection_dim!;
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(1 + i * 0.7311) * 0.8);
  const inp = {
    hidden: Tensor.from(device, rand(F * C * S * S), [1, F, C, S, S]),
    timestep: Tensor.from(device, [500], [1]),
    context: Tensor.from(device, rand(Tn * J), [1, Tn, J]),
    pooled: Tensor.from(device, rand(P), [1, P]),
  };
  let weights = 0;
  for (const t of params.values()) weights += t.byteLength;
  const tokens = F * (S / shape.patchSize) ** 2;
  console.log(`D=${heads * headDim} (${heads}x${headDim}), ${layers} layers, ${F} frames of ${S}x${S} latents (${tokens} visual tokens), ${Tn} text tokens; weights ${(weights / 2 ** 20).toFixed(2)} MiB; adapter ${device.adapter.description ?? device.adapter.vendor ?? ''}`);
  console.log('\n| case | checkpointed | offloaded | peak bytes | held bytes (fwd -> bwd) | ms, best (vs the first case) | ms, median |\n| --- | --- | --- | ---: | ---: | ---: | ---: |');
  const measure = async (mem: MemoryOptions): Promise<{ peak: number; held: number; ms: number }> => {
    await device.sync();
    const live0 = device.pool.stats.liveBytes;
    device.pool.resetPeak();
    const t0 = performance.now();
    const { out, saved } = modelForward(params, shape, inp, mem);
    const dO = Tensor.from(device, rand(out.numel), out.shape);
    await offloadReady(saved);
    const held = device.pool.stats.liveBytes - live0;
    const { grads, dHidden } = modelBackward(saved, dO);
    disposeModelSaved(saved);
    const peak = device.pool.stats.peakBytes - live0;
    await device.sync();
    const ms = performance.now() - t0;
    for (const g of grads.values()) g.dispose();
    for (const t of [out, dO, dHidden]) t.dispose();
    return { peak, held, ms };
  };
  // Rounds over the cases in turn (not case after case), so a change in the machine's load hits every case alike.
  const rounds = args.num('rounds', 5);
  const res = cases.map(() => ({ peak: 0, held: 0, ms: [] as number[] }));
  for (const [, mem] of cases) await measure(mem); // warm-up: pipelines compiled, pool filled
  for (let r = 0; r < rounds; r++) {
    for (const [i, [, mem]] of cases.entries()) {
      const m = await measure(mem);
      Object.assign(res[i]!, { peak: m.peak, held: m.held });
      res[i]!.ms.push(m.ms);
    }
  }
  const list = (f: boolean[]) => f.flatMap((v, i) => (v ? [i] : [])).join(' ') || '-';
  const base = Math.min(...res[0]!.ms);
  for (const [i, [name, mem]] of cases.entries()) {
    const plan = memoryPlan(layers, mem);
    const r = res[i]!;
    const best = Math.min(...r.ms);
    console.log(`| ${name} | ${list(plan.checkpointed)} | ${list(plan.offloaded)} | ${r.peak} | ${r.held} | ${best.toFixed(1)} (${best >= base ? '+' : ''}${((100 * (best - base)) / base).toFixed(0)}%) | ${median(r.ms).toFixed(1)} |`);
  }
  for (const t of [...params.values(), ...Object.values(inp)]) t.dispose();
  await ckpt.close();
} finally {
  device.destroy();
  await rm(dir, { recursive: true, force: true });
}
