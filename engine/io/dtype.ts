// Safetensors element types and the float conversions the engine needs
// (f16/bf16 <-> f32 with round-to-nearest-even), all little-endian.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

/** Float dtypes a checkpoint may store weights in. */
export const FLOAT_DTYPES: readonly DType[] = ['F32', 'F16', 'BF16'];

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('Parallax checkpoint I/O needs a little-endian host (safetensors is little-endian)');
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

let f16Table: Float32Array | null = null;

/** Decode one f16 bit pattern with bit operations (exact). */
function halfBitsToFloat(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  const man = h & 0x3ff;
  let bits: number;
  if (exp === 0x1f) {
    bits = sign | 0x7f800000 | (man << 13); // Inf / NaN (payload kept)
  } else if (exp !== 0) {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man === 0) {
    bits = sign; // +-0
  } else {
    // subnormal: normalise the mantissa
    let e = 113;
    let m = man;
    while ((m & 0x400) === 0) { m <<= 1; e--; }
    bits = sign | (e << 23) | ((m & 0x3ff) << 13);
  }
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0];
}

/** 65536-entry f16 -> f32 table, built on first use (256 KiB). */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = halfBitsToFloat(h);
  }
  return f16Table;
}

export function f16BitsToF32(h: number): number {
  return halfTable()[h & 0xffff];
}

export function bf16BitsToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

/** f32 bit pattern -> f16 bits, round to nearest even; overflow -> Inf; NaN stays (quiet) NaN. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let man = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (man ? 0x200 | (man >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal -> 0
    man |= 0x800000; // implicit bit
    const shift = 14 - e; // 14..24
    const half = 1 << (shift - 1);
    const rest = man & ((1 << shift) - 1);
    let r = man >>> shift;
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r; // r may carry into the smallest normal: still correct bits
  }
  let r = (e << 10) | (man >>> 13);
  const rest = man & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++; // may carry into exponent / Inf: correct
  return sign | r;
}

/** f32 bit pattern -> bf16 bits, round to nearest even; NaN stays (quiet) NaN. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) & 0xffff) | 0x40;
  const r = (x >>> 0) + 0x7fff + ((x >>> 16) & 1);
  return (r >>> 16) & 0xffff;
}

export function f32ToF16Bits(v: number): number {
  f32Scratch[0] = v;
  return f32BitsToF16Bits(u32Scratch[0]);
}

export function f32ToBf16Bits(v: number): number {
  f32Scratch[0] = v;
  return f32BitsToBf16Bits(u32Scratch[0]);
}

/** Typed views need aligned offsets: copy when the slice is not aligned. */
function aligned(bytes: Uint8Array, align: number): Uint8Array {
  return bytes.byteOffset % align === 0 ? bytes : bytes.slice();
}

export function f16BytesToF32(bytes: Uint8Array): Float32Array {
  const a = aligned(bytes, 2);
  const src = new Uint16Array(a.buffer, a.byteOffset, bytes.byteLength >> 1);
  const t = halfTable();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

export function bf16BytesToF32(bytes: Uint8Array): Float32Array {
  const a = aligned(bytes, 2);
  const src = new Uint16Array(a.buffer, a.byteOffset, bytes.byteLength >> 1);
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

export function f32ArrayToF16Bytes(src: Float32Array): Uint8Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return new Uint8Array(out.buffer);
}

export function f32ArrayToBf16Bytes(src: Float32Array): Uint8Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return new Uint8Array(out.buffer);
}

/**
 * Decode raw little-endian bytes of any supported dtype to f32 (ints converted by value).
 * F32 input that is 4-byte aligned is returned as a zero-copy view sharing memory with `bytes`.
 */
export function bytesToFloat32(dtype: DType, bytes: Uint8Array): Float32Array {
  const n = bytes.byteLength / DTYPE_SIZE[dtype];
  const a = aligned(bytes, DTYPE_SIZE[dtype]);
  switch (dtype) {
    case 'F32': return new Float32Array(a.buffer, a.byteOffset, n);
    case 'F16': return f16BytesToF32(a);
    case 'BF16': return bf16BytesToF32(a);
    case 'F64': return Float32Array.from(new Float64Array(a.buffer, a.byteOffset, n));
    case 'I64': return Float32Array.from(new BigInt64Array(a.buffer, a.byteOffset, n), (v) => Number(v));
    case 'I32': return Float32Array.from(new Int32Array(a.buffer, a.byteOffset, n));
    case 'I16': return Float32Array.from(new Int16Array(a.buffer, a.byteOffset, n));
    case 'I8': return Float32Array.from(new Int8Array(a.buffer, a.byteOffset, n));
    case 'U8': case 'BOOL': return Float32Array.from(a);
  }
}

/** Encode f32 values into the bytes of a float dtype (F32/F16/BF16/F64). */
export function float32ToBytes(dtype: DType, src: Float32Array): Uint8Array {
  switch (dtype) {
    case 'F32': return new Uint8Array(src.slice().buffer);
    case 'F16': return f32ArrayToF16Bytes(src);
    case 'BF16': return f32ArrayToBf16Bytes(src);
    case 'F64': return new Uint8Array(Float64Array.from(src).buffer);
    default: throw new Error(`cannot encode floats as ${dtype}: use a float dtype (F32, F16, BF16, F64)`);
  }
}
