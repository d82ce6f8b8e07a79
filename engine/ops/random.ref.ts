// Host reference of the counter-based RNG (engine/ops/random.ts): Philox4x32-10 in exact 32-bit integer
// arithmetic, the exact f32 uniforms, and Box-Muller in float64 from those uniforms.

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** [hi, lo] of the 64-bit product of two u32 values, exact in doubles via 16-bit halves. */
function mulhilo(a: number, b: number): [number, number] {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = Math.floor(ll / 65536) + (lh % 65536) + (hl % 65536);
  const hi = hh + Math.floor(lh / 65536) + Math.floor(hl / 65536) + Math.floor(mid / 65536);
  return [hi >>> 0, Math.imul(a, b) >>> 0];
}

/** Philox4x32-10 of a 4-word counter under a 2-word key (Random123's philox4x32 with 10 rounds). */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((x) => x >>> 0) as [number, number, number, number];
  let [k0, k1] = [key[0] >>> 0, key[1] >>> 0];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo(M0, c0);
    const [hi1, lo1] = mulhilo(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/** The uniform in (0, 1) made from one Philox word: (2*(r >> 9) + 1) * 2^-24 (exactly representable in f32). */
export function unitFromBits(r: number): number {
  return (2 * (r >>> 9) + 1) * 2 ** -24;
}

function words(v: number | bigint): [number, number] {
  const b = BigInt(v);
  return [Number(b & 0xffffffffn), Number((b >> 32n) & 0xffffffffn)];
}

/** Philox words of elements offset .. offset+n-1 (row i = 4 words), as the GPU's philoxBits. */
export function philoxBitsRef(n: number, seed: number | bigint, offset: number | bigint = 0): Uint32Array {
  const key = words(seed);
  const out = new Uint32Array(4 * n);
  const base = BigInt(offset);
  for (let i = 0; i < n; i++) {
    const [lo, hi] = words(base + BigInt(i));
    out.set(philox4x32([lo, hi, 0, 0], key), 4 * i);
  }
  return out;
}

/** float64 Box-Muller of the same uniforms: z = sqrt(-2 ln u1) * cos(pi * (2 u2 - 1)). */
export function randnRef(n: number, seed: number | bigint, offset: number | bigint = 0, mean = 0, std = 1): Float64Array {
  const bits = philoxBitsRef(n, seed, offset);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u1 = unitFromBits(bits[4 * i]!);
    const u2 = unitFromBits(bits[4 * i + 1]!);
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(Math.PI * (2 * u2 - 1));
  }
  return out;
}

export function randRef(n: number, seed: number | bigint, offset: number | bigint = 0, mean = 0, std = 1): Float64Array {
  const bits = philoxBitsRef(n, seed, offset);
  return Float64Array.from({ length: n }, (_, i) => mean + std * unitFromBits(bits[4 * i]!));
}
