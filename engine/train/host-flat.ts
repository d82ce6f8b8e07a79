// Host staging of parameter and gradient lists for the collectives of data-parallel / ZeRO training: a list of f32
// tensors read back as one flat Float32Array (one GPU concat and one readback), and a flat array written back into
// existing tensors or into new ones (uploads only, no sync).

import { Tensor } from '../tensor.js';
import type { Device } from '../gpu/device.js';
import { concat } from '../ops/layout.js';

/** The tensors' elements one after the other (in list order) as one Float32Array; empty list: length 0. */
export async function readFlat(ts: readonly Tensor[]): Promise<Float32Array> {
  if (!ts.length) return new Float32Array(0);
  for (const t of ts) if (t.dtype !== 'f32') throw new Error(`readFlat: ${t.label ?? 'tensor'} is ${t.dtype}; training state is f32`);
  if (ts.length === 1) return Float32Array.from(await ts[0]!.read());
  const flat = ts.map((t) => t.reshape([t.numel]));
  const all = concat(flat, 0);
  for (const t of flat) t.dispose();
  const r = await all.read();
  all.dispose();
  return r;
}

/** Writes consecutive slices of `flat` into the given tensors (in order); the lengths must add up. */
export function writeFlat(ts: readonly Tensor[], flat: Float32Array): void {
  let off = 0;
  for (const t of ts) {
    const n = t.numel;
    if (off + n > flat.length) throw new Error(`writeFlat: ${flat.length} values for tensors of ${ts.reduce((a, x) => a + x.numel, 0)} elements`);
    t.device.writeBuffer(t.buffer, 0, flat.subarray(off, off + n));
    off += n;
  }
  if (off !== flat.length) throw new Error(`writeFlat: ${flat.length} values for tensors of ${off} elements`);
}

/** New f32 tensors from consecutive slices of `flat`, one per (name, shape). */
export function uploadFlat(device: Device, flat: Float32Array, entries: readonly (readonly [string, readonly number[]])[], label = ''): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  let off = 0;
  for (const [name, shape] of entries) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (off + n > flat.length) {
      for (const t of out.values()) t.dispose();
      throw new Error(`uploadFlat: ${flat.length} values are too few for ${entries.length} tensors`);
    }
    out.set(name, Tensor.from(device, flat.subarray(off, off + n), shape, 'f32', `${label}${name}`));
    off += n;
  }
  if (off !== flat.length) {
    for (const t of out.values()) t.dispose();
    throw new Error(`uploadFlat: ${flat.length} values for tensors of ${off} elements`);
  }
  return out;
}
