// Runs a parallel generation with one rank per worker thread (shared-memory transport) or as one rank of a
// multi-process world (socket transport, torchrun-style environment: one process per GPU, possibly on several
// hosts). Both run the same rank body: open this rank's device, load its share of the pipeline, generate.
import { ProcessGroup } from '../distributed/collectives.js';
import type { DistEnv } from '../distributed/env.js';
import { connectFromEnv } from '../distributed/rendezvous.js';
import { startWorkers } from '../distributed/shm-launcher.js';
import type { DType } from '../dtype.js';
import { listAdapters } from '../gpu/adapters.js';
import { Device } from '../gpu/device.js';
import type { SamplerStep } from '../pipeline/sampler.js';
import type { GenerateOptions, GenerateResult } from '../pipeline/text-to-video.js';
import { createRankPipeline, GENERATION_TIMEOUT_MS, generateOnRank } from './parallel-pipeline.js';
import type { ParallelLayout } from './parallel-transformer.js';

/** Everything a rank needs (plain data: it crosses worker and process boundaries). */
export interface RankJob {
  model: string;
  layout: ParallelLayout;
  dtype?: DType;
  /** Adapter index per local rank; undefined = see pickRankAdapter. */
  devices?: number[];
  /** Generation settings without callbacks; the seed must be set. */
  generate: Omit<GenerateOptions, 'onStep' | 'signal'> & { seed: number };
  /** Receive timeout (ms, default GENERATION_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** A SamplerStep without its latents (what crosses to the launcher for progress). */
export type StepInfo = Omit<SamplerStep, 'latents'>;

/**
 * The adapter of local rank `localRank`: `devices[localRank]` when a list is given; else the only adapter when the
 * process sees one (a GPU isolated per process by the launcher or container runtime), else adapter `localRank`.
 */
export async function pickRankAdapter(devices: readonly number[] | undefined, localRank: number): Promise<number | undefined> {
  if (devices) {
    const d = devices[localRank];
    if (d === undefined) throw new Error(`--devices lists ${devices.length} GPU(s) (${devices.join(',')}) but this is local rank ${localRank}: list one GPU per process started on this host`);
    return d;
  }
  const seen = await listAdapters();
  if (seen.length <= 1) return undefined;
  if (localRank >= seen.length) throw new Error(`local rank ${localRank} has no GPU: this process sees ${seen.length} adapter(s); pass --devices, start fewer processes per host, or isolate one GPU per process (docs/gpu-binding.md)`);
  return localRank;
}

/** One rank: device, pipeline, generation; rank 0 returns the result, the others null. */
export async function runRankJob(world: ProcessGroup, localRank: number, job: RankJob, onStep?: (s: SamplerStep) => void): Promise<GenerateResult | null> {
  const adapterIndex = await pickRankAdapter(job.devices, localRank);
  const device = await Device.create({ adapterIndex, label: `rank${world.rank}` });
  try {
    const pipe = await createRankPipeline(world, device, job.model, { layout: job.layout, dtype: job.dtype });
    try {
      const r = await generateOnRank(pipe, { ...job.generate, onStep });
      return world.rank === 0 ? r : null;
    } finally {
      await pipe.dispose();
    }
  } finally {
    device.destroy();
  }
}

/** `generate --transport shm`: one worker thread per rank in this process; rank 0's result. */
export async function generateWithWorkers(job: RankJob, ranks: number, onStep?: (s: StepInfo) => void): Promise<GenerateResult> {
  const w = startWorkers<RankJob, GenerateResult | null>(ranks, new URL('./shm-generate-rank.ts', import.meta.url), job, {
    timeoutMs: job.timeoutMs ?? GENERATION_TIMEOUT_MS,
    ringBytes: 4 << 20,
    onMessage: (rank, v) => {
      if (rank === 0) onStep?.(v as StepInfo);
    },
  });
  const results = await w.done;
  const r0 = results[0];
  if (!r0) throw new Error('internal error: rank 0 returned no result');
  return r0;
}

/**
 * This process is one rank of a world described by the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
 * MASTER_PORT; Slurm and MPI variables too): rendezvous, run, close. Rank 0 returns the result.
 */
export async function generateAsEnvRank(env: DistEnv, job: RankJob, onStep?: (s: SamplerStep) => void): Promise<GenerateResult | null> {
  const transport = await connectFromEnv({ timeoutMs: env.timeoutMs ?? job.timeoutMs ?? GENERATION_TIMEOUT_MS });
  const world = ProcessGroup.world(transport);
  try {
    const r = await runRankJob(world, env.localRank, job, onStep);
    await world.barrier(); // nobody closes its links while another rank still gathers frames
    await transport.close();
    return r;
  } catch (e) {
    transport.abort(e instanceof Error ? e : new Error(String(e)));
    throw e;
  }
}
