// Shared commander argument parsers and option helpers for the parallax sub-commands.
import { InvalidArgumentError } from 'commander';
import { stat } from 'node:fs/promises';

export function parseIntArg(name: string, min = Number.MIN_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
}

export function parseFloatArg(name: string, min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
    if (n < min) throw new InvalidArgumentError(`${name} must be >= ${min}, got ${v}`);
    return n;
  };
}

/** Fails with a clear message when the model folder is missing. */
export async function requireModelDir(dir: string | undefined): Promise<string> {
  if (!dir) throw new Error('--model DIR is required (a diffusers folder; make a tiny one with `parallax make-tiny DIR`)');
  const st = await stat(dir).catch(() => null);
  if (!st) throw new Error(`model folder ${dir} does not exist (make a tiny one with \`parallax make-tiny ${dir}\`, or point --model at a Vchitect-2.0 diffusers folder)`);
  if (!st.isDirectory()) throw new Error(`--model ${dir} is not a folder (expected a diffusers checkpoint folder with model_index.json)`);
  return dir;
}

export function fmtMs(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Checkpoint storage dtypes (make-tiny writes them; inspect estimates with them). */
export const DTYPE_CHOICES = ['f32', 'f16', 'bf16'] as const;
export type DTypeChoice = (typeof DTYPE_CHOICES)[number];
/** GPU compute dtypes: WebGPU has f32 and (with shader-f16) f16, no bf16 arithmetic. */
export const COMPUTE_DTYPE_CHOICES = ['f32', 'f16'] as const;
export type ComputeDType = (typeof COMPUTE_DTYPE_CHOICES)[number];

/** Parses --devices for generate: adapter indices, one per rank, e.g. "0,1,2,3" (repeats allowed). */
export function parseDeviceList(v: string): number[] {
  const parts = v.split(',').map((x) => x.trim());
  if (parts.some((p) => !/^\d{1,3}$/.test(p))) throw new InvalidArgumentError(`--devices must list adapter indices like 0,1,2,3 (see parallax doctor --list), got "${v}"`);
  return parts.map(Number);
}
