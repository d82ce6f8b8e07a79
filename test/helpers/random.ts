// Seeded random inputs for tests: uniform and normal Float64Arrays, and awkward sizes (not tile multiples).
import { mulberry32 } from '../../engine/mulberry32.js';

/** Mulberry32 from a seed (0 is taken as 1). */
export function rng(seed: number): () => number {
  return mulberry32(seed >>> 0 || 1);
}

export function uniform(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

export function normal(n: number, seed: number, std = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Values as the GPU will see them after upload in a dtype (f16 rounding), so references use the same inputs. */
export { roundToF16 } from '../../engine/dtype.js';
