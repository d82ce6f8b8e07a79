// The peers measured in the same run as Parallax: TensorFlow.js's WebGPU backend on its own Dawn device over the
// same adapter, and PyTorch on the CPU (Debian's python3-torch) through bench/torch_peer.py.

import { spawnSync } from 'node:child_process';
import type { BenchCase, Tf, TfRunner } from './case.js';
import { timeMedian } from './timing.js';

export interface TfPeer {
  tf: Tf;
  time(runner: TfRunner): Promise<number>;
  version: string;
}

/** Loads TF.js with the WebGPU backend on Dawn; null (with the reason) when it cannot start. */
export async function loadTfPeer(): Promise<TfPeer | { error: string }> {
  try {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const gpu = create(['enable-dawn-features=vulkan_enable_f16_on_nvidia']);
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    else if (!g.navigator.gpu) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) return { error: 'tf.setBackend("webgpu") failed' };
    await tf.ready();
    const backend = tf.backend() as unknown as { endComputePassEncoder(): void; submitQueue(): void; device: GPUDevice };
    (globalThis as { __tfGpu?: unknown }).__tfGpu = gpu; // keep the Dawn instance alive
    return {
      tf,
      version: tf.version_core,
      async time(runner: TfRunner) {
        return timeMedian(async () => {
          const out = runner.run();
          backend.endComputePassEncoder();
          backend.submitQueue();
          await backend.device.queue.onSubmittedWorkDone();
          out.dispose();
        });
      },
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** The first Python that imports torch: $PARALLAX_PYTHON, python3 on PATH, then Debian's /usr/bin/python3. */
export function findTorchPython(): { python: string; version: string } | null {
  for (const python of [process.env.PARALLAX_PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean) as string[]) {
    const v = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (v.status === 0) return { python, version: v.stdout.trim() };
  }
  return null;
}

/** Times the cases' PyTorch versions in one Python process; {} with a note when torch is missing. */
export function runTorchPeer(cases: BenchCase[]): { times: Record<string, number>; version?: string; error?: string } {
  const list = cases.filter((c) => c.torch).map((c) => ({ name: `${c.op}:${c.name}`, ...c.torch! }));
  const found = findTorchPython();
  if (!found) return { times: {}, error: 'python3-torch not installed (node scripts/setup.mjs --torch installs it)' };
  const r = spawnSync(found.python, [new URL('./torch_peer.py', import.meta.url).pathname], {
    input: JSON.stringify(list), encoding: 'utf8', maxBuffer: 1 << 24, timeout: 30 * 60_000,
  });
  if (r.status !== 0) return { times: {}, error: `torch peer failed: ${r.stderr.slice(-500)}` };
  return { times: JSON.parse(r.stdout.trim().split('\n').pop()!), version: found.version };
}
