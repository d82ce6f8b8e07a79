// `parallax serve`: the job server with the web app. Builds one Generator per GPU group (createGenerators: the
// engine's PipelineGenerator with --model or, without it, the default model (engine/io/default-model.ts: the trained
// models/shapes or $PARALLAX_MODEL) — the parallel engine on groups of several GPUs —, FakeGenerator with --fake or
// when there is no model at all), publishes the model's card in /api/config, serves client/dist (building it if
// missing), exposes the checkpoint folder read-only for in-browser inference, and prints a ready-to-click URL.

import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { displayPath, MODEL_ENV, readModelCard, resolveDefaultModel, TRAIN_HINT } from '../../engine/io/default-model.js';
import type { ModelCard } from '../../engine/io/model-card.js';
import { layoutName } from '../../engine/parallel/parallel-backend.js';
import type { ParallelLayout } from '../../engine/parallel/parallel-transformer.js';
import { measurePeaks } from '../../bench/peak.js';
import { FakeGenerator } from '../../server/fake-generator.js';
import { groupLayout, PipelineGenerator } from '../../server/pipeline-generator.js';
import type { Generator } from '../../server/generator.js';
import type { LogLevel } from '../../server/logger.js';
import { serve } from '../../server/serve.js';

const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const CLIENT_DIST = fileURLToPath(new URL('../../client/dist/', import.meta.url));

export interface GeneratorOptions {
  /** Checkpoint folder (Vchitect-2.0 diffusers layout), or undefined for the fake generator. */
  model?: string;
  /** Device indices per GPU group, e.g. [[0], [1]] for two single-GPU groups or [[0, 1]] for one 2-GPU group. */
  groups: number[][];
  /** Use FakeGenerator even when a model is given. */
  fake: boolean;
  /** FakeGenerator speed (ms per denoising step). */
  fakeMsPerStep: number;
  /** GPU compute dtype of the engine. */
  dtype?: 'f32' | 'f16';
  /** Sequence-parallel size of every multi-GPU group (default: see resolveLayout). */
  sp?: number;
  /** CFG branches on different GPUs in every multi-GPU group (default: when the group has an even GPU count). */
  cfgParallel?: boolean;
  /** Profile every job into its folder (profile.txt, trace.json); one-GPU groups only. */
  profile?: boolean;
}

/**
 * One Generator per GPU group: the engine (PipelineGenerator: its own device, or the parallel engine with one rank per
 * GPU on a group of several; model kept loaded between jobs) when a model is given, else FakeGenerator (placeholder
 * MP4 + PNG frames, real latent-preview images) for UI work. Impossible layouts and bad checkpoints fail here.
 */
export async function createGenerators(opts: GeneratorOptions): Promise<{ generators: Generator[]; kind: 'fake' | 'engine'; layouts: (ParallelLayout | undefined)[]; note?: string }> {
  if ((opts.sp !== undefined || opts.cfgParallel !== undefined) && opts.groups.every((g) => g.length === 1)) {
    throw new Error('--sp and --cfg-parallel apply to groups of several GPUs, and --devices has none: group GPUs with "+", e.g. --devices 0+1');
  }
  // Every group's layout, checked also with --fake so a bad flag fails the same way everywhere.
  const labels = opts.groups.map((g, i) => `group${i}[${g.join('+')}]`);
  const layouts = opts.groups.map((g, i) => groupLayout(labels[i]!, g, opts));
  if (opts.fake || !opts.model) {
    if (opts.profile) throw new Error('--profile times the engine\'s GPU work: it needs --model DIR (not --fake)');
    const generators = opts.groups.map(() => new FakeGenerator({ msPerStep: opts.fakeMsPerStep, scale: 4, maxFrameFiles: 120 }));
    return { generators, kind: 'fake', layouts, note: opts.fake ? undefined : 'no --model given: using the FakeGenerator (placeholder videos)' };
  }
  const engines = opts.groups.map((g, i) => new PipelineGenerator({ model: opts.model!, dtype: opts.dtype, label: labels[i], devices: g, sp: opts.sp, cfgParallel: opts.cfgParallel, profile: opts.profile ? { measurePeaks } : undefined }));
  // Load every group now, concurrently, so a bad checkpoint or GPU index fails at start and no group's first job
  // waits for the weights. Any SP size works: one that does not divide the head count all-gathers K/V.
  const loads = await Promise.allSettled(engines.map((e) => e.load()));
  const failed = loads.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.allSettled(engines.map((e) => e.dispose()));
    throw failed.reason;
  }
  return { generators: engines, kind: 'engine', layouts };
}

