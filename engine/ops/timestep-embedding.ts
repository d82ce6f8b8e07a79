// Sinusoidal timestep embedding (shaders/embed.wgsl): [B] timesteps -> [B, dim] = [cos(t*e), sin(t*e)],
// e_i = exp(-ln(maxPeriod) * i / (dim/2)); Vchitect uses dim 256, maxPeriod 10000 (then timestep_embedder MLP).

import type { DType } from '../dtype.js';
import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

registerVariant({ op: 'timestep_embedding', name: 'timestep_embedding_sincos', spec: { kernel: 'embed' } });

export interface TimestepEmbeddingOptions {
  /** Embedding width (default 256). */
  dim?: number;
  maxPeriod?: number;
  dtype?: DType;
  out?: Tensor;
}

export function timestepEmbedding(t: Tensor, opts: TimestepEmbeddingOptions = {}): Tensor {
  const dim = opts.dim ?? 256;
  if (t.shape.length !== 1) throw new ShapeError(`timestepEmbedding: timesteps must be [B], got [${t.shape.join(', ')}]`);
  if (!Number.isInteger(dim) || dim < 2 || dim % 2) throw new ShapeError(`timestepEmbedding: dim must be a positive even integer, got ${dim}`);
  const B = t.shape[0]!;
  const dtype = opts.dtype ?? opts.out?.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`timestepEmbedding: output dtype must be f32 or f16, got ${dtype}`);
  const out = opts.out ?? Tensor.empty(t.device, [B, dim], dtype, 'timestep_embedding');
  if (out.shape.length !== 2 || out.shape[0] !== B || out.shape[1] !== dim || out.dtype !== dtype) {
    throw new ShapeError(`timestepEmbedding: out is ${out.dtype}[${out.shape.join(', ')}], expected ${dtype}[${B}, ${dim}]`);
  }
  const half = dim / 2;
  const n = B * dim;
  const device = t.device;
  device.dispatch({
    op: 'timestep_embedding',
    kernel: 'embed',
    defines: { TI: t.dtype, T: out.dtype },
    params: [u32(n), u32(half), f32(-Math.log(opts.maxPeriod ?? 10000) / half)],
    bindings: [t, out],
    workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}
