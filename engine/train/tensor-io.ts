// Moves trainer state between the GPU and the host: parameter maps read back for checkpoints, host tensors uploaded
// as f32 parameters, and a fresh TrainState's zero moments / EMA replaced by saved values on --resume.
import type { Device } from '../gpu/device.js';
import { Tensor } from '../tensor.js';
import type { HostTensors } from './train-checkpoint.js';

export async function readAll(m: ReadonlyMap<string, Tensor>): Promise<HostTensors> {
  const out: HostTensors = new Map();
  for (const [k, t] of m) out.set(k, { shape: [...t.shape], data: Float32Array.from(await t.read()) });
  return out;
}

export function upload(device: Device, h: HostTensors, label: string): Map<string, Tensor> {
  return new Map([...h].map(([k, t]) => [k, Tensor.from(device, t.data, t.shape, 'f32', `${label} ${k}`)]));
}

/** Replaces the zero moments / EMA of a fresh TrainState with saved values. */
export function restore(dst: Map<string, Tensor>, src: HostTensors, device: Device, what: string): void {
  for (const [k, t] of dst) {
    const s = src.get(k);
    if (!s || s.data.length !== t.numel) throw new Error(`--resume: the saved ${what} lacks ${k} or has another shape (the train state is damaged)`);
    t.dispose();
    dst.set(k, Tensor.from(device, s.data, s.shape, 'f32', `${what} ${k}`));
  }
}
