// Runs ./bin/parallax as a child process and returns its exit code and output (never throws on a non-zero exit).
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

export const PARALLAX_BIN = resolve(__dirname, '../../bin/parallax');
const run = promisify(execFile);

export async function parallax(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [PARALLAX_BIN, ...args], { maxBuffer: 1 << 24, env: { ...process.env, NO_COLOR: '1', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
