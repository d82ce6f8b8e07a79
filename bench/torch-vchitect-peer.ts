// Runs bench/torch_vchitect.py (the spec's Vchitect-2.0 transformer in PyTorch, CPU float32) on the same
// checkpoint and inputs as the GPU forward: writes the inputs as safetensors (with `parallax forward`'s tensor
// names, so the same file feeds both whole commands); the warm forwards are timed on request, alternated with ours.

import { join } from 'node:path';
import { openSafetensors, toFloat32, writeSafetensors } from '../engine/io/safetensors.js';
import { defaultTorchThreads, describeTorch, findTorchPython, spawnLinePeer, torchPeerEnv, type TorchInfo } from './peers.js';

export interface ForwardInputs {
  hidden: { shape: number[]; data: Float32Array };
  context: { shape: number[]; data: Float32Array };
  pooled: { shape: number[]; data: Float32Array };
  timestep: number;
}

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

/** A torch_vchitect.py process that has loaded the weights, run one warm-up forward and written its output. */
export interface TorchForwardPeer {
  velocity: Float32Array;
  version: string;
  threads: number;
  describe: string;
  /** Seconds of one more forward (same inputs). */
  run(): Promise<number>;
  close(): void;
}

/**
 * Starts bench/torch_vchitect.py --serve on `transformerDir` and `inp`: the caller alternates its own forwards with
 * `run()` so both sides are timed under the same machine load.
 */
export async function startTorchForward(transformerDir: string, workDir: string, inp: ForwardInputs, threads?: number): Promise<TorchForwardPeer | { error: string }> {
  const inPath = join(workDir, 'torch-inputs.safetensors');
  const outPath = join(workDir, 'torch-out.safetensors');
  await writeForwardInputs(inPath, inp);
  const cmd = torchForwardCommand(transformerDir, inPath, outPath, ['--serve'], threads);
  if ('error' in cmd) return cmd;
  const peer = spawnLinePeer(cmd.python, cmd.args, cmd.env);
  let info: TorchInfo;
  try {
    info = await peer.next<TorchInfo>();
  } catch (err) {
    peer.close();
    return { error: `torch_vchitect.py failed: ${(err as Error).message}` };
  }
  const reader = await openSafetensors(outPath);
  let velocity: Float32Array;
  try {
    velocity = toFloat32(await reader.read('velocity'));
  } finally {
    await reader.close();
  }
  return {
    velocity, version: info.version, threads: info.threads, describe: describeTorch(info, cmd.note),
    async run() {
      peer.send('run');
      return (await peer.next<{ s: number }>()).s;
    },
    close: () => peer.close(),
  };
}
