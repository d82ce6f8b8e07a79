// Launcher for the shared-memory transport: starts one worker_thread per rank with its rings, collects the
// per-rank results, and on the first failure (error, crash, exit, terminate) fails the whole world fast
// and terminates stragglers, rejecting with an error that names the failing rank.
import { Worker } from 'node:worker_threads';
import type { ProcessGroup } from './collectives.js';
import { DistError } from './errors.js';
import { Ring, RankStatus, WorldState } from './shm-ring.js';
import { allocateShmWorld, type ShmOptions, type ShmTransport } from './shm-transport.js';

/** What the worker module's default export receives. */
export interface WorkerContext<A> {
  rank: number;
  size: number;
  transport: ShmTransport;
  world: ProcessGroup;
  args: A;
  /** Sends a value to the launcher's onMessage (e.g. progress); structured-cloned. */
  post(value: unknown): void;
}

export interface RunWorkersOptions extends ShmOptions {
  /** Bytes per directed ring (power of two, default 1 MiB). Memory used: size*(size-1)*ringBytes. */
  ringBytes?: number;
  /** After the first failure, how long other ranks get to fail on their own before termination (ms, default 2000). */
  graceMs?: number;
  /** Receives what a rank sends with ctx.post(value). */
  onMessage?: (rank: number, value: unknown) => void;
}

/** Error of a failed world; `rankErrors[r]` is rank r's own message (null if it finished). */
export class WorldError extends DistError {
  constructor(
    message: string,
    readonly failedRank: number,
    readonly rankErrors: (string | null)[],
  ) {
    super(message);
  }
}

export interface WorkerWorld<R> {
  readonly workers: readonly Worker[];
  /** Resolves with each rank's return value, or rejects with a WorldError after every worker has exited. */
  readonly done: Promise<R[]>;
  /** Resolves once every worker has loaded the module and is about to run it (rejects if the world fails first). */
  readonly ready: Promise<void>;
  /** Terminates rank `rank`'s worker (fault injection; the world then fails). */
  kill(rank: number): Promise<void>;
}

const bootUrl = new URL('./shm-worker-boot.mjs', import.meta.url);

/** Starts `size` worker ranks running the default export of `moduleUrl` (a file: URL) with `args`. */
export function startWorkers<A, R>(size: number, moduleUrl: string | URL, args: A, opts: RunWorkersOptions = {}): WorkerWorld<R> {
  const { ringBytes = 1 << 20, graceMs = 2000, onMessage, ...shmOpts } = opts;
  const endpoints = allocateShmWorld(size, ringBytes);
  const state = new WorldState(endpoints[0]!.state, size);
  const rings = endpoints.flatMap((e) => e.outRings).filter((s): s is SharedArrayBuffer => s !== null).map((s) => new Ring(s));
  const results: (R | undefined)[] = new Array(size);
  const errors: (string | null)[] = new Array(size).fill(null);
  const finished: boolean[] = new Array(size).fill(false);
  const reported: boolean[] = new Array(size).fill(false);
  let firstFailed = -1;
  let exited = 0;
  let grace: ReturnType<typeof setTimeout> | null = null;
  let settle!: { resolve: (v: R[]) => void; reject: (e: Error) => void };
  const done = new Promise<R[]>((resolve, reject) => (settle = { resolve, reject }));
  let readyCount = 0;
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    done.then(() => resolve(), reject);
  });
  ready.catch(() => {}); // callers that do not await ready must not see an unhandled rejection

  const workers = endpoints.map(
    (endpoint, rank) =>
      new Worker(bootUrl, {
        workerData: { endpoint, moduleUrl: String(moduleUrl), args, opts: shmOpts },
        name: `parallax-rank-${rank}`,
      }),
  );

  const failed = (rank: number, message: string, dead: boolean) => {
    if (errors[rank] === null) errors[rank] = message;
    if (dead) {
      state.recordFailure(rank, message);
      if (state.status(rank) !== RankStatus.Failed) Atomics.store(state.words, rank, RankStatus.Dead);
    } else {
      state.recordFailure(rank, message);
    }
    for (const r of rings) r.wakeAll();
    if (firstFailed < 0) {
      firstFailed = rank;
      grace = setTimeout(() => {
        workers.forEach((w, r) => {
          if (!finished[r]) {
            errors[r] ??= `terminated by the launcher ${graceMs} ms after rank ${firstFailed} failed`;
            void w.terminate();
          }
        });
      }, graceMs);
    }
  };

  workers.forEach((w, rank) => {
    w.on('message', (m: { type: 'ready' } | { type: 'result'; value: R } | { type: 'error'; message: string } | { type: 'user'; value: unknown }) => {
      if (m.type === 'user') {
        try {
          onMessage?.(rank, m.value);
        } catch (e) {
          failed(rank, `the launcher's onMessage threw: ${(e as Error).message}`, false);
        }
      } else if (m.type === 'ready') {
        if (++readyCount === size) readyResolve();
      } else if (m.type === 'result') {
        results[rank] = m.value;
        reported[rank] = true;
      }
      else failed(rank, m.message, false);
    });
    w.on('error', (e: Error) => failed(rank, `worker threw: ${e.message}`, true));
    w.on('exit', (code) => {
      finished[rank] = true;
      exited++;
      if (errors[rank] === null && (!reported[rank] || code !== 0)) {
        failed(rank, `worker of rank ${rank} exited with code ${code} before finishing`, true);
      }
      if (exited < size) return;
      if (grace) clearTimeout(grace);
      if (firstFailed < 0) {
        settle.resolve(results as R[]);
        return;
      }
      // The root cause is the world's first recorded failure (shared state, first writer wins): a rank aborted by
      // it may report to the launcher sooner than the rank that caused it.
      const first = state.firstFailure();
      const root = first && errors[first.rank] !== null ? first.rank : firstFailed;
      const lines = errors.map((e, r) => `  rank ${r}: ${e ?? 'finished'}`);
      settle.reject(
        new WorldError(
          `shm world of ${size} ranks failed: rank ${root}: ${errors[root]}\n${lines.join('\n')}`,
          root,
          errors,
        ),
      );
    });
  });

  return {
    workers,
    done,
    ready,
    kill: async (rank) => {
      await workers[rank]!.terminate();
    },
  };
}

/** startWorkers(...).done: the per-rank return values, or a WorldError naming the first failing rank. */
export function runWorkers<A, R = unknown>(size: number, moduleUrl: string | URL, args: A, opts: RunWorkersOptions = {}): Promise<R[]> {
  return startWorkers<A, R>(size, moduleUrl, args, opts).done;
}
