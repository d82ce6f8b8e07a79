// Parallel text-to-video generation: the layout rules (how many ranks, which SP x CFG split), one rank's pipeline
// (ParallelBackend under the ordinary TextToVideoPipeline, so every rank runs the same code), and
// InProcessParallelPipeline, which drives N ranks (one GPU device each) from this process and stays loaded between
// generations (used by `generate --transport inprocess` and by `serve` for GPU groups). The shared-memory and
// socket runners (engine/parallel/rank-runners.ts) use the same rank pipeline.
import { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure, DistError, errorText } from '../distributed/errors.js';
import { createInProcessWorld, type InProcessTransport } from '../distributed/inprocess.js';
import type { DType } from '../dtype.js';
import { Device } from '../gpu/device.js';
import { openCheckpoint, type Checkpoint } from '../io/checkpoint.js';
import type { FileStore } from '../io/file-store.js';
import { randomSeed } from '../pipeline/generate-options.js';
import { TextToVideoPipeline, type GenerateOptions, type GenerateResult } from '../pipeline/text-to-video.js';
import { ParallelBackend } from './parallel-backend.js';
import type { DualScopeOptions } from './clip-layout.js';
import { checkLayout, type ParallelLayout } from './parallel-transformer.js';

/** Receive timeout of generation worlds: long enough for a rank to stream T5-XXL while the others wait (ms). */
export const GENERATION_TIMEOUT_MS = 10 * 60_000;

export interface LayoutRequest {
  /** Ranks (GPUs) in the world. */
  ranks: number;
  /** Sequence-parallel size; default: all ranks of a CFG branch. */
  sp?: number;
  /** true: CFG branches on different ranks; false: not; undefined: on when the rank count is even and CFG is on. */
  cfgParallel?: boolean;
  /** The generation's guidance (CFG is on when > 1); only used for the default. */
  guidance?: number;
  /** Long-video strategy: 'clip-parallel' = one clip of frames per rank with dual-scope attention (no SP, no CFG split). */
  long?: LongStrategy;
  /** Dual-scope attention options of clip parallelism (defaults: spec parallel.md section 2). */
  dualScope?: Partial<DualScopeOptions>;
}

export type LongStrategy = 'clip-parallel';

/** Picks and checks the { sp, cfg } layout for a world; errors say which values would work. */
export function resolveLayout(r: LayoutRequest): ParallelLayout {
  const { ranks } = r;
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`parallel layout: need at least one rank, got ${ranks}`);
  if (r.long !== undefined) {
    if ((r.long as string) === 'dualparal') throw new Error('--long dualparal has no SP x CFG layout: it runs through engine/parallel/dualparal-generate.ts (generate --long dualparal)');
    if (r.long !== 'clip-parallel') throw new Error(`--long ${String(r.long)}: the long-video strategies are: clip-parallel, dualparal`);
    if (r.cfgParallel === true) throw new Error('--long clip-parallel puts one clip of frames on each GPU and runs both CFG branches there: drop --cfg-parallel');
    if (r.sp !== undefined && r.sp !== 1) throw new Error(`--long clip-parallel does not combine with sequence parallelism: drop --sp ${r.sp}`);
    const layout: ParallelLayout = { sp: 1, cfg: 1, clip: { clips: ranks, ...r.dualScope } };
    checkLayout(layout, ranks);
    return layout;
  }
  const cfgOn = (r.guidance ?? 2) > 1;
  let cfg: 1 | 2;
  if (r.cfgParallel === true) {
    if (ranks % 2 !== 0) throw new Error(`--cfg-parallel puts the conditional and unconditional passes on different GPUs, so it needs an even number of GPUs; got ${ranks}`);
    if (!cfgOn) throw new Error('--cfg-parallel needs classifier-free guidance (--guidance > 1): with guidance <= 1 there is no unconditional pass');
    cfg = 2;
  } else if (r.cfgParallel === false) cfg = 1;
  else cfg = cfgOn && ranks % 2 === 0 && (r.sp === undefined || r.sp * 2 === ranks) ? 2 : 1;
  const sp = r.sp ?? ranks / cfg;
  if (sp * cfg !== ranks) {
    const hint = cfg === 2 ? `with --cfg-parallel, --sp must be ${ranks / 2}` : `--sp must be ${ranks} (or ${ranks / 2} with --cfg-parallel)`;
    throw new Error(`--sp ${sp}${cfg === 2 ? ' with --cfg-parallel' : ''} does not fit ${ranks} GPU(s): ${hint}`);
  }
  const layout: ParallelLayout = { sp, cfg };
  checkLayout(layout, ranks);
  return layout;
}

