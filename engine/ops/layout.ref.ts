// Float64 references of the layout ops (engine/ops/layout.ts) on flat row-major arrays.

function strides(shape: readonly number[]): number[] {
  const s = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** Calls fn(index, linear) for every multi-index of shape in row-major order. */
function forEachIndex(shape: readonly number[], fn: (idx: number[], linear: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = shape.map(() => 0);
  for (let l = 0; l < n; l++) {
    fn(idx, l);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k]! < shape[k]!) break;
      idx[k] = 0;
    }
  }
}

const at = (x: ArrayLike<number>, shape: readonly number[], idx: readonly number[]) => {
  const s = strides(shape);
  return x[idx.reduce((acc, v, i) => acc + v * s[i]!, 0)]!;
};

export function permuteRef(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const outShape = perm.map((p) => shape[p]!);
  const out = new Float64Array(x.length);
  forEachIndex(outShape, (idx, l) => {
    const src = new Array<number>(shape.length);
    perm.forEach((p, i) => (src[p] = idx[i]!));
    out[l] = at(x, shape, src);
  });
  return out;
}

export function sliceRef(x: ArrayLike<number>, shape: readonly number[], axis: number, start: number, end: number): Float64Array {
  const outShape = shape.map((d, i) => (i === axis ? end - start : d));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  forEachIndex(outShape, (idx, l) => (out[l] = at(x, shape, idx.map((v, i) => (i === axis ? v + start : v)))));
  return out;
}

export function concatRef(xs: { data: ArrayLike<number>; shape: readonly number[] }[], axis: number): Float64Array {
  const outShape = xs[0]!.shape.map((d, i) => (i === axis ? xs.reduce((s, t) => s + t.shape[axis]!, 0) : d));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  forEachIndex(outShape, (idx, l) => {
    let k = idx[axis]!;
    let j = 0;
    while (k >= xs[j]!.shape[axis]!) k -= xs[j++]!.shape[axis]!;
    out[l] = at(xs[j]!.data, xs[j]!.shape, idx.map((v, i) => (i === axis ? k : v)));
  });
  return out;
}

export function broadcastRef(x: ArrayLike<number>, shape: readonly number[], to: readonly number[]): Float64Array {
  const k = to.length - shape.length;
  const out = new Float64Array(to.reduce((a, b) => a * b, 1));
  forEachIndex(to, (idx, l) => (out[l] = at(x, shape, shape.map((d, i) => (d === 1 ? 0 : idx[i + k]!)))));
  return out;
}

export function padRef(x: ArrayLike<number>, shape: readonly number[], axis: number, size: number): Float64Array {
  const outShape = shape.map((d, i) => (i === axis ? size : d));
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  forEachIndex(outShape, (idx, l) => (out[l] = idx[axis]! < shape[axis]! ? at(x, shape, idx) : 0));
  return out;
}

export function gatherRowsRef(table: ArrayLike<number>, V: number, D: number, ids: ArrayLike<number>): Float64Array {
  const out = new Float64Array(ids.length * D);
  for (let s = 0; s < ids.length; s++) for (let d = 0; d < D; d++) out[s * D + d] = ids[s]! < V ? table[ids[s]! * D + d]! : 0;
  return out;
}
