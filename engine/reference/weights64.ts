// Named float64 weight lookup for the reference models: a Map or a getter, with shape checks and clear errors.
import type { Tensor64 } from './tensor64.js';

/** Weights keyed by the real checkpoint names (e.g. `transformer_blocks.0.attn.to_q.weight`). */
export type WeightSource64 = Map<string, Tensor64> | ((name: string) => Tensor64 | undefined);

export function hasWeight64(src: WeightSource64, name: string): boolean {
  return (src instanceof Map ? src.get(name) : src(name)) !== undefined;
}

/** Fetch a weight; throws naming the key (and the expected shape) when missing or mis-shaped. */
export function getWeight64(src: WeightSource64, name: string, shape?: readonly number[]): Tensor64 {
  const t = src instanceof Map ? src.get(name) : src(name);
  if (t === undefined) {
    throw new Error(`missing weight "${name}"${shape ? ` (expected shape [${shape.join(',')}])` : ''}`);
  }
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new Error(`weight "${name}": expected shape [${shape.join(',')}], got [${t.shape.join(',')}]`);
  }
  return t;
}

/** Optional weight: undefined when absent, shape-checked when present. */
export function getOptionalWeight64(src: WeightSource64, name: string, shape?: readonly number[]): Tensor64 | undefined {
  return hasWeight64(src, name) ? getWeight64(src, name, shape) : undefined;
}
