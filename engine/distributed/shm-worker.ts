// Rank entry inside a shm worker thread: builds the ShmTransport from workerData, runs the user module's
// default export with (rank, size, transport, world group, args), reports the result or error to the launcher.
import { parentPort, workerData } from 'node:worker_threads';
import { ProcessGroup } from './collectives.js';
import { errorText } from './errors.js';
import { ShmTransport, type ShmEndpoint, type ShmOptions } from './shm-transport.js';
import type { WorkerContext } from './shm-launcher.js';

interface BootData {
  endpoint: ShmEndpoint;
  moduleUrl: string;
  args: unknown;
  opts: ShmOptions;
}

const data = workerData as BootData;
const transport = new ShmTransport(data.endpoint, data.opts);
try {
  const mod = (await import(data.moduleUrl)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new Error(`${data.moduleUrl} has no default export function (expected export default async (ctx) => ...)`);
  }
  parentPort!.postMessage({ type: 'ready' });
  const ctx: WorkerContext<unknown> = {
    rank: transport.rank,
    size: transport.size,
    transport,
    world: ProcessGroup.world(transport),
    args: data.args,
    post: (value) => parentPort!.postMessage({ type: 'user', value }),
  };
  const value: unknown = await (mod.default as (c: WorkerContext<unknown>) => unknown)(ctx);
  await transport.close();
  parentPort!.postMessage({ type: 'result', value });
} catch (e) {
  transport.abort(e instanceof Error ? e : new Error(String(e)));
  parentPort!.postMessage({ type: 'error', message: errorText(e) });
}
