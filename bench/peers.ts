// The peers measured in the same run as Parallax: TensorFlow.js's WebGPU backend on its own Dawn device over the
// same adapter, and PyTorch on the CPU (Debian's python3-torch, with OpenBLAS) through bench/torch_peer.py, its
// threads, BLAS and environment printed.

import { spawn, spawnSync } from 'node:child_process';
import os from 'node:os';
import { createInterface } from 'node:readline';
import type { BenchCase, Tf, TfRunner } from './case.js';
import { timeRuns } from './timing.js';

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
        return (await timeRuns(async () => {
          const out = runner.run();
          backend.endComputePassEncoder();
          backend.submitQueue();
          await backend.device.queue.onSubmittedWorkDone();
          out.dispose();
        })).best;
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

/** What the PyTorch peers print first (bench/torch_env.py describe()). */
export interface TorchInfo {
  version: string;
  threads: number;
  blas: string;
  config: string;
  sgemm_gflops: number;
  peak_gflops: number;
  peak_note: string;
  env: Record<string, string>;
}

/** One line for tables and logs: version, threads, BLAS, the sgemm check and what was done to the environment. */
export function describeTorch(t: TorchInfo, envNote: string): string {
  return `PyTorch ${t.version}, ${t.threads} threads (torch.get_num_threads), BLAS: ${t.blas}; ${t.config}; ` +
    `sgemm check 1024^3: ${t.sgemm_gflops} GFLOP/s = ${((100 * t.sgemm_gflops) / t.peak_gflops).toFixed(0)}% of ${t.peak_gflops} GFLOP/s (${t.peak_note})${envNote ? `; ${envNote}` : ''}`;
}

/**
 * The environment of a PyTorch peer's process: OMP/OpenBLAS threads = torch threads (OpenBLAS keeps its own
 * pool, which torch.set_num_threads does not size), and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset together
 * (overrides meant for old OpenBLAS builds that slow down a current one) in that process only. Returns the note
 * saying what was changed.
 */
export function torchPeerEnv(threads: number): { env: NodeJS.ProcessEnv; note: string } {
  const env: Record<string, string | undefined> = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const unset = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].filter((k) => env[k] !== undefined);
  const note = unset.length ? `unset in the peer's process only: ${unset.map((k) => `${k}=${env[k]}`).join(', ')}` : '';
  for (const k of ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']) delete env[k];
  return { env, note };
}

/** Default peer threads: the CPUs this process may run on. */
export const defaultTorchThreads = (): number => os.availableParallelism();

export interface TorchPeer {
  info: TorchInfo;
  describe(): string;
  /** Best-of-runs ms of one case (same protocol as timeRuns). */
  time(c: NonNullable<BenchCase['torch']>): Promise<number>;
  close(): void;
}

/** A child process answering one JSON line per request line (the long-lived PyTorch peers). */
export interface LinePeer {
  /** The next JSON line it prints (throws with its stderr when it has exited). */
  next<T>(): Promise<T>;
  send(line: string): void;
  close(): void;
}

/** Spawns `python args` with `env`, reading its stdout line by line; killed when this process exits. */
export function spawnLinePeer(python: string, args: string[], env: Record<string, string | undefined>): LinePeer {
  const child = spawn(python, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const kill = () => child.kill();
  process.once('exit', kill);
  return {
    async next<T>() {
      const r = await lines.next();
      if (r.done) throw new Error(`${args[0]?.split('/').pop()} exited (code ${child.exitCode}): ${stderr.slice(-800)}`);
      return JSON.parse(r.value) as T;
    },
    send: (line) => child.stdin.write(`${line}\n`),
    close: () => {
      child.stdin.end();
      process.off('exit', kill);
    },
  };
}

/** Starts bench/torch_peer.py as one long-lived process (cases are timed on request, interleaved with ours). */
export async function startTorchPeer(opts: { threads?: number } = {}): Promise<TorchPeer | { error: string }> {
  const found = findTorchPython();
  if (!found) return { error: 'python3-torch not installed (node scripts/setup.mjs --torch installs it)' };
  const threads = opts.threads ?? defaultTorchThreads();
  const { env, note } = torchPeerEnv(threads);
  const peer = spawnLinePeer(found.python, [new URL('./torch_peer.py', import.meta.url).pathname, '--threads', String(threads)], env);
  let info: TorchInfo;
  try {
    info = await peer.next<TorchInfo>();
  } catch (err) {
    peer.close();
    return { error: (err as Error).message };
  }
  return {
    info,
    describe: () => describeTorch(info, note),
    async time(c) {
      peer.send(JSON.stringify(c));
      return (await peer.next<{ best_ms: number }>()).best_ms;
    },
    close: () => peer.close(),
  };
}
