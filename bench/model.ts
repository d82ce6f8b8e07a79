// `npm run bench:model`: the whole Vchitect-2.0 transformer on the GPU (seconds per forward, dispatches, peak memory),
// a short full generation through TextToVideoPipeline (text-encode / denoise / decode), and the same forward in
// PyTorch on the CPU with the same weights and inputs (time ratio and max relative error). Config issue9 (issue 9's
// target shape) also times the whole commands: `./bin/parallax forward` against bench/torch_vchitect.py, process
// start to exit. Writes docs/benchmarks.md unless --no-write; `npm run bench:model -- --help` lists the options.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Device } from '../engine/gpu/device.js';
import { openCheckpoint } from '../engine/io/checkpoint.js';
import { makeTinyCheckpoint, type TinyCheckpointOptions } from '../engine/io/make-tiny.js';
import { SeededRandom } from '../engine/io/tiny-random.js';
import { VchitectTransformer } from '../engine/model/vchitect.js';
import { GpuBackend } from '../engine/pipeline/gpu-backend.js';
import { TextToVideoPipeline } from '../engine/pipeline/text-to-video.js';
import { Tensor } from '../engine/tensor.js';
import { parseBenchArgs, runSetup } from './cli.js';
import { defaultTorchThreads } from './peers.js';
import { median } from './timing.js';
import { startTorchForward, torchForwardCommand, writeForwardInputs, type ForwardInputs } from './torch-vchitect-peer.js';

/** Text tokens of the real model: 77 CLIP + 256 T5 (a config may set its own). */
const TEXT_TOKENS = 333;
const TIMESTEP = 637.5;

interface ModelConfig {
  name: string;
  describe: string;
  transformer: NonNullable<TinyCheckpointOptions['transformer']>;
  /** Latent sizes [frames, Hl, Wl] when --frames/--width/--height are not given (default DEFAULT_SIZES). */
  sizes?: [number, number, number][];
  textTokens?: number;
  /** Also time the whole commands (parallax forward vs torch_vchitect.py, process start to exit). */
  wholeCommand?: boolean;
  /** Skip the generation through TextToVideoPipeline. */
  noPipeline?: boolean;
}
const CONFIGS: Record<string, ModelConfig> = {
  tiny: { name: 'tiny', describe: 'make-tiny default: D=64 (4 heads x 16), 3 layers, M=16', transformer: {} },
  small: {
    name: 'small', describe: 'D=256 (4 heads x 64), 4 layers, M=16',
    transformer: { num_layers: 4, num_attention_heads: 4, attention_head_dim: 64, pos_embed_max_size: 16 },
  },
  '2b': {
    name: '2b', describe: 'real 2B transformer shape: D=1536 (24 heads x 64), 24 layers, M=192, random weights',
    transformer: { num_layers: 24, num_attention_heads: 24, attention_head_dim: 64, pos_embed_max_size: 192, sample_size: 128 },
  },
  issue9: {
    name: 'issue9',
    describe: "issue 9's target: D=128 (4 heads x 32), 4 layers, M=48, 5 frames of 54x96 latents (6,480 visual tokens), 40 text tokens; whole commands timed too",
    transformer: { num_layers: 4, num_attention_heads: 4, attention_head_dim: 32, pos_embed_max_size: 48, sample_size: 96 },
    sizes: [[5, 54, 96]],
    textTokens: 40,
    wholeCommand: true,
    noPipeline: true,
  },
};

/** Latent sizes [frames, Hl, Wl]; pixels = latent * vaeScale (8). */
const DEFAULT_SIZES: [number, number, number][] = [[1, 8, 8], [4, 16, 16]];

