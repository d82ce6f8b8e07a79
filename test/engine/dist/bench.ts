// Runs bench-rank.ts on every transport: `node --import tsx test/engine/dist/bench.ts [ranks] [MiB]`.
import { createInProcessWorld } from '../../../engine/dist/inprocess.js';
import { ProcessGroup } from '../../../engine/dist/collectives.js';
import { launchLocal } from '../../../engine/dist/launch.js';
import { runWorkers } from '../../../engine/dist/shm-launcher.js';
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
