// Float64 CPU reference of GroupNorm (+ optional SiLU) over x [N, C, S] (engine/ops/groupnorm.ts), from the math.

export function groupNormRef(x: ArrayLike<number>, n: number, c: number, groups: number, eps: number,
  weight?: ArrayLike<number>, bias?: ArrayLike<number>, silu = false): Float64Array {
  const s = x.length / (n * c);
  const cpg = c / groups;
  const len = cpg * s;
  const out = new Float64Array(x.length);
  for (let g = 0; g < n * groups; g++) {
    const base = g * len;
    let mean = 0;
    for (let i = 0; i < len; i++) mean += x[base + i]!;
    mean /= len;
    let v = 0;
    for (let i = 0; i < len; i++) v += (x[base + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / len + eps);
    for (let i = 0; i < len; i++) {
      const ch = ((g % groups) * cpg) + Math.floor(i / s);
      let y = (x[base + i]! - mean) * rstd;
      if (weight && bias) y = y * weight[ch]! + bias[ch]!;
      if (silu) y = y / (1 + Math.exp(-y));
      out[base + i] = y;
    }
  }
  return out;
}
