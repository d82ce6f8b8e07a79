// Runs bench/torch_vchitect_grad.py --train (PyTorch CPU training of the spec's Vchitect transformer: forward, MSE
// flow-matching loss, backward, clip, torch.optim.AdamW, EMA) on the same checkpoint, items and (sigma, eps) draws as
// engine/train/train-step.ts: writes the batch as safetensors, then times one step per request, so bench:train can
// alternate its own steps with PyTorch's under the same machine load.

import { join } from 'node:path';
import { writeSafetensors, type WriteTensor } from '../engine/io/safetensors.js';
import { describeTorch, findTorchPython, spawnLinePeer, torchPeerEnv, type TorchInfo } from './peers.js';

export interface HostItem {
  x0: { shape: number[]; data: Float32Array };
  context: { shape: number[]; data: Float32Array };
  pooled: { shape: number[]; data: Float32Array };
}

/** One item's draw of one step. */
export interface HostDraw {
  sigma: number;
  eps: Float32Array;
}

export interface TorchTrainOptions {
  lr: number;
  weightDecay: number;
  clip: number;
  threads: number;
}

export interface TorchStep {
  s: number;
  loss: number;
  grad_norm: number;
}

export interface TorchTrainPeer {
  describe: string;
  /** The CPU's theoretical f32 FMA peak, GFLOP/s (torch_env.py). */
  peakGflops: number;
  /** One training step (draw (step - 1) mod draws.length); seconds, loss and the pre-clip gradient norm. */
  step(): Promise<TorchStep>;
  close(): void;
}

/** Starts the PyTorch trainer on `transformerDir`: items[i] and draws[d][i] (d: the step's draw, i: the item). */
export async function startTorchTrain(transformerDir: string, workDir: string, items: HostItem[], draws: HostDraw[][], o: TorchTrainOptions): Promise<TorchTrainPeer | { error: string }> {
  const py = findTorchPython();
  if (!py) return { error: 'python3-torch not installed (node scripts/setup.mjs --torch installs it)' };
  const tensors: [string, WriteTensor][] = [];
  items.forEach((it, i) => {
    tensors.push([`x0.${i}`, { dtype: 'F32', ...it.x0 }], [`context.${i}`, { dtype: 'F32', ...it.context }], [`pooled.${i}`, { dtype: 'F32', ...it.pooled }]);
  });
  draws.forEach((step, d) => step.forEach((dr, i) => {
    tensors.push([`sigma.${d}.${i}`, { dtype: 'F32', shape: [1], data: Float32Array.of(dr.sigma) }], [`eps.${d}.${i}`, { dtype: 'F32', shape: items[i]!.x0.shape, data: dr.eps }]);
  }));
  const batchPath = join(workDir, 'torch-train-batch.safetensors');
  await writeSafetensors(batchPath, tensors);
  const { env, note } = torchPeerEnv(o.threads);
  const script = new URL('./torch_vchitect_grad.py', import.meta.url).pathname;
  const peer = spawnLinePeer(py.python, [script, '--train', transformerDir, batchPath, '--lr', String(o.lr), '--weight-decay', String(o.weightDecay), '--clip', String(o.clip), '--threads', String(o.threads)], env);
  let info: TorchInfo;
  try {
    info = await peer.next<TorchInfo>();
  } catch (err) {
    peer.close();
    return { error: `torch_vchitect_grad.py --train failed: ${(err as Error).message}` };
  }
  return {
    describe: describeTorch(info, note),
    peakGflops: info.peak_gflops,
    async step() {
      peer.send('run');
      return peer.next<TorchStep>();
    },
    close: () => peer.close(),
  };
}
