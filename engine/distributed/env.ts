// Reads the torchrun-style launch environment (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
// PARALLAX_TRANSPORT), falling back to Open MPI, MPICH/PMI and Slurm variables when RANK etc. are unset.
import { DistError } from './errors.js';

export type SocketMode = 'unix' | 'tcp';

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** 'auto': Unix-domain sockets when every rank reports the same host, TCP otherwise. */
  transport: SocketMode | 'auto';
  /** Receive timeout from PARALLAX_DIST_TIMEOUT_MS, if set. */
  timeoutMs?: number;
}

type Env = Record<string, string | undefined>;

function pick(env: Env, names: readonly string[]): { name: string; value: string } | null {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== '') return { name, value };
  }
  return null;
}

function int(env: Env, names: readonly string[], what: string, fallback?: number): number {
  const got = pick(env, names);
  if (!got) {
    if (fallback !== undefined) return fallback;
    throw new DistError(`${what} is not set: export ${names[0]} (or launch with engine/distributed/launch.ts, srun or mpirun, which set ${names.slice(1).join('/')})`);
  }
  const n = Number(got.value);
  if (!Number.isInteger(n) || n < 0) throw new DistError(`${got.name}=${JSON.stringify(got.value)} is not a non-negative integer`);
  return n;
}

export const RANK_VARS = ['RANK', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK', 'PMIX_RANK', 'SLURM_PROCID'] as const;
export const SIZE_VARS = ['WORLD_SIZE', 'OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'SLURM_NTASKS'] as const;
export const LOCAL_RANK_VARS = ['LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'SLURM_LOCALID'] as const;

/** Parses the launch environment; throws a DistError naming the missing or bad variable. */
export function readDistEnv(env: Env = process.env): DistEnv {
  const worldSize = int(env, SIZE_VARS, 'world size');
  if (worldSize < 1) throw new DistError('WORLD_SIZE must be at least 1');
  const rank = int(env, RANK_VARS, 'rank');
  if (rank >= worldSize) throw new DistError(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const localRank = int(env, LOCAL_RANK_VARS, 'local rank', 0);
  const masterAddr = env.MASTER_ADDR || (worldSize === 1 ? '127.0.0.1' : '');
  if (!masterAddr) throw new DistError('MASTER_ADDR is not set: export the host name or IP of rank 0 (e.g. MASTER_ADDR=127.0.0.1 for one machine)');
  const masterPort = int(env, ['MASTER_PORT'], 'MASTER_PORT (the rendezvous port rank 0 listens on)', worldSize === 1 ? 0 : undefined);
  if (masterPort > 65535) throw new DistError(`MASTER_PORT=${masterPort} is not a valid port`);
  const t = (env.PARALLAX_TRANSPORT ?? 'auto').toLowerCase();
  if (t !== 'unix' && t !== 'tcp' && t !== 'auto') {
    throw new DistError(`PARALLAX_TRANSPORT=${JSON.stringify(env.PARALLAX_TRANSPORT)}: expected unix, tcp or auto`);
  }
  const timeout = env.PARALLAX_DIST_TIMEOUT_MS;
  const timeoutMs = timeout ? Number(timeout) : undefined;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new DistError(`PARALLAX_DIST_TIMEOUT_MS=${timeout} must be a positive number of ms`);
  return { rank, worldSize, localRank, masterAddr, masterPort, transport: t, timeoutMs };
}
