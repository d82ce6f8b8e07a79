// Float64 CPU reference of GroupNorm (+ optional SiLU) over x [N, C, S] (engine/ops/groupnorm.ts), from the math; and its backward.

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

/** Backward of groupNormRef: SiLU's derivative first, then LayerNorm's backward over each group's values. */
export function groupNormBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, n: number, c: number, groups: number, eps: number,
  weight?: ArrayLike<number>, bias?: ArrayLike<number>, silu = false): { dx: Float64Array; dweight?: Float64Array; dbias?: Float64Array } {
  const s = x.length / (n * c);
  const cpg = c / groups;
  const len = cpg * s;
  const dx = new Float64Array(x.length);
  const dweight = weight ? new Float64Array(c) : undefined;
  const dbias = bias ? new Float64Array(c) : undefined;
  const xhat = new Float64Array(len);
  const dxhat = new Float64Array(len);
  for (let g = 0; g < n * groups; g++) {
    const base = g * len;
    let mean = 0;
    for (let i = 0; i < len; i++) mean += x[base + i]!;
    mean /= len;
    let v = 0;
    for (let i = 0; i < len; i++) v += (x[base + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / len + eps);
    let m1 = 0, m2 = 0;
    for (let i = 0; i < len; i++) {
      const ch = (g % groups) * cpg + Math.floor(i / s);
      xhat[i] = (x[base + i]! - mean) * rstd;
      const affine = weight && bias;
      const pre = affine ? xhat[i]! * weight[ch]! + bias[ch]! : xhat[i]!;
      let d = dy[base + i]!;
      if (silu) {
        const sg = 1 / (1 + Math.exp(-pre));
        d *= sg * (1 + pre * (1 - sg));
      }
      if (affine) {
        dbias![ch] += d;
        dweight![ch] += d * xhat[i]!;
        d *= weight[ch]!;
      }
      dxhat[i] = d;
      m1 += d;
      m2 += d * xhat[i]!;
    }
    m1 /= len;
    m2 /= len;
    for (let i = 0; i < len; i++) dx[base + i] = rstd * (dxhat[i]! - m1 - xhat[i]! * m2);
  }
  return { dx, dweight, dbias };
}
