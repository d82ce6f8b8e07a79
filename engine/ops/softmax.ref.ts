// Float64 CPU reference of softmax along one axis (engine/ops/softmax.ts), from the math; and its backward.

export function softmaxRef(x: ArrayLike<number>, shape: readonly number[], axis = -1): Float64Array {
  const ax = axis < 0 ? axis + shape.length : axis;
  const k = shape[ax]!;
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const out = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const at = (i: number) => o * k * inner + i * inner + j;
      let m = -Infinity;
      for (let i = 0; i < k; i++) m = Math.max(m, x[at(i)]!);
      let s = 0;
      for (let i = 0; i < k; i++) s += Math.exp(x[at(i)]! - m);
      for (let i = 0; i < k; i++) out[at(i)] = Math.exp(x[at(i)]! - m) / s;
    }
  }
  return out;
}

/** Backward of softmaxRef: dx = y (dy - sum along the axis of dy y). */
export function softmaxBackwardRef(x: ArrayLike<number>, dy: ArrayLike<number>, shape: readonly number[], axis = -1): Float64Array {
  const y = softmaxRef(x, shape, axis);
  const ax = axis < 0 ? axis + shape.length : axis;
  const k = shape[ax]!;
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, ax).reduce((a, b) => a * b, 1);
  const dx = new Float64Array(x.length);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < inner; j++) {
      const at = (i: number) => o * k * inner + i * inner + j;
      let s = 0;
      for (let i = 0; i < k; i++) s += dy[at(i)]! * y[at(i)]!;
      for (let i = 0; i < k; i++) dx[at(i)] = y[at(i)]! * (dy[at(i)]! - s);
    }
  return dx;
}