const args = parseBenchArgs({
  command: 'npm run bench:model --',
  summary: `The Vchitect transformer forward on the GPU (best of runs, dispatches, peak memory) next to the same forward in
PyTorch on the CPU (bench/torch_vchitect.py, same weights and inputs, threads printed), and a short generation.
Configs: ${Object.values(CONFIGS).map((c) => `${c.name} = ${c.describe}`).join('; ')}.
Writes its table into docs/benchmarks.md unless --no-write (or --only).`,
  options: {
    config: { type: 'string', value: 'LIST', help: `comma-separated configs from ${Object.keys(CONFIGS).join(', ')} (default tiny,small,issue9)` },
    only: { type: 'string', value: 'LIST', help: 'same as --config, and implies --no-write' },
    frames: { type: 'string', value: 'F', help: 'latent frames (with --width/--height: one size instead of the config\'s)' },
    width: { type: 'string', value: 'PX', help: 'pixel width, a multiple of 16 (default 128 when --frames/--height is given)' },
    height: { type: 'string', value: 'PX', help: 'pixel height, a multiple of 16 (default 128)' },
    steps: { type: 'string', value: 'N', help: 'denoising steps of the generation (default 2)' },
    'whole-runs': { type: 'string', value: 'N', help: 'timed whole-command runs of each side, alternated, after one warm-up each (default 3)' },
    'torch-threads': { type: 'string', value: 'N', help: 'PyTorch threads (default: the CPUs this process may use)' },
    'no-torch': { type: 'boolean', help: 'skip the PyTorch peer' },
    'no-pipeline': { type: 'boolean', help: 'skip the generation through TextToVideoPipeline' },
    'no-write': { type: 'boolean', help: 'print the table only; do not touch docs/benchmarks.md' },
  },
});
const flag = args.flag;
const configNames = args.list('only') ?? args.list('config') ?? ['tiny', 'small', 'issue9'];
for (const c of configNames) {
  if (!CONFIGS[c]) {
    console.error(`bench:model: --config ${c}: unknown config (choose from ${Object.keys(CONFIGS).join(', ')})`);
    process.exit(2);
  }
}
const VAE_SCALE = 8;
const userSize = args.str('frames') || args.str('width') || args.str('height');
const userSizes: [number, number, number][] | undefined = userSize
  ? [[args.num('frames', 1), args.num('height', 128) / VAE_SCALE, args.num('width', 128) / VAE_SCALE]]
  : undefined;
for (const [f, hl, wl] of [...(userSizes ?? []), ...configNames.flatMap((c) => CONFIGS[c]!.sizes ?? [])]) {
  if (!Number.isInteger(f) || !Number.isInteger(hl) || !Number.isInteger(wl) || hl % 2 || wl % 2 || f < 1) {
    console.error(`bench:model: --frames/--width/--height: need an integer frame count and width/height multiples of 16, got frames ${f}, latent ${hl}x${wl}`);
    process.exit(2);
  }
}
const steps = args.num('steps', 2);
const wholeRuns = args.num('whole-runs', 3);
const torchThreads = args.num('torch-threads', defaultTorchThreads());
const useTorch = !flag('no-torch');
const usePipeline = !flag('no-pipeline');
const noWrite = flag('no-write') || args.list('only') !== undefined;
runSetup(useTorch ? ['--torch'] : []);
const PARALLAX_BIN = fileURLToPath(new URL('../bin/parallax', import.meta.url));

const loadStart = os.loadavg()[0]!;
const device = await Device.create({ label: 'bench-model' });
const a = device.adapter;
const cpuModel = `${os.cpus()[0]?.model} x${os.cpus().length}`;
console.log(`Adapter: ${a.vendor} ${a.architecture} ${a.description} (${a.backend}); CPU: ${cpuModel}`);

interface Row {
  config: string;
  size: string;
  tokens: string;
  gpuFwdS: number;
  dispatches: number;
  fwdPeakMB: number;
  /** PyTorch's best and median warm forward, seconds (alternated with ours). */
  torch: { bestS: number; medianS: number; runs: number[] } | null;
  gpuMedianS: number;
  gpuRuns: number[];
  maxRelErr?: number;
  gen?: { textS: number; denoiseS: number; decodeS: number; stepS: number; peakMB: number };
  whole?: WholeCommand;
}

/** Whole-command seconds (process start to exit), best and all timed runs, plus the first (cold) run. */
interface WholeCommand {
  parallax: { firstS: number; runs: number[] };
  torch?: { firstS: number; runs: number[] };
  loadavg: number;
}
const rows: Row[] = [];
let torchDescribe: string | undefined;
let torchNote: string | undefined;
const MB = 1024 * 1024;