export interface RankPipelineOptions {
  layout: ParallelLayout;
  dtype?: DType;
}

/** One rank: a TextToVideoPipeline over a ParallelBackend (collective: every rank of `world` calls it). */
export async function createRankPipeline(world: ProcessGroup, device: Device, model: string | FileStore, o: RankPipelineOptions): Promise<TextToVideoPipeline & { backend: ParallelBackend }> {
  const ckpt: Checkpoint = await openCheckpoint(model);
  try {
    const backend = await ParallelBackend.create(world, device, ckpt, { layout: o.layout, dtype: o.dtype });
    return new TextToVideoPipeline(backend, { checkpoint: ckpt }) as TextToVideoPipeline & { backend: ParallelBackend };
  } catch (e) {
    await ckpt.close();
    abortOnLocalFailure(world.transport, `loading the model on rank ${world.rank}`, e);
    throw e; // the loader's own error (e.g. naming the bad file) is what the caller sees
  }
}

/**
 * Runs one generation on one rank. Every rank must pass the same options (seed included; checked). onStep is only
 * called on rank 0. With a signal, the ranks agree at every step boundary whether to stop (one tiny all-reduce), so
 * a cancellation ends every rank at the same step with an AbortError and leaves the world usable.
 */
export async function generateOnRank(pipe: TextToVideoPipeline & { backend: ParallelBackend }, o: GenerateOptions): Promise<GenerateResult> {
  const b = pipe.backend;
  const { signal, onStep, ...rest } = o;
  if (rest.seed === undefined) throw new Error('parallel generation needs an explicit seed (every rank must draw the same noise)');
  return pipe.generate({
    ...rest,
    onStep: async (s) => {
      if (b.rank === 0) await onStep?.(s);
      if (signal && (await b.agreeStop(signal.aborted))) {
        throw signal.aborted ? signal.reason : new DOMException('cancelled on another rank', 'AbortError');
      }
    },
  });
}

/** Adapter per rank: `devices[r]` when given, else adapter 0 for every rank (several devices on one adapter). */
export async function openRankDevices(devices: readonly number[]): Promise<Device[]> {
  const out: Device[] = [];
  try {
    for (let r = 0; r < devices.length; r++) out.push(await Device.create({ adapterIndex: devices[r], label: `rank${r}` }));
  } catch (e) {
    out.forEach((d) => d.destroy());
    throw e;
  }
  return out;
}

export interface InProcessParallelOptions {
  /** Adapter index of each rank's device (repeat an index to put several ranks on one adapter). */
  devices: readonly number[];
  layout: ParallelLayout;
  dtype?: DType;
  /** Receive timeout of the world (ms, default GENERATION_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** N ranks in this process over the in-process transport, one device each; reusable across generations. */
export class InProcessParallelPipeline {
  private broken: Error | null = null;

  private constructor(
    readonly opts: InProcessParallelOptions,
    private readonly devices: Device[],
    private readonly transports: InProcessTransport[],
    readonly ranks: (TextToVideoPipeline & { backend: ParallelBackend })[],
  ) {}

