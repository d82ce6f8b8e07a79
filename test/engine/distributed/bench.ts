// Runs bench-rank.ts on every transport: `node --import tsx test/engine/distributed/bench.ts [ranks] [MiB]`.
import { createInProcessWorld } from '../../../engine/distributed/inprocess.js';
import { ProcessGroup } from '../../../engine/distributed/collectives.js';
import { launchLocal } from '../../../engine/distributed/launch.js';
import { runWorkers } from '../../../engine/distributed/shm-launcher.js';
import { bench } from './bench-rank.js';

const n = Number(process.argv[2] ?? 4);
const mb = Number(process.argv[3] ?? 16);
const inproc = await Promise.all(createInProcessWorld(n).map((t) => bench(ProcessGroup.world(t), mb)));
console.log(JSON.stringify({ transport: 'inprocess', ...inproc[0] }));
const shm = await runWorkers<{ mb: number }, Awaited<ReturnType<typeof bench>>>(n, new URL('./bench-rank.ts', import.meta.url), { mb }, { ringBytes: 1 << 22 });
console.log(JSON.stringify({ transport: 'shm', ...shm[0] }));
for (const transport of ['unix', 'tcp'] as const) {
  const w = await launchLocal({ nproc: n, script: new URL('./bench-rank.ts', import.meta.url).pathname, transport, env: { PARALLAX_BENCH_MB: String(mb) } });
  await w.done;
}
