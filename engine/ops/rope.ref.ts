// Float64 reference of interleaved RoPE (engine/ops/rope.ts): the complex rotation of pairs (x[2j], x[2j+1]) by
// pos * theta^(-2j/hd), position taken along `axis` of a row-major tensor whose last axis is H*hd; and its backward.

export function ropeRef(x: ArrayLike<number>, shape: readonly number[], headDim: number, positions: ArrayLike<number>, axis: number, theta = 1e6): Float64Array {
  const r = shape.length;
  const D = shape[r - 1]!;
  let inner = 1;
  for (let i = axis + 1; i < r - 1; i++) inner *= shape[i]!;
  const out = new Float64Array(x.length);
  for (let row = 0; row < x.length / D; row++) {
    const pos = positions[Math.floor(row / inner) % shape[axis]!]!;
    for (let c = 0; c < D; c += 2) {
      const j = (c % headDim) / 2;
      const a = pos * theta ** ((-2 * j) / headDim);
      const [x0, x1] = [x[row * D + c]!, x[row * D + c + 1]!];
      out[row * D + c] = x0 * Math.cos(a) - x1 * Math.sin(a);
      out[row * D + c + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
    }
  }
  return out;
}

/** Backward of ropeRef: a rotation's transpose is the rotation by the negative angle. */
export function ropeBackwardRef(dy: ArrayLike<number>, shape: readonly number[], headDim: number, positions: ArrayLike<number>, axis: number, theta = 1e6): Float64Array {
  return ropeRef(dy, shape, headDim, Array.from(positions, (p) => -p), axis, theta);
}
