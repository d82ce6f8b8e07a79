// Gradient agreement as the training issue measures it (llm.c-style tensor-by-tensor check against a reference run):
// overall = ||g - r||_2 / ||r||_2 over all tensors together; per tensor = ||g_k - r_k||_2 / max(||r_k||_2, 1% of
// the mean tensor norm) (some gradients are nearly zero by symmetry, so they are judged against the typical size).
// Thresholds for f32 against PyTorch f32 autograd: 1e-4 overall, 1e-3 per tensor.

export const GRAD_TOLERANCE = { overall: 1e-4, perTensor: 1e-3 } as const;

export interface GradAgreement {
  /** Relative L2 error over every compared tensor together. */
  overall: number;
  /** Per tensor, sorted worst first. */
  perTensor: { name: string; rel: number; norm: number }[];
  /** Names in the reference that `got` lacks, and the reverse. */
  missing: string[];
  extra: string[];
  ok: boolean;
}

/** Compares gradients by name (every reference tensor must be present with the same element count). */
export function compareGradients(got: ReadonlyMap<string, ArrayLike<number>>, ref: ReadonlyMap<string, ArrayLike<number>>, tol = GRAD_TOLERANCE): GradAgreement {
  const missing = [...ref.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !ref.has(k));
  const names = [...ref.keys()].filter((k) => got.has(k));
  const rows: { name: string; diff2: number; norm2: number }[] = [];
  for (const k of names) {
    const g = got.get(k)!, r = ref.get(k)!;
    if (g.length !== r.length) throw new Error(`gradient ${k}: ${g.length} values but the reference has ${r.length}`);
    let d2 = 0, n2 = 0;
    for (let i = 0; i < r.length; i++) {
      const d = g[i]! - r[i]!;
      d2 += d * d;
      n2 += r[i]! * r[i]!;
    }
    rows.push({ name: k, diff2: d2, norm2: n2 });
  }
  const sumD = rows.reduce((s, x) => s + x.diff2, 0);
  const sumN = rows.reduce((s, x) => s + x.norm2, 0);
  const meanNorm = rows.length ? rows.reduce((s, x) => s + Math.sqrt(x.norm2), 0) / rows.length : 0;
  const floor = 0.01 * meanNorm;
  const perTensor = rows
    .map((x) => ({ name: x.name, norm: Math.sqrt(x.norm2), rel: Math.sqrt(x.diff2) / Math.max(Math.sqrt(x.norm2), floor, Number.MIN_VALUE) }))
    .sort((a, b) => b.rel - a.rel);
  const overall = sumN > 0 ? Math.sqrt(sumD / sumN) : Math.sqrt(sumD);
  const ok = missing.length === 0 && overall <= tol.overall && perTensor.every((x) => x.rel <= tol.perTensor);
  return { overall, perTensor, missing, extra, ok };
}
