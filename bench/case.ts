// The shape of one kernel benchmark case: how to run it in Parallax, in TensorFlow.js (WebGPU backend) and in
// PyTorch (CPU), plus its flop and byte counts for the rate and %-of-peak columns.

import type { DType } from '../engine/dtype.js';
import type { Device } from '../engine/gpu/device.js';

export type Tf = typeof import('@tensorflow/tfjs-core');
export type TfTensor = import('@tensorflow/tfjs-core').Tensor;

export interface Runner {
  /** Records the op once (no sync). */
  run(): void;
  dispose(): void;
}

export interface TfRunner {
  run(): TfTensor;
  dispose(): void;
}

export interface BenchCase {
  /** Op family, e.g. 'matmul'. */
  op: string;
  /** What it is in the model, e.g. 'linear D->4D, one frame'. */
  name: string;
  /** The benchmarked shape, in words. */
  shape: string;
  /** Set when the case is reduced from the 2B model's 768x432x40 shape (say how). */
  reduced?: string;
  flops: number;
  /** Bytes necessarily moved (inputs read + outputs written) at the given element size. */
  bytes(elementBytes: number): number;
  /** 'flops' for compute-bound ops, 'bytes' for memory-bound ones: decides the rate column. */
  bound: 'flops' | 'bytes';
  parallax(device: Device, dtype: DType): Runner;
  tfjs?(tf: Tf): TfRunner;
  /** A PyTorch case understood by bench/torch_peer.py. */
  torch?: { kind: string; args: Record<string, number> };
}