/** The model `serve` runs: the folder, its card, and a line for the start log saying which and why. */
export interface ServeModel {
  /** Checkpoint folder, or undefined for the FakeGenerator. */
  model?: string;
  card: ModelCard | null;
  /** One line for the start log: which model (or the fake generator) and why. */
  describe: string;
}

/**
 * --model DIR as given; --fake: none; neither: the default model ($PARALLAX_MODEL, else the trained models/shapes)
 * when there is one, else none (the FakeGenerator) with the reason and how to get the trained model. The card is
 * read from the model folder either way (parallax-card.json; none is fine).
 */
export async function resolveServeModel(o: { model?: string; fake?: boolean }, env: NodeJS.ProcessEnv = process.env): Promise<ServeModel> {
  if (o.fake) return { card: null, describe: 'Model: none (--fake: FakeGenerator, placeholder videos)' };
  const named = (dir: string, card: ModelCard | null) => `${displayPath(dir)}${card ? ` (${card.name}: recommended ${card.recommended.width}x${card.recommended.height}, ${card.recommended.frames} frames, ${card.recommended.steps} steps)` : ''}`;
  if (o.model) {
    const card = await readModelCard(o.model);
    return { model: o.model, card, describe: `Model: ${named(o.model, card)} (--model)` };
  }
  const found = await resolveDefaultModel({ env });
  if (!found.model) {
    return { card: null, describe: `Model: none, so the FakeGenerator (placeholder videos): no --model given and ${found.reason}; ${TRAIN_HINT}, or pass --model DIR` };
  }
  const { dir, source, card } = found.model;
  return { model: dir, card, describe: `Model: ${named(dir, card)} (the default model${source === 'env' ? `, from $${MODEL_ENV}` : ''}; --model DIR serves another, --fake none)` };
}

/** Compiles every engine group's kernels before the first job; a failure is reported, not fatal (jobs then compile). */
export async function warmGenerators(engines: PipelineGenerator[], print: (s: string) => void): Promise<void> {
  print(`Warming kernels on ${engines.length} group(s) (--no-warm skips)…`);
  const r = await Promise.allSettled(engines.map((e) => e.warm()));
  r.forEach((x, i) => print(x.status === 'fulfilled'
    ? `${engines[i]!.label}: kernels ready in ${(x.value / 1000).toFixed(1)} s`
    : `${engines[i]!.label}: warm-up failed (${x.reason instanceof Error ? x.reason.message : String(x.reason)}); the first job compiles its kernels`));
}

/** "0, 1+2 (sp1-cfg2)": each group's GPUs and, for a multi-GPU group, its parallel layout. */
export function describeGroups(groups: number[][], layouts: (ParallelLayout | undefined)[]): string {
  return groups.map((g, i) => g.join('+') + (layouts[i] ? ` (${layoutName(layouts[i])})` : '')).join(', ');
}

/**
 * Parses --devices: "0,1" = two groups of one GPU; "0+1,2+3" = two groups of two GPUs; "2" alone = GPU 2. A GPU may
 * appear in one group only; repeating it inside a group (several ranks on one adapter) needs allowSharedGpu.
 */
export function parseDevices(spec: string, opts: { allowSharedGpu?: boolean } = {}): number[][] {
  const groups = spec.split(',').map((g) => g.trim()).filter(Boolean).map((g) => g.split('+').map((d) => d.trim()));
  if (groups.length === 0) throw new Error(`--devices ${JSON.stringify(spec)}: expected GPU indices like "0", "0,1" (two groups) or "0+1,2+3" (two groups of two)`);
  const groupOf = new Map<number, number>();
  return groups.map((g, gi) =>
    g.map((d) => {
      if (!/^\d{1,3}$/.test(d)) throw new Error(`--devices ${JSON.stringify(spec)}: "${d}" is not a GPU index (expected e.g. "0,1" or "0+1,2+3")`);
      const n = Number(d);
      const prev = groupOf.get(n);
      if (prev !== undefined && prev !== gi) {
        throw new Error(`--devices ${JSON.stringify(spec)}: GPU ${n} is listed twice, in two groups; a GPU serves one group (--allow-shared-gpu only allows repeating a GPU inside one group)`);
      }
      if (prev === gi && !opts.allowSharedGpu) {
        throw new Error(`--devices ${JSON.stringify(spec)}: GPU ${n} is listed twice in group ${g.join('+')}; pass --allow-shared-gpu to run several ranks on one adapter (for testing on one GPU or a CPU adapter such as lavapipe)`);
      }
      groupOf.set(n, gi);
      return n;
    }),
  );
}

