// Float64 CPU references of LayerNorm (affine, adaLN modulation) and RMSNorm (engine/ops/norm.ts), from the math; and their backwards.

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

export interface LayerNormGradsRef {
  dx: Float64Array;
  dweight?: Float64Array;
  dbias?: Float64Array;
  /** Gradients of the modulation inputs, shaped like mod.scale / mod.shift (zero outside the used values). */
  dscale?: Float64Array;
  dshift?: Float64Array;
}

/**
 * Backward of layerNormRef (training.md section 2). With xhat = (x - mean) rstd, y' = xhat w + b and
 * y = y' (1 + scale) + shift: dshift = sum of dy, dscale = sum of dy y', dy' = dy (1 + scale), dw = sum of dy' xhat,
 * db = sum of dy', dxhat = dy' w, dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)).
 */
export function layerNormBackwardRef(x: ArrayLike<number>, d: number, eps: number, dy: ArrayLike<number>, weight?: ArrayLike<number>, bias?: ArrayLike<number>, mod?: ModulationRef): LayerNormGradsRef {
  const rows = x.length / d;
  const dx = new Float64Array(x.length);
  const dweight = weight ? new Float64Array(d) : undefined;
  const dbias = bias ? new Float64Array(d) : undefined;
  const dscale = mod ? new Float64Array(mod.scale.length) : undefined;
  const dshift = mod ? new Float64Array(mod.shift.length) : undefined;
  const xhat = new Float64Array(d);
  const dxhat = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i]!;
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / d + eps);
    const item = mod ? Math.floor(r / (rows / mod.items)) : 0;
    let m1 = 0, m2 = 0;
    for (let i = 0; i < d; i++) {
      xhat[i] = (x[r * d + i]! - mean) * rstd;
      let g = dy[r * d + i]!;
      if (mod) {
        const si = item * mod.k + (mod.scaleOffset ?? 0) + i;
        const yPre = xhat[i]! * (weight ? weight[i]! : 1) + (bias ? bias[i]! : 0);
        dshift![item * mod.k + (mod.shiftOffset ?? 0) + i] += g;
        dscale![si] += g * yPre;
        g *= 1 + mod.scale[si]!;
      }
      if (dbias) dbias[i] += g;
      if (dweight) dweight[i] += g * xhat[i]!;
      dxhat[i] = g * (weight ? weight[i]! : 1);
      m1 += dxhat[i]!;
      m2 += dxhat[i]! * xhat[i]!;
    }
    m1 /= d;
    m2 /= d;
    for (let i = 0; i < d; i++) dx[r * d + i] = rstd * (dxhat[i]! - m1 - xhat[i]! * m2);
  }
  return { dx, dweight, dbias, dscale, dshift };
}

/** Backward of rmsNormRef: with r = rstd and g = w dy: dx = r (g - x r^2 mean(g x)); dw = sum over rows of dy x r. */
export function rmsNormBackwardRef(x: ArrayLike<number>, d: number, eps: number, dy: ArrayLike<number>, weight?: ArrayLike<number>): { dx: Float64Array; dweight?: Float64Array } {
  const rows = x.length / d;
  const dx = new Float64Array(x.length);
  const dweight = weight ? new Float64Array(d) : undefined;
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i]! ** 2;
    const rstd = 1 / Math.sqrt(ss / d + eps);
    let mgx = 0;
    for (let i = 0; i < d; i++) {
      const g = dy[r * d + i]! * (weight ? weight[i]! : 1);
      mgx += g * x[r * d + i]!;
      if (dweight) dweight[i] += dy[r * d + i]! * x[r * d + i]! * rstd;
    }
    mgx /= d;
    for (let i = 0; i < d; i++) {
      const g = dy[r * d + i]! * (weight ? weight[i]! : 1);
      dx[r * d + i] = rstd * (g - x[r * d + i]! * rstd * rstd * mgx);
    }
  }
  return { dx, dweight };
}