  static async create(model: string | FileStore, opts: InProcessParallelOptions): Promise<InProcessParallelPipeline> {
    checkLayout(opts.layout, opts.devices.length);
    const devices = await openRankDevices(opts.devices);
    const transports = createInProcessWorld(devices.length, { timeoutMs: opts.timeoutMs ?? GENERATION_TIMEOUT_MS });
    const loaded: (TextToVideoPipeline & { backend: ParallelBackend })[] = [];
    try {
      const ranks = await allRanks(transports, async (t, r) => {
        const p = await createRankPipeline(ProcessGroup.world(t), devices[r]!, model, opts);
        loaded.push(p);
        return p;
      });
      return new InProcessParallelPipeline(opts, devices, transports, ranks);
    } catch (e) {
      // the ranks that did load release their weights and checkpoint files before the devices go
      await Promise.allSettled(loaded.map((p) => p.dispose()));
      devices.forEach((d) => d.destroy());
      throw e;
    }
  }

  /** The backend of rank 0 (model info, weights report, memory). */
  get backend(): ParallelBackend {
    return this.ranks[0]!.backend;
  }

  get checkpoint(): Checkpoint {
    return this.ranks[0]!.checkpoint!;
  }

  /** Rank 0's result (every rank computed the same latents and video). */
  async generate(o: GenerateOptions): Promise<GenerateResult> {
    if (this.broken) throw new Error(`this parallel pipeline failed earlier and must be recreated: ${this.broken.message}`);
    const seed = o.seed ?? randomSeed();
    try {
      const results = await allRanks(this.transports, (_, r) => generateOnRank(this.ranks[r]!, { ...o, seed }), o.signal);
      // Invariant of the SPMD design: every rank took bit-identical Euler steps.
      const ref = new Uint8Array(results[0]!.latents.data.buffer);
      results.forEach((res, r) => {
        const b = new Uint8Array(res.latents.data.buffer);
        if (b.length !== ref.length || b.some((x, i) => x !== ref[i])) throw new Error(`internal error: rank ${r}'s latents differ from rank 0's`);
      });
      return results[0]!;
    } catch (e) {
      if (!isCancellation(e, o.signal)) this.broken = e as Error;
      throw e;
    }
  }

  /** Per-rank staging traffic of the last generations (SP and CFG groups). */
  stagingStats() {
    return this.ranks.map((p) => p.backend.transformer.stats());
  }

  async dispose(): Promise<void> {
    for (const p of this.ranks) await p.dispose();
    await Promise.allSettled(this.transports.map((t) => t.close()));
    this.devices.forEach((d) => d.destroy());
  }
}

/**
 * Runs f on every rank concurrently; the first rank to fail aborts every transport (so nobody waits in a
 * collective) and its error is thrown, naming the rank.
 */
async function allRanks<R>(transports: InProcessTransport[], f: (t: InProcessTransport, rank: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  let first: { rank: number; err: unknown } | null = null;
  const settled = await Promise.allSettled(
    transports.map((t, r) =>
      f(t, r).catch((err: unknown) => {
        if (isCancellation(err, signal)) {
          // an agreed stop: every rank ends at the same step; the world stays usable
          first ??= { rank: r, err };
        } else if (!first || isCancellation(first.err, signal)) {
          first = { rank: r, err };
          const reason = new DistError(`rank ${r} failed: ${errorText(err)}`);
          for (const o of transports) if (o !== t) o.abort(reason);
        }
        throw err;
      }),
    ),
  );
  if (first) {
    const { rank, err } = first as { rank: number; err: unknown };
    if (isCancellation(err, signal)) throw err;
    if (err instanceof Error && err.message.includes(`rank ${rank}`)) throw err;
    throw new DistError(`rank ${rank} failed: ${errorText(err)}`, { cause: err });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/** A cancellation every rank agreed on (the signal's reason, or an AbortError). */
function isCancellation(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted && err === signal.reason) return true;
  return (err instanceof DOMException || err instanceof Error) && err.name === 'AbortError';
}
