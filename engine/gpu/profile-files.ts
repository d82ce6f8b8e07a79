// Writes a Profiler's Chrome trace (JSON) and per-op table (text) to files (Node): used by `--profile` on the CLI
// commands and by the server's per-job profiles.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Profiler } from './profiler.js';

/**
 * Writes the trace to `tracePath` and the table to `tablePath` (default: the trace's name without .trace.json/.json,
 * plus .profile.txt); prints the table with `log` when given. Returns both paths.
 */
export async function writeProfile(p: Profiler, tracePath: string, opts: { tablePath?: string; log?: (s: string) => void } = {}): Promise<{ trace: string; table: string }> {
  const table = opts.tablePath ?? tracePath.replace(/(\.trace)?\.json$/i, '') + '.profile.txt';
  await mkdir(dirname(tracePath), { recursive: true });
  await writeFile(tracePath, JSON.stringify(p.trace()));
  await writeFile(table, p.table() + '\n');
  opts.log?.(`${p.table()}\nprofile: ${table}, Chrome trace: ${tracePath} (open in ui.perfetto.dev)`);
  return { trace: tracePath, table };
}
