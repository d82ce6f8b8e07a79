// Runs bench/torch_vchitect.py (the spec's Vchitect-2.0 transformer in PyTorch, CPU float32) on the same
// checkpoint and inputs as the GPU forward: writes the inputs as safetensors, returns its output and timings.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openSafetensors, toFloat32, writeSafetensors } from '../engine/io/safetensors.js';
import { findTorchPython } from './peers.js';

export interface ForwardInputs {
  hidden: { shape: number[]; data: Float32Array };
  context: { shape: number[]; data: Float32Array };
  pooled: { shape: number[]; data: Float32Array };
  timestep: number;
}

export type TorchForward = { velocity: Float32Array; medianS: number; seconds: number[]; version: string; threads: number } | { error: string };

/** One Python process: loads `transformerDir`, warms up, times up to `repeats` forwards within `budgetS`. */
export async function runTorchForward(transformerDir: string, workDir: string, inp: ForwardInputs, repeats: number, budgetS: number): Promise<TorchForward> {
  const py = findTorchPython();
  if (!py) return { error: 'python3-torch not installed (node scripts/setup.mjs --torch installs it)' };
  const inPath = join(workDir, 'torch-inputs.safetensors');
  const outPath = join(workDir, 'torch-out.safetensors');
  await writeSafetensors(inPath, [
    ['hidden', { dtype: 'F32', shape: inp.hidden.shape, data: inp.hidden.data }],
    ['context', { dtype: 'F32', shape: inp.context.shape, data: inp.context.data }],
    ['pooled', { dtype: 'F32', shape: inp.pooled.shape, data: inp.pooled.data }],
    ['timestep', { dtype: 'F32', shape: [1], data: Float32Array.of(inp.timestep) }],
  ]);
  const script = new URL('./torch_vchitect.py', import.meta.url).pathname;
  const r = spawnSync(py.python, [script, transformerDir, inPath, outPath, '--repeats', String(repeats), '--budget', String(budgetS)], {
    encoding: 'utf8', maxBuffer: 1 << 24, timeout: 60 * 60_000,
  });
  if (r.status !== 0) return { error: `torch_vchitect.py failed (exit ${r.status}): ${(r.stderr || r.error?.message || '').slice(-800)}` };
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number[]; median_s: number; version: string; threads: number };
  const reader = await openSafetensors(outPath);
  try {
    const velocity = toFloat32(await reader.read('velocity'));
    return { velocity, medianS: res.median_s, seconds: res.seconds, version: res.version, threads: res.threads };
  } finally {
    await reader.close();
  }
}
