// Float64 reference of the sinusoidal timestep embedding (engine/ops/timestep-embedding.ts).

export function timestepEmbeddingRef(t: ArrayLike<number>, dim = 256, maxPeriod = 10000): Float64Array {
  const half = dim / 2;
  const out = new Float64Array(t.length * dim);
  for (let b = 0; b < t.length; b++) {
    for (let i = 0; i < half; i++) {
      const a = t[b]! * Math.exp((-Math.log(maxPeriod) * i) / half);
      out[b * dim + i] = Math.cos(a);
      out[b * dim + half + i] = Math.sin(a);
    }
  }
  return out;
}
