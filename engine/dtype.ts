// Element types of GPU tensors and the host-side conversions between f32, f16 and bf16 bit patterns.

import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from './io/dtype.js';

export type DType = 'f32' | 'f16' | 'u32' | 'i32';

export function bytesPerElement(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

/** WGSL storage type name for a dtype. */
export function wgslType(dtype: DType): string {
  return dtype;
}

// The scalar bit conversions live with the checkpoint I/O (table-based f16 decode, round-to-nearest-even encode).
export { bf16BitsToF32, f16BitsToF32, f32ToF16Bits };

/** Rounds through f16 and back: what an f16 tensor stores for this value. */
export function roundToF16(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}

export function toF16Array(src: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]!);
  return out;
}

export function fromF16Array(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16BitsToF32(src[i]!);
  return out;
}

export function fromBf16Array(src: Uint16Array): Float32Array {
  const u = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
  return new Float32Array(u.buffer);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
