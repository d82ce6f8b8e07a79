// Float64 CPU references of LayerNorm (affine, adaLN modulation) and RMSNorm (engine/ops/norm.ts), from the math.

export interface ModulationRef {
  scale: ArrayLike<number>;
  shift: ArrayLike<number>;
  /** Items (modulation vectors); rows are split evenly between them. */
  items: number;
  /** Values per item (K) and where the D used values start. */
  k: number;
  scaleOffset?: number;
  shiftOffset?: number;
}

export function layerNormRef(x: ArrayLike<number>, d: number, eps: number, weight?: ArrayLike<number>, bias?: ArrayLike<number>, mod?: ModulationRef): Float64Array {
  const rows = x.length / d;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i]!;
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / d + eps);
    const item = mod ? Math.floor(r / (rows / mod.items)) : 0;
    for (let i = 0; i < d; i++) {
      let y = (x[r * d + i]! - mean) * rstd;
      if (weight) y *= weight[i]!;
      if (bias) y += bias[i]!;
      if (mod) y = y * (1 + mod.scale[item * mod.k + (mod.scaleOffset ?? 0) + i]!) + mod.shift[item * mod.k + (mod.shiftOffset ?? 0) + i]!;
      out[r * d + i] = y;
    }
  }
  return out;
}

export function rmsNormRef(x: ArrayLike<number>, d: number, eps: number, weight?: ArrayLike<number>): Float64Array {
  const rows = x.length / d;
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i]! ** 2;
    const rstd = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) out[r * d + i] = x[r * d + i]! * rstd * (weight ? weight[i]! : 1);
  }
  return out;
}