/** Makes sure client/dist exists: builds it with Vite when possible, else says how. Returns the folder or null. */
export async function ensureClientBuilt(dir: string, print: (s: string) => void): Promise<string | null> {
  if (existsSync(join(dir, 'index.html'))) return dir;
  print(`Web app not built (${join(dir, 'index.html')} missing): building it now…`);
  try {
    const vite = await import('vite');
    // logLevel 'error': the bundler's warnings about engine modules the browser build leaves out are expected and
    // not the user's concern; a failed build still throws and is reported below.
    await vite.build({ configFile: fileURLToPath(new URL('../../client/vite.config.ts', import.meta.url)), logLevel: 'error', build: { outDir: dir, emptyOutDir: true } });
    return dir;
  } catch (err) {
    print(`Could not build the web app (${err instanceof Error ? err.message.split('\n')[0] : String(err)}). Run \`npm run build:client\`, then restart. The API works without it.`);
    return null;
  }
}

interface ServeCliOptions {
  model?: string;
  port: string;
  host: string;
  dataDir: string;
  token?: string;
  devices: string;
  sp?: string;
  cfgParallel?: boolean;
  allowSharedGpu?: boolean;
  fake?: boolean;
  fakeMsPerStep: string;
  dtype: 'f32' | 'f16';
  static?: string;
  cors?: string[];
  allowedHosts?: string[];
  logLevel: string;
  profile?: boolean;
  warm: boolean;
  maxFrames?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the job server and the web app (queue, live previews, gallery; long videos per job: long = clip-parallel | dualparal, a DualParal job playing while its MP4 grows)')
    .option('--model <dir>', `Vchitect-2.0 checkpoint folder (also exposed read-only at /api/model/ for in-browser inference); default: the trained shapes model in models/shapes (or $${MODEL_ENV}) when there, else the FakeGenerator`)
    .option('--port <n>', 'port (0 = any free port)', '8080')
    .option('--host <addr>', 'listen address (reads are open to whoever can reach it: keep 127.0.0.1 unless behind a proxy)', '127.0.0.1')
    .option('--data-dir <dir>', 'database, token and job outputs', process.env.PARALLAX_DATA_DIR ?? join(homedir(), '.parallax'))
    .option('--token <token>', 'API bearer token (default: $PARALLAX_TOKEN, else <data-dir>/token, generated on first start)')
    .option('--devices <list>', 'GPU groups, one job queue each: "0" one GPU, "0,1" two groups, "0+1,2+3" two groups of two (a group of several GPUs runs the parallel engine, one rank per GPU)', '0')
    .option('--sp <n>', 'sequence-parallel size of each multi-GPU group (default: GPUs / 2 with CFG-parallel, else all of them; Ulysses when it divides the attention heads, else an all-gather of K/V)')
    .option('--cfg-parallel', 'multi-GPU groups put the conditional and unconditional passes on different GPUs (default when a group has an even GPU count)')
    .option('--no-cfg-parallel', 'multi-GPU groups use every GPU for sequence parallelism')
    .option('--allow-shared-gpu', 'allow a GPU index repeated inside one group: several ranks on one adapter (for testing on one GPU or a CPU adapter such as lavapipe)')
    .option('--fake', 'use the FakeGenerator (no GPU, placeholder videos) even when there is a model; the fallback when there is none')
    .option('--fake-ms-per-step <ms>', 'FakeGenerator speed', '60')
    .addOption(new Option('--dtype <dtype>', 'engine compute dtype (f16 needs shader-f16)').choices(['f32', 'f16']).default('f32'))
    .option('--static <dir>', 'web app folder to serve', CLIENT_DIST)
    .option('--cors <origin...>', 'extra browser origins allowed (e.g. http://localhost:5173 for `npm run dev:client`)')
    .option('--allowed-hosts <name...>', 'host names the server answers besides localhost, IP addresses and --host (DNS-rebinding protection): "studio.lan", ".example.com" for a domain and its subdomains, "all" to turn the check off')
    .option('--log-level <level>', 'silent, error, warn, info, debug', 'warn')
    .option('--profile', 'profile every job (one-GPU groups): per-op table profile.txt and Chrome trace trace.json (GPU timestamps, host spans) in the job\'s folder')
    .option('--max-frames <n>', 'largest `frames` a job may ask for (default 120; raise it for long videos)')
    .option('--no-warm', 'skip compiling the kernels at start (a 1-step generation at the smallest size); the first job then compiles them')
    .addHelpText('after', `
Long videos (docs/long-video.md, docs/server.md): a job asks for one in its request, as generate --long does, and runs
on its GPU group: {"long": "dualparal", "frames": 36, "block_frames": 8, "context_frames": 4} (frames = n*B + C; the
group's GPUs split the transformer's layers: progress per block, GET /api/jobs/<id>/stream serves the MP4 while it
grows) or {"long": "clip-parallel", "dual_scope": "window=8,top-k=16"} (one clip per GPU of the group). Options that
do not fit are refused with generate's message; --max-frames raises the 120-frame limit. Test on one adapter:
--devices 0+0 --allow-shared-gpu.`)
    .action(async (o: ServeCliOptions) => {
      const print = (s: string) => console.log(s);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port ${o.port}: expected an integer 0..65535`);
      if (o.model && !(existsSync(o.model) && statSync(o.model).isDirectory())) throw new Error(`--model ${o.model}: not a folder; pass the checkpoint folder (with model_index.json)`);
      if (!LOG_LEVELS.includes(o.logLevel as LogLevel)) throw new Error(`--log-level ${o.logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
      const msPerStep = Number(o.fakeMsPerStep);
      if (!Number.isFinite(msPerStep) || msPerStep < 0) throw new Error(`--fake-ms-per-step ${o.fakeMsPerStep}: expected a number of milliseconds >= 0`);
      const sp = o.sp === undefined ? undefined : Number(o.sp);
      if (sp !== undefined && !(Number.isInteger(sp) && sp >= 1)) throw new Error(`--sp ${o.sp}: expected a positive integer (a divisor of the model's attention heads)`);
      const maxFrames = o.maxFrames === undefined ? undefined : Number(o.maxFrames);
      if (maxFrames !== undefined && !(Number.isInteger(maxFrames) && maxFrames >= 1)) throw new Error(`--max-frames ${o.maxFrames}: expected a positive integer`);
      const groups = parseDevices(o.devices, { allowSharedGpu: !!o.allowSharedGpu });
      const served = await resolveServeModel(o);
      print(served.describe);
      const { generators, kind, layouts } = await createGenerators({ model: served.model, groups, fake: !!o.fake, fakeMsPerStep: msPerStep, dtype: o.dtype, sp, cfgParallel: o.cfgParallel, profile: !!o.profile });
      if (kind === 'engine' && o.warm) await warmGenerators(generators as PipelineGenerator[], print);
      const staticDir = o.static === CLIENT_DIST ? await ensureClientBuilt(CLIENT_DIST, print) : resolve(o.static ?? CLIENT_DIST);
      const server = await serve({
        dataDir: o.dataDir,
        generators,
        port,
        host: o.host,
        token: o.token,
        staticDir: staticDir ?? undefined,
        modelDir: served.model,
        modelCard: served.card,
        corsOrigins: o.cors,
        allowedHosts: o.allowedHosts,
        logLevel: o.logLevel as LogLevel,
        ...(maxFrames !== undefined && { limits: { maxFrames } }),
        print,
      });
      print(`Generator: ${kind === 'fake' ? 'FakeGenerator (placeholder videos)' : 'engine'} on ${groups.length} group(s): ${describeGroups(groups, layouts)}`);
      if (staticDir) print(`Open the app: ${server.url}/#token=${encodeURIComponent(server.token)}`);
    });
}
