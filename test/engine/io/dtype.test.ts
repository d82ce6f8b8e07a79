// Float conversions (f16/bf16 <-> f32) against float64 reference math: all bit patterns on decode,
// random/special values and exact rounding ties on encode.
import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32, bf16BytesToF32, f16BitsToF32, f16BytesToF32, f32ArrayToBf16Bytes, f32ArrayToF16Bytes,
  f32ToBf16Bits, f32ToF16Bits,
} from '../../../engine/io/dtype.js';

function refHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function refBf16(b: number): number {
  const s = b & 0x8000 ? -1 : 1;
  const e = (b >> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 255) return m ? NaN : s * Infinity;
  if (e === 0) return s * (m / 128) * 2 ** -126;
  return s * (1 + m / 128) * 2 ** (e - 127);
}

/** Nearest representable value by search (ties to even bit pattern), overflow past the midpoint -> Inf. */
function refEncode(x: number, decode: (b: number) => number, maxFinite: number, infBits: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const maxVal = decode(maxFinite);
  const next = decode(maxFinite) + (decode(maxFinite) - decode(maxFinite - 1));
  if (a >= (maxVal + next) / 2) return sign | infBits;
  let lo = 0;
  let hi = maxFinite;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (decode(mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (lo === maxFinite) return sign | lo;
  const dLo = a - decode(lo);
  const dHi = decode(lo + 1) - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (b: number) => { u32[0] = b >>> 0; return f32[0]; };

function randomInputs(n: number, seed: number): number[] {
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (r < 0.4) out.push(fromBits(Math.floor(rnd() * 2 ** 32))); // any bit pattern
    else if (r < 0.7) out.push(Math.fround((rnd() - 0.5) * 2 ** (rnd() * 40 - 30))); // typical magnitudes
    else out.push(Math.fround((rnd() - 0.5) * 2 ** -13)); // f16 subnormal range
  }
  return out;
}

describe('f16', () => {
  it('decodes every bit pattern exactly', () => {
    const bytes = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);
    const all = f16BytesToF32(bytes);
    for (let h = 0; h < 65536; h++) {
      const want = refHalf(h);
      const ok = Number.isNaN(want)
        ? Number.isNaN(all[h]) && Number.isNaN(f16BitsToF32(h))
        : Object.is(all[h], want) && Object.is(f16BitsToF32(h), want);
      if (!ok) throw new Error(`f16 0x${h.toString(16)}: got ${all[h]} want ${want}`);
    }
  });

  it('encodes random, special and subnormal values with round-to-nearest-even', () => {
    const inputs = randomInputs(20000, 7);
    inputs.push(0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, -65520, 2 ** -24, 2 ** -25, 2 ** -25 * 1.0000001, 3 * 2 ** -26, 6.1e-5);
    for (const x of inputs) {
      const got = f32ToF16Bits(x);
      const want = refEncode(x, refHalf, 0x7bff, 0x7c00);
      if (want === -1) {
        expect((got & 0x7c00) === 0x7c00 && (got & 0x3ff) !== 0).toBe(true);
      } else if (got !== want) {
        throw new Error(`f32 ${x}: f16 got 0x${got.toString(16)} want 0x${want.toString(16)}`);
      }
    }
  });

  it('breaks exact ties to even (normal and subnormal)', () => {
    for (let h = 1; h < 0x7bff; h += 97) {
      const mid = (refHalf(h) + refHalf(h + 1)) / 2; // exactly representable in f32
      expect(Math.fround(mid)).toBe(mid);
      const want = h % 2 === 0 ? h : h + 1;
      expect(f32ToF16Bits(mid)).toBe(want);
      expect(f32ToF16Bits(-mid)).toBe(want | 0x8000);
    }
  });

  it('array encoder matches the scalar one', () => {
    const src = Float32Array.from(randomInputs(999, 3));
    const bits = new Uint16Array(f32ArrayToF16Bytes(src).buffer);
    src.forEach((v, i) => expect(bits[i]).toBe(f32ToF16Bits(v)));
  });
});

describe('bf16', () => {
  it('decodes every bit pattern exactly', () => {
    const bytes = new Uint8Array(new Uint16Array(Array.from({ length: 65536 }, (_, i) => i)).buffer);
    const all = bf16BytesToF32(bytes.subarray(0)); // aligned path
    const odd = new Uint8Array(bytes.byteLength + 1);
    odd.set(bytes, 1);
    const allOdd = bf16BytesToF32(odd.subarray(1)); // unaligned path
    for (let b = 0; b < 65536; b++) {
      const want = refBf16(b);
      if (Number.isNaN(want)) { expect(Number.isNaN(all[b])).toBe(true); continue; }
      if (all[b] !== want || allOdd[b] !== want || bf16BitsToF32(b) !== want) {
        throw new Error(`bf16 0x${b.toString(16)}: got ${all[b]} want ${want}`);
      }
    }
  });

  it('encodes random and special values with round-to-nearest-even', () => {
    const inputs = randomInputs(20000, 11);
    inputs.push(0, -0, Infinity, -Infinity, NaN, 3.3895313892515355e38, 3.4028234663852886e38, 1e-40, -1e-45);
    for (const x of inputs) {
      const got = f32ToBf16Bits(x);
      const want = refEncode(x, refBf16, 0x7f7f, 0x7f80);
      if (want === -1) expect((got & 0x7f80) === 0x7f80 && (got & 0x7f) !== 0).toBe(true);
      else if (got !== want) throw new Error(`f32 ${x}: bf16 got 0x${got.toString(16)} want 0x${want.toString(16)}`);
    }
  });

  it('breaks exact ties to even', () => {
    for (let b = 1; b < 0x7f7f; b += 131) {
      const mid = fromBits((b << 16) | 0x8000);
      expect(f32ToBf16Bits(mid)).toBe(b % 2 === 0 ? b : b + 1);
    }
    const src = Float32Array.from(randomInputs(500, 5));
    const bits = new Uint16Array(f32ArrayToBf16Bytes(src).buffer);
    src.forEach((v, i) => expect(bits[i]).toBe(f32ToBf16Bits(v)));
  });
});
