// Runs bench/torch_vchitect.py (the spec's Vchitect-2.0 transformer in PyTorch, CPU float32) on the same
// checkpoint and inputs as the GPU forward: writes the inputs as safetensors (with `parallax forward`'s tensor
// names, so the same file feeds both whole commands), returns its output, timings and the torch setup it printed.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openSafetensors, toFloat32, writeSafetensors } from '../engine/io/safetensors.js';
import { defaultTorchThreads, describeTorch, findTorchPython, torchPeerEnv, type TorchInfo } from './peers.js';

export interface ForwardInputs {
  hidden: { shape: number[]; data: Float32Array };
  context: { shape: number[]; data: Float32Array };
  pooled: { shape: number[]; data: Float32Array };
  timestep: number;
}

export type TorchForward =
  | { velocity: Float32Array; medianS: number; bestS: number; seconds: number[]; version: string; threads: number; describe: string }
  | { error: string };

/** Writes `inp` under the names `parallax forward --inputs` reads (torch_vchitect.py accepts them too). */
export async function writeForwardInputs(path: string, inp: ForwardInputs): Promise<void> {
  await writeSafetensors(path, [
    ['hidden_states', { dtype: 'F32', shape: inp.hidden.shape, data: inp.hidden.data }],
    ['encoder_hidden_states', { dtype: 'F32', shape: inp.context.shape, data: inp.context.data }],
    ['pooled_projections', { dtype: 'F32', shape: inp.pooled.shape, data: inp.pooled.data }],
    ['timestep', { dtype: 'F32', shape: [1], data: Float32Array.of(inp.timestep) }],
  ]);
}

/** The torch command line and environment for one run of torch_vchitect.py (threads set, OpenBLAS overrides unset). */
export function torchForwardCommand(transformerDir: string, inPath: string, outPath: string, extra: string[], threads = defaultTorchThreads()):
  { python: string; args: string[]; env: Record<string, string | undefined>; note: string } | { error: string } {
  const py = findTorchPython();
  if (!py) return { error: 'python3-torch not installed (node scripts/setup.mjs --torch installs it)' };
  const { env, note } = torchPeerEnv(threads);
  const script = new URL('./torch_vchitect.py', import.meta.url).pathname;
  return { python: py.python, args: [script, transformerDir, inPath, outPath, '--threads', String(threads), ...extra], env, note };
}

/** One Python process: loads `transformerDir`, warms up, times up to `repeats` forwards within `budgetS`. */
export async function runTorchForward(transformerDir: string, workDir: string, inp: ForwardInputs, repeats: number, budgetS: number, threads?: number): Promise<TorchForward> {
  const inPath = join(workDir, 'torch-inputs.safetensors');
  const outPath = join(workDir, 'torch-out.safetensors');
  await writeForwardInputs(inPath, inp);
  const cmd = torchForwardCommand(transformerDir, inPath, outPath, ['--repeats', String(repeats), '--budget', String(budgetS)], threads);
  if ('error' in cmd) return cmd;
  const r = spawnSync(cmd.python, cmd.args, { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 60 * 60_000, env: cmd.env });
  if (r.status !== 0) return { error: `torch_vchitect.py failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').slice(-800)}` };
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as TorchInfo & { seconds: number[]; median_s: number; best_s: number };
  const reader = await openSafetensors(outPath);
  try {
    const velocity = toFloat32(await reader.read('velocity'));
    return {
      velocity, medianS: res.median_s, bestS: res.best_s, seconds: res.seconds, version: res.version, threads: res.threads,
      describe: describeTorch(res, cmd.note),
    };
  } finally {
    await reader.close();
  }
}
