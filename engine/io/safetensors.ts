// Node entry point for safetensors: open a file by path (positioned reads) and write files with
// streaming writes. Format logic lives in safetensors-reader.ts (browser-safe).
import { open } from 'node:fs/promises';
import { NodeFileSource } from './node-files.js';
import { SafetensorsReader, encodeSafetensorsHeader, numel } from './safetensors-reader.js';
import { DTYPE_SIZE, float32ToBytes, type DType } from './dtype.js';

export * from './safetensors-reader.js';
export type { DType } from './dtype.js';
export { DTYPE_SIZE, bytesToFloat32, float32ToBytes } from './dtype.js';

export function openSafetensors(path: string): Promise<SafetensorsReader> {
  return SafetensorsReader.open(new NodeFileSource(path));
}

/**
 * A tensor to write. `data` is either raw little-endian bytes of `dtype`, or f32/f64 values that are
 * converted to `dtype` (F32/F16/BF16/F64, round to nearest even), or Int32Array/BigInt64Array for I32/I64.
 */
export interface WriteTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array | Float32Array | Float64Array | Int32Array | BigInt64Array;
}

function tensorBytes(name: string, t: WriteTensor): Uint8Array {
  const d = t.data;
  let bytes: Uint8Array;
  if (d instanceof Uint8Array) bytes = d;
  else if (d instanceof Float32Array) bytes = float32ToBytes(t.dtype, d);
  else if (d instanceof Float64Array) {
    bytes = t.dtype === 'F64' ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : float32ToBytes(t.dtype, Float32Array.from(d));
  } else if (d instanceof Int32Array) {
    if (t.dtype !== 'I32') throw new Error(`tensor ${name}: Int32Array data needs dtype I32, got ${t.dtype}`);
    bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  } else {
    if (t.dtype !== 'I64') throw new Error(`tensor ${name}: BigInt64Array data needs dtype I64, got ${t.dtype}`);
    bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }
  const expected = numel(t.shape) * DTYPE_SIZE[t.dtype];
  if (bytes.byteLength !== expected) {
    throw new Error(`tensor ${name}: shape ${JSON.stringify(t.shape)} x ${t.dtype} needs ${expected} bytes, data has ${bytes.byteLength}`);
  }
  return bytes;
}

/**
 * Write a safetensors file: header (space-padded to 8-byte alignment) then each tensor's bytes in order,
 * streamed one tensor at a time. `tensors` order is kept. Returns the file size.
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, WriteTensor> | Iterable<[string, WriteTensor]>,
  metadata?: Record<string, string>,
): Promise<number> {
  const list: [string, WriteTensor][] = Symbol.iterator in tensors
    ? [...(tensors as Iterable<[string, WriteTensor]>)]
    : Object.entries(tensors as Record<string, WriteTensor>);
  const header = encodeSafetensorsHeader(list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const fh = await open(path, 'w');
  try {
    let pos = 0;
    const write = async (b: Uint8Array) => {
      let done = 0;
      while (done < b.byteLength) {
        const { bytesWritten } = await fh.write(b, done, b.byteLength - done, pos + done);
        done += bytesWritten;
      }
      pos += b.byteLength;
    };
    await write(header);
    for (const [name, t] of list) await write(tensorBytes(name, t));
    return pos;
  } finally {
    await fh.close();
  }
}
