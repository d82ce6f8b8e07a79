// Collective throughput probe (not a test): as a shm worker module (default export) or as a socket rank
// (run under launchLocal). Times allReduce and allToAll on `mb` MiB per rank; prints/returns ms and GB/s.
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { connectFromEnv } from '../../../engine/distributed/rendezvous.js';
import type { WorkerContext } from '../../../engine/distributed/shm-launcher.js';

export async function bench(world: ProcessGroup, mb: number, iters = 3) {
  const n = world.size;
  const elems = (mb * 1024 * 1024) / 4;
  const x = new Float32Array(elems).fill(world.rank + 1);
  const chunk = Math.floor(elems / n);
  const chunks = Array.from({ length: n }, (_, p) => x.subarray(p * chunk, (p + 1) * chunk));
  await world.allReduce(x.subarray(0, 1024));
  await world.barrier();
  const time = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await f();
    await world.barrier();
    return (performance.now() - t0) / iters;
  };
  const allReduceMs = await time(() => world.allReduce(x));
  const allToAllMs = await time(() => world.allToAll(chunks));
  // bus bandwidth as NCCL counts it: allReduce moves 2(n-1)/n of the buffer, allToAll (n-1)/n
  const bytes = elems * 4;
  return {
    rank: world.rank,
    n,
    mb,
    allReduceMs: +allReduceMs.toFixed(1),
    allReduceBusGBs: +(((2 * (n - 1)) / n) * bytes / allReduceMs / 1e6).toFixed(2),
    allToAllMs: +allToAllMs.toFixed(1),
    allToAllBusGBs: +((((n - 1) / n) * bytes) / allToAllMs / 1e6).toFixed(2),
  };
}

export default function main(ctx: WorkerContext<{ mb: number }>) {
  return bench(ctx.world, ctx.args.mb);
}

if (process.env.RANK !== undefined && process.env.PARALLAX_BENCH_MB) {
  const t = await connectFromEnv();
  const r = await bench(ProcessGroup.world(t), Number(process.env.PARALLAX_BENCH_MB));
  await t.close();
  if (r.rank === 0) console.log(JSON.stringify({ transport: t.kind, ...r }));
}