/**
 * Warm forwards of both sides alternated (GPU, then PyTorch, per round) so both see the same machine load: at least
 * 3 rounds, at most 5, stopping after `budgetS` once 3 are done. Best and median seconds of each side.
 */
async function alternate(gpu: () => Promise<number>, torch: (() => Promise<number>) | null, budgetS: number):
  Promise<{ gpu: number[]; torch: number[] }> {
  const out = { gpu: [] as number[], torch: [] as number[] };
  const start = performance.now();
  while (out.gpu.length < 5 && (out.gpu.length < 3 || (performance.now() - start) / 1000 < budgetS)) {
    out.gpu.push(await gpu());
    if (torch) out.torch.push(await torch());
    console.log(`  round ${out.gpu.length}: GPU ${out.gpu.at(-1)!.toFixed(3)} s${torch ? `, PyTorch ${out.torch.at(-1)!.toFixed(3)} s` : ''} (load ${os.loadavg()[0]!.toFixed(1)})`);
  }
  return out;
}

/** Seconds from spawning `cmd` to its exit; throws with its stderr when it fails. */
function timeCommand(cmd: string, argv: string[], env?: Record<string, string | undefined>): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 30 * 60_000, env: env ?? process.env });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').slice(-800)}`);
  return s;
}

/**
 * `./bin/parallax forward` against `python3 bench/torch_vchitect.py --repeats 0` (load, one forward, write, exit) on the
 * same checkpoint and inputs file: one first run each (the first Parallax run may compile shaders; Mesa caches
 * them), then `runs` timed runs alternated so both see the same machine load.
 */
function wholeCommands(dir: string, inp: ForwardInputs, runs: number): Promise<WholeCommand> {
  return (async () => {
    const inPath = join(dir, 'whole-inputs.safetensors');
    await writeForwardInputs(inPath, inp);
    const px = () => timeCommand(PARALLAX_BIN, ['forward', '--model', dir, '--dtype', 'f32', '--inputs', inPath, '--out', join(dir, 'whole-parallax.safetensors')]);
    const tc = useTorch ? torchForwardCommand(join(dir, 'transformer'), inPath, join(dir, 'whole-torch.safetensors'), ['--repeats', '0', '--no-describe'], torchThreads) : null;
    if (tc && 'error' in tc) console.log(`  whole command: torch ${tc.error}`);
    const th = tc && !('error' in tc) ? () => timeCommand(tc.python, tc.args, tc.env) : null;
    const out: WholeCommand = { parallax: { firstS: px(), runs: [] }, loadavg: os.loadavg()[0]! };
    if (th) out.torch = { firstS: th(), runs: [] };
    console.log(`  whole command, first run: parallax forward ${out.parallax.firstS.toFixed(2)} s${out.torch ? `, torch ${out.torch.firstS.toFixed(2)} s` : ''}`);
    for (let i = 0; i < runs; i++) {
      out.parallax.runs.push(px());
      if (th) out.torch!.runs.push(th());
      console.log(`  whole command, run ${i + 1}: parallax forward ${out.parallax.runs.at(-1)!.toFixed(2)} s${th ? `, torch ${out.torch!.runs.at(-1)!.toFixed(2)} s` : ''}`);
    }
    out.loadavg = (out.loadavg + os.loadavg()[0]!) / 2;
    return out;
  })();
}

/** Median over rounds of a[i] / b[i] (runs made back to back, so each ratio sees one machine load). */
function roundRatio(a: number[], b: number[]): number | undefined {
  const n = Math.min(a.length, b.length);
  return n ? median(Array.from({ length: n }, (_, i) => a[i]! / b[i]!)) : undefined;
}

