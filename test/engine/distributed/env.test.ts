import { describe, expect, it } from 'vitest';
import { readDistEnv } from '../../../engine/distributed/env.js';

describe('readDistEnv', () => {
  it('reads torchrun variables', () => {
    expect(readDistEnv({ RANK: '2', WORLD_SIZE: '4', LOCAL_RANK: '0', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500', PARALLAX_TRANSPORT: 'TCP' })).toEqual({
      rank: 2, worldSize: 4, localRank: 0, masterAddr: '10.0.0.1', masterPort: 29500, transport: 'tcp', timeoutMs: undefined,
    });
  });

  it('maps Open MPI, PMI and Slurm variables when RANK is unset', () => {
    const base = { MASTER_ADDR: 'node1', MASTER_PORT: '1234' };
    const ompi = readDistEnv({ ...base, OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8', OMPI_COMM_WORLD_LOCAL_RANK: '1' });
    expect([ompi.rank, ompi.worldSize, ompi.localRank]).toEqual([3, 8, 1]);
    const pmi = readDistEnv({ ...base, PMI_RANK: '5', PMI_SIZE: '6', MPI_LOCALRANKID: '2' });
    expect([pmi.rank, pmi.worldSize, pmi.localRank]).toEqual([5, 6, 2]);
    const slurm = readDistEnv({ ...base, SLURM_PROCID: '7', SLURM_NTASKS: '16', SLURM_LOCALID: '3', PARALLAX_DIST_TIMEOUT_MS: '900' });
    expect([slurm.rank, slurm.worldSize, slurm.localRank, slurm.timeoutMs, slurm.transport]).toEqual([7, 16, 3, 900, 'auto']);
    expect(readDistEnv({ ...base, RANK: '1', SLURM_PROCID: '7', WORLD_SIZE: '2' }).rank).toBe(1);
  });

  it('names the missing or bad variable', () => {
    expect(() => readDistEnv({ WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/rank is not set: export RANK/);
    expect(() => readDistEnv({ RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/RANK=2 is not below WORLD_SIZE=2/);
    expect(() => readDistEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '1' })).toThrow(/MASTER_ADDR is not set/);
    expect(() => readDistEnv({ RANK: 'x', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/RANK="x" is not a non-negative integer/);
    expect(() => readDistEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1', PARALLAX_TRANSPORT: 'ws' })).toThrow(/expected unix, tcp or auto/);
  });
});
