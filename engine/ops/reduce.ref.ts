// Float64 CPU references of the reductions (engine/ops/reduce.ts): per row of length d, or over everything (d = n).

import type { ReduceKind } from './reduce.js';

export function reduceRef(kind: ReduceKind, x: ArrayLike<number>, d: number): Float64Array {
  const rows = x.length / d;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = kind === 'max' ? -Infinity : 0;
    for (let i = 0; i < d; i++) {
      const v = x[r * d + i]!;
      if (kind === 'max') acc = Math.max(acc, v);
      else acc += kind === 'l2norm' ? v * v : v;
    }
    out[r] = kind === 'mean' ? acc / d : kind === 'l2norm' ? Math.sqrt(acc) : acc;
  }
  return out;
}