/** max |gpu - ref| / max |ref|. */
function maxRelError(gpu: Float32Array, ref: Float32Array): number {
  if (gpu.length !== ref.length) throw new Error(`output sizes differ: GPU ${gpu.length} values, torch ${ref.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(gpu[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  return err / scale;
}

for (const cname of configNames) {
  const cfg = CONFIGS[cname]!;
  const dir = await mkdtemp(join(os.tmpdir(), `parallax-bench-${cname}-`));
  try {
    console.log(`\n[${cname}] ${cfg.describe}: writing checkpoint to ${dir}`);
    await makeTinyCheckpoint(dir, { transformer: cfg.transformer });
    const ckpt = await openCheckpoint(dir);
    const model = await VchitectTransformer.load(device, ckpt.transformer, { dtype: 'f32' });
    const { jointAttentionDim: J, pooledProjectionDim: Pd, inChannels } = model.dims;
    const sizes = userSizes ?? cfg.sizes ?? DEFAULT_SIZES;
    const T = cfg.textTokens ?? TEXT_TOKENS;
    for (const [F, Hl, Wl] of sizes) {
      const rng = new SeededRandom(F * 1000 + Hl);
      const inp: ForwardInputs = {
        hidden: { shape: [1, F, inChannels, Hl, Wl], data: rng.normals(F * inChannels * Hl * Wl) },
        context: { shape: [1, T, J], data: rng.normals(T * J) },
        pooled: { shape: [1, Pd], data: rng.normals(Pd) },
        timestep: TIMESTEP,
      };
      const hidden = Tensor.from(device, inp.hidden.data, inp.hidden.shape, 'f32', 'latents');
      const context = Tensor.from(device, inp.context.data, inp.context.shape, 'f32', 'context');
      const pooled = Tensor.from(device, inp.pooled.data, inp.pooled.shape, 'f32', 'pooled');
      const forward = () => model.forward({ hidden, timestep: inp.timestep, context, pooled });
      // One forward with counters and the peak measured from here; its output is compared with torch.
      const d0 = device.counters.dispatches;
      device.pool.resetPeak();
      const v = forward();
      const gpuOut = await v.read();
      v.dispose();
      const dispatches = device.counters.dispatches - d0;
      const fwdPeakMB = device.pool.stats.peakBytes / MB;
      // The first forward above was the warm-up (pipelines compiled); PyTorch's warm-up runs in its process start.
      const tp = useTorch ? await startTorchForward(join(dir, 'transformer'), dir, inp, torchThreads) : null;
      if (tp && 'error' in tp) {
        torchNote = tp.error;
        console.log(`  torch: ${tp.error}`);
      }
      const times = await alternate(async () => {
        const t0 = performance.now();
        const o = forward();
        await device.sync();
        o.dispose();
        return (performance.now() - t0) / 1000;
      }, tp && !('error' in tp) ? () => tp.run() : null, 20);
      [hidden, context, pooled].forEach((t) => t.dispose());
      const L = (Hl / 2) * (Wl / 2);
      const row: Row = {
        config: cname, size: `${F}x${Hl}x${Wl} (${Wl * VAE_SCALE}x${Hl * VAE_SCALE} px)`, tokens: `${F}x(${L}+${T})`,
        gpuFwdS: Math.min(...times.gpu), gpuMedianS: median(times.gpu), gpuRuns: times.gpu, dispatches, fwdPeakMB, torch: null,
      };
      console.log(`  ${row.size}: GPU ${row.gpuFwdS.toFixed(3)} s/forward (best; median ${row.gpuMedianS.toFixed(3)}), ${dispatches} dispatches, peak ${fwdPeakMB.toFixed(1)} MiB`);
      if (tp && !('error' in tp)) {
        tp.close();
        torchDescribe = tp.describe;
        row.torch = { bestS: Math.min(...times.torch), medianS: median(times.torch), runs: times.torch };
        row.maxRelErr = maxRelError(gpuOut, tp.velocity);
        console.log(`  torch ${row.torch.bestS.toFixed(3)} s/forward (best; median ${row.torch.medianS.toFixed(3)}), max rel error ${row.maxRelErr.toExponential(2)}`);
        console.log(`  ${torchDescribe}`);
      }
      if (cfg.wholeCommand) row.whole = await wholeCommands(dir, inp, wholeRuns);
      rows.push(row);
    }
    model.dispose();
    await ckpt.close();

    if (usePipeline && !cfg.noPipeline) {
      // A full short generation with CFG (2 forwards per step) through the gpu backend, per size.
      const gckpt = await openCheckpoint(dir);
      const backend = await GpuBackend.create(gckpt, { device, dtype: 'f32' });
      const pipe = new TextToVideoPipeline(backend);
      const genRows = rows.filter((r) => r.config === cname);
      for (const [i, [F, Hl, Wl]] of sizes.entries()) {
        const gen = () => pipe.generate({ prompt: 'a red fox running through snow', frames: F, width: Wl * VAE_SCALE, height: Hl * VAE_SCALE, steps, guidance: 7.5, seed: 42 });
        // Warm-up once per config at the smallest shape: compiles the text encoders', transformer's and VAE's pipelines.
        if (i === 0) await pipe.generate({ prompt: 'warm-up', frames: 1, width: VAE_SCALE * Math.min(...sizes.map((z) => z[2])), height: VAE_SCALE * Math.min(...sizes.map((z) => z[1])), steps: 1, guidance: 7.5, seed: 1 });
        device.pool.resetPeak();
        const r = await gen();
        const t = r.timings;
        genRows[i]!.gen = {
          textS: t.textEncodeMs / 1000, denoiseS: t.denoiseMs / 1000, decodeS: t.decodeMs / 1000,
          stepS: median(t.stepMs) / 1000, peakMB: (r.peakMemoryBytes ?? 0) / MB,
        };
        console.log(`  generate ${F}x${Hl}x${Wl}, ${steps} steps: text ${genRows[i]!.gen!.textS.toFixed(2)} s, denoise ${genRows[i]!.gen!.denoiseS.toFixed(2)} s, decode ${genRows[i]!.gen!.decodeS.toFixed(2)} s`);
      }
      await pipe.dispose();
      await gckpt.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const f = (x: number | undefined, d = 3) => (x === undefined ? '–' : x.toFixed(d));
const shownArgs = args.argv.filter((x) => x !== '--no-write');
const cmd = `npm run bench:model${shownArgs.length ? ` -- ${shownArgs.join(' ')}` : ''}`;
const lines: string[] = [];
lines.push(`Command: \`${cmd}\` — ${new Date().toISOString().slice(0, 10)}`);
lines.push('');
lines.push(`Adapter: ${a.vendor} / ${a.architecture} / ${a.description} (${a.backend}). CPU: ${cpuModel}. 1-min load average ${loadStart.toFixed(1)} at start, ${os.loadavg()[0]!.toFixed(1)} at end (other processes share the CPU: on a CPU adapter both columns are sensitive to it).`);
lines.push(`Configs: ${configNames.map((c) => `**${c}** = ${CONFIGS[c]!.describe}`).join('; ')}. Weights: make-tiny seeded random (f32), tiny text encoders and VAE. Text: T = ${TEXT_TOKENS} tokens unless the config says otherwise.`);
lines.push(`PyTorch peer: ${torchDescribe ? `${torchDescribe}; CPU float32, bench/torch_vchitect.py (the spec's transformer written independently in torch, same safetensors weights and inputs), its warm forwards alternated with the GPU's in the same run` : `(${torchNote ?? 'disabled (--no-torch)'})`}.`);
lines.push('GPU s/fwd and PyTorch s/fwd: best wall time of 3-5 warm forwards, alternated GPU / PyTorch round by round (GPU: submit to completion). Max rel err = max|GPU - torch| / max|torch| over the velocity output.');
lines.push(`Generation: TextToVideoPipeline with the gpu backend, ${steps} steps, guidance 7.5 (CFG: 2 forwards per step, plus host transfers), after one warm-up generation; s/step is the median step.`);
lines.push('Peak MiB = device.pool.stats.peakBytes: all live GPU buffers (weights included) from just before the measured call to its end.');
lines.push('');
lines.push('| config | latent FxHxW | tokens F x (L+T) | GPU s/fwd | dispatches/fwd | fwd peak MiB | PyTorch CPU s/fwd | PyTorch / GPU | max rel err | gen s/step (2 fwd) | text-encode s | denoise s | decode s | gen peak MiB |');
lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const t = r.torch?.bestS;
  lines.push(`| ${r.config} | ${r.size} | ${r.tokens} | ${f(r.gpuFwdS)} | ${r.dispatches} | ${f(r.fwdPeakMB, 1)} | ${f(t)} | ${t ? `${f(t / r.gpuFwdS, 2)}x` : '–'} | ${r.maxRelErr === undefined ? '–' : r.maxRelErr.toExponential(1)} | ${f(r.gen?.stepS)} | ${f(r.gen?.textS, 2)} | ${f(r.gen?.denoiseS, 2)} | ${f(r.gen?.decodeS, 2)} | ${f(r.gen?.peakMB, 1)} |`);
}
lines.push('');
const wholeRows = rows.filter((r) => r.whole);
if (wholeRows.length) {
  const best = (xs: number[] | undefined) => (xs?.length ? Math.min(...xs) : undefined);
  lines.push(`Whole commands (process start to exit, best of ${wholeRuns} alternated runs after one first run each; the first Parallax run of a new shader set also compiles pipelines, which Mesa then caches): \`./bin/parallax forward --model DIR --dtype f32 --inputs IN --out OUT\` against \`python3 bench/torch_vchitect.py DIR/transformer IN OUT --repeats 0\` (load the weights, one forward, write the output), the same checkpoint and inputs file. Warm forward = the best in-process forward above.`);
  lines.push('');
  lines.push('| config | latent FxHxW | parallax forward s (first run) | parallax forward s (best) | PyTorch command s (best) | whole-command ratio: of bests / median per round | GPU warm s/fwd | PyTorch warm s/fwd | warm ratio: of bests / median per round | load avg |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of wholeRows) {
    const w = r.whole!;
    const px = best(w.parallax.runs);
    const th = best(w.torch?.runs);
    const tw = r.torch?.bestS;
    const wholeRound = w.torch ? roundRatio(w.parallax.runs, w.torch.runs) : undefined;
    const warmRound = r.torch ? roundRatio(r.gpuRuns, r.torch.runs) : undefined;
    lines.push(`| ${r.config} | ${r.size} | ${f(w.parallax.firstS, 2)} | ${f(px, 2)} | ${f(th, 2)} | ${px && th ? `${f(px / th, 2)}x / ${f(wholeRound, 2)}x` : '–'} | ${f(r.gpuFwdS)} | ${f(tw)} | ${tw ? `${f(r.gpuFwdS / tw, 2)}x / ${f(warmRound, 2)}x` : '–'} | ${w.loadavg.toFixed(1)} |`);
  }
  lines.push('');
  lines.push('Ratios here are Parallax time / PyTorch time (issue 9 targets: whole command <= 2x, warm forward <= 3x); "median per round" is the median of the ratios of runs made back to back, steadier than the ratio of bests when the machine\'s load drifts.');
  lines.push('');
}
lines.push('The real-size run (`npm run bench:model -- --config 2b --frames 40 --width 768 --height 432 --steps 1`, random f32 weights of the 2B transformer shape (D=1536, 24 layers, M=192; the small make-tiny text encoders and VAE, so joint_attention_dim is 96, not 4096), a ~10 GB checkpoint written to the temp dir; add `--no-torch` to skip the hours-long CPU forward) is implemented but needs a real GPU: it was not run on this CPU adapter (it would take hours). `npm run bench:gpu` runs the 2B forward without writing the file.');
const table = lines.join('\n');
console.log(`\n${table}\n`);

if (noWrite && !flag('no-write')) console.log('--only: docs/benchmarks.md left as it is.');
if (!noWrite) {
  const path = new URL('../docs/benchmarks.md', import.meta.url);
  const start = '<!-- bench:model:start -->';
  const end = '<!-- bench:model:end -->';
  let doc = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const block = `${start}\n${table}\n${end}`;
  doc = doc.includes(start) ? doc.replace(new RegExp(`${start}[\\s\\S]*?${end}`), () => block) : `${doc}\n## Whole model (Vchitect transformer and pipeline)\n\n${block}\n`;
  writeFileSync(path, doc);
  console.log('Wrote docs/benchmarks.md');
}
device.destroy();
process.exit(0);
