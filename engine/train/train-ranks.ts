// Starting the ranks of a data-parallel / ZeRO training run on every transport the inference engine has: a rank
// module (a file whose default export is a TrainRankBody) runs once per rank with its world group and its own device.
//   inprocess: one process drives every GPU: async tasks, one Device each, in-process transport;
//   shm:       one worker thread per GPU over shared-memory rings (engine/distributed/shm-launcher.ts);
//   env:       this process is ONE rank of a world whose launcher set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//              MASTER_PORT (engine/distributed/launch.ts, torchrun, srun, mpirun): sockets (Unix on one host, TCP
//              across hosts). One process per GPU on this host = the same command under launchLocal (see docs).
// The first rank to fail aborts the world (inprocess: every other transport; shm and env: the transport's abort
// frame), so no rank waits for its receive timeout; the error names the failing rank.

import { ProcessGroup } from '../distributed/collectives.js';
import { DistError, errorText } from '../distributed/errors.js';
import type { DistEnv } from '../distributed/env.js';
import { createInProcessWorld } from '../distributed/inprocess.js';
import { connectFromEnv } from '../distributed/rendezvous.js';
import { startWorkers, type WorkerContext } from '../distributed/shm-launcher.js';
import { Device } from '../gpu/device.js';
import { openRankDevices } from '../parallel/parallel-pipeline.js';
import { pickRankAdapter } from '../parallel/rank-runners.js';

/** What a training rank receives. */
export interface TrainRankContext<A> {
  /** The world group (all ranks); split it for DP x SP layouts. */
  world: ProcessGroup;
  /** This rank's device (created and destroyed by the runner). */
  device: Device;
  /** Rank on this host (adapter choice). */
  localRank: number;
  args: A;
  /** shm worker ranks: sends a value to the launcher's onMessage (structured-cloned); absent elsewhere (same process). */
  post?: (value: unknown) => void;
}

export type TrainRankBody<A, R> = (ctx: TrainRankContext<A>) => Promise<R>;

export type TrainTransport = 'inprocess' | 'shm' | 'env';

/** Receive timeout of a training world (ms): a step of a large model on a slow adapter is long. */
export const TRAIN_TIMEOUT_MS = 30 * 60_000;

/** shm: after a rank fails, how long the others get to fail on their own (their next collective is aborted) before
 *  their threads are terminated; terminating a thread inside a Dawn call can take the process down. */
export const SHM_GRACE_MS = 20_000;

export interface TrainRanksOptions<A> {
  transport: TrainTransport;
  /** A module (file: URL) whose default export is the TrainRankBody; args must be plain data (cloned for workers).
   *  Not the script that calls runTrainingRanks: a module importing itself during its top-level await never loads. */
  module: URL;
  args: A;
  /** Ranks on this host (inprocess, shm); env: ignored (WORLD_SIZE). */
  ranks?: number;
  /** Adapter index per local rank (repeat an index to put several ranks on one adapter); default: see pickRankAdapter. */
  devices?: readonly number[];
  timeoutMs?: number;
  /** env: the launcher's environment (readDistEnv()); only its timeout is read here. */
  env?: DistEnv;
  /** shm: receives what a rank sends with ctx.post (progress, log lines). */
  onMessage?: (rank: number, value: unknown) => void;
}

async function body<A, R>(module: URL): Promise<TrainRankBody<A, R>> {
  const m = (await import(module.href)) as { default?: unknown };
  if (typeof m.default !== 'function') throw new Error(`training rank module ${module.href} has no default export function (ctx) => Promise<result>`);
  return m.default as TrainRankBody<A, R>;
}

/**
 * Runs the rank module on every rank; resolves with every rank's result in rank order (inprocess, shm) or with this
 * process's result only (env, a one-element array).
 */
export async function runTrainingRanks<A, R>(o: TrainRanksOptions<A>): Promise<R[]> {
  const timeoutMs = o.timeoutMs ?? o.env?.timeoutMs ?? TRAIN_TIMEOUT_MS;
  if (o.transport === 'env') {
    const transport = await connectFromEnv({ timeoutMs });
    const world = ProcessGroup.world(transport);
    try {
      const localRank = o.env?.localRank ?? Number(process.env.LOCAL_RANK ?? 0);
      const r = await runOne<A, R>(world, localRank, o.module, o.args, o.devices);
      await world.barrier(); // nobody closes its links while another rank still gathers
      await transport.close();
      return [r];
    } catch (e) {
      transport.abort(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  }
  const ranks = o.ranks ?? o.devices?.length;
  if (!ranks || !Number.isInteger(ranks) || ranks < 1) throw new Error(`training on transport ${o.transport}: give the number of ranks (or --devices, one adapter per rank)`);
  if (o.devices && o.devices.length !== ranks) throw new Error(`--devices lists ${o.devices.length} adapters for ${ranks} ranks: list one per rank`);
  if (o.transport === 'shm') {
    const w = startWorkers<WorkerArgs<A>, R>(ranks, new URL('./train-rank-worker.ts', import.meta.url), { module: o.module.href, args: o.args, devices: o.devices ? [...o.devices] : undefined }, { timeoutMs, ringBytes: 4 << 20, onMessage: o.onMessage, graceMs: SHM_GRACE_MS });
    return w.done;
  }
  if (o.transport !== 'inprocess') throw new Error(`unknown training transport ${String(o.transport)}: inprocess, shm or env`);
  const f = await body<A, R>(o.module);
  const devices = await openRankDevices(o.devices ?? new Array<number>(ranks).fill(0));
  const transports = createInProcessWorld(ranks, { timeoutMs });
  try {
    let first: { rank: number; err: unknown } | null = null;
    const settled = await Promise.allSettled(transports.map((t, r) =>
      f({ world: ProcessGroup.world(t), device: devices[r]!, localRank: r, args: o.args }).catch((err: unknown) => {
        if (!first) {
          first = { rank: r, err };
          const reason = new DistError(`rank ${r} failed: ${errorText(err)}`);
          for (const x of transports) if (x !== t) x.abort(reason);
        }
        throw err;
      })));
    if (first) {
      const { rank, err } = first as { rank: number; err: unknown };
      if (err instanceof Error && err.message.includes(`rank ${rank}`)) throw err;
      throw new DistError(`rank ${rank} failed: ${errorText(err)}`, { cause: err });
    }
    return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
  } finally {
    devices.forEach((d) => d.destroy());
  }
}

/** What crosses to a shm worker. */
export interface WorkerArgs<A> {
  module: string;
  args: A;
  devices?: number[];
}

/** One rank: its device, the body, the device destroyed after. */
export async function runOne<A, R>(world: ProcessGroup, localRank: number, module: URL, args: A, devices?: readonly number[], post?: (value: unknown) => void): Promise<R> {
  const f = await body<A, R>(module);
  const adapterIndex = await pickRankAdapter(devices, localRank);
  const device = await Device.create({ adapterIndex, label: `rank${world.rank}` });
  try {
    return await f({ world, device, localRank, args, post });
  } finally {
    device.destroy();
  }
}

/** @internal the shm worker's side (train-rank-worker.ts). */
export function runWorkerRank<A, R>(ctx: WorkerContext<WorkerArgs<A>>): Promise<R> {
  return runOne<A, R>(ctx.world, ctx.rank, new URL(ctx.args.module), ctx.args.args, ctx.args.devices, (v) => ctx.post(v));
}
