// torchrun-style local launcher: `node --import tsx engine/distributed/launch.ts --nproc-per-node N script args`
// spawns N processes with MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE/LOCAL_RANK set; if one fails the
// others get a grace period, then SIGTERM, then SIGKILL. Exits with the first failing rank's code.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { DistError } from './errors.js';

export interface LaunchOptions {
  /** Processes (ranks) to start on this machine. */
  nproc: number;
  /** Script to run in each process (.ts scripts run under tsx). */
  script: string;
  args?: string[];
  /** Default 127.0.0.1. */
  masterAddr?: string;
  /** Rendezvous port; 0 or unset = a free port found on masterAddr. */
  masterPort?: number;
  /** PARALLAX_TRANSPORT for the children: 'unix' | 'tcp' | 'auto'. */
  transport?: 'unix' | 'tcp' | 'auto';
  /** Extra environment for every child. */
  env?: Record<string, string>;
  /** 'inherit' (default) or 'pipe' (read children's stdout/stderr yourself). */
  stdio?: 'inherit' | 'pipe';
  /** After the first failure, how long the others may take to fail on their own (ms, default 5000). */
  graceMs?: number;
  /** Node flags before the script (default ['--import', <tsx loader>] for .ts scripts, else []). */
  nodeArgs?: string[];
}

export interface LaunchResult {
  /** Exit code per rank (null when killed by a signal). */
  codes: (number | null)[];
  signals: (NodeJS.Signals | null)[];
  /** First rank to exit unsuccessfully, or -1. */
  failedRank: number;
}

export interface LaunchedWorld {
  readonly children: readonly ChildProcess[];
  readonly masterPort: number;
  readonly done: Promise<LaunchResult>;
  /** Sends a signal to every child still running. */
  killAll(signal?: NodeJS.Signals): void;
}

/** A port that was free on `host` a moment ago (listen on 0, read it, close). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen({ host, port: 0 }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function tsxLoader(): string {
  const req = createRequire(import.meta.url);
  return pathToFileURL(path.join(path.dirname(req.resolve('tsx/package.json')), 'dist/loader.mjs')).href;
}

/** Starts `nproc` ranks of `script` on this machine. */
export async function launchLocal(o: LaunchOptions): Promise<LaunchedWorld> {
  if (!Number.isInteger(o.nproc) || o.nproc < 1) throw new DistError(`--nproc-per-node must be a positive integer, got ${o.nproc}`);
  const masterAddr = o.masterAddr ?? '127.0.0.1';
  const masterPort = o.masterPort || (await findFreePort(masterAddr));
  const graceMs = o.graceMs ?? 5000;
  const nodeArgs = o.nodeArgs ?? (/\.[cm]?ts$/.test(o.script) ? ['--import', tsxLoader()] : []);
  const children = Array.from({ length: o.nproc }, (_, rank) =>
    spawn(process.execPath, [...nodeArgs, o.script, ...(o.args ?? [])], {
      stdio: o.stdio === 'pipe' ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      env: {
        ...process.env,
        ...o.env,
        MASTER_ADDR: masterAddr,
        MASTER_PORT: String(masterPort),
        RANK: String(rank),
        WORLD_SIZE: String(o.nproc),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(o.nproc),
        ...(o.transport ? { PARALLAX_TRANSPORT: o.transport } : {}),
      },
    }),
  );
  const codes: (number | null)[] = new Array(o.nproc).fill(null);
  const signals: (NodeJS.Signals | null)[] = new Array(o.nproc).fill(null);
  const running = new Set(children.map((_, r) => r));
  let failedRank = -1;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const killAll = (signal: NodeJS.Signals = 'SIGTERM') => {
    for (const r of running) children[r]!.kill(signal);
  };
  const done = new Promise<LaunchResult>((resolve) => {
    children.forEach((child, rank) => {
      child.once('error', () => {
        // spawn failure: 'exit' or 'close' still fires with a code
      });
      child.once('close', (code, signal) => {
        running.delete(rank);
        codes[rank] = code;
        signals[rank] = signal;
        if ((code !== 0 || signal) && failedRank < 0) {
          failedRank = rank;
          timers.push(setTimeout(() => killAll('SIGTERM'), graceMs));
          timers.push(setTimeout(() => killAll('SIGKILL'), graceMs + 2000));
        }
        if (running.size === 0) {
          timers.forEach(clearTimeout);
          resolve({ codes, signals, failedRank });
        }
      });
    });
  });
  return { children, masterPort, done, killAll };
}

async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name('parallax-launch')
    .description('Start N local ranks of a script with torchrun-style environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK).')
    .requiredOption('--nproc-per-node <n>', 'processes to start (one per GPU)', (v) => Number(v))
    .option('--master-addr <addr>', 'rendezvous address (rank 0 listens here)', '127.0.0.1')
    .option('--master-port <port>', 'rendezvous port (default: a free port)', (v) => Number(v), 0)
    .option('--transport <mode>', 'unix | tcp | auto (PARALLAX_TRANSPORT)', 'auto')
    .option('--grace-ms <ms>', 'after a rank fails, wait this long before terminating the others', (v) => Number(v), 5000)
    .argument('<script>', 'script each rank runs')
    .argument('[args...]', 'arguments for the script')
    .passThroughOptions()
    .parse(argv);
  const opts = program.opts<{ nprocPerNode: number; masterAddr: string; masterPort: number; transport: 'unix' | 'tcp' | 'auto'; graceMs: number }>();
  const [script, args] = program.processedArgs as [string, string[]];
  const world = await launchLocal({
    nproc: opts.nprocPerNode,
    script,
    args,
    masterAddr: opts.masterAddr,
    masterPort: opts.masterPort,
    transport: opts.transport,
    graceMs: opts.graceMs,
  });
  const forward = (sig: NodeJS.Signals) => world.killAll(sig);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const res = await world.done;
  if (res.failedRank < 0) return 0;
  const code = res.codes[res.failedRank];
  console.error(
    `parallax-launch: rank ${res.failedRank} failed (${code !== null ? `exit code ${code}` : `signal ${res.signals[res.failedRank]}`}); ` +
      res.codes.map((c, r) => `rank ${r}: ${c ?? res.signals[r]}`).join(', '),
  );
  return code || 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`parallax-launch: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(2);
    },
  );
}
