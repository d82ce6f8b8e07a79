// GroupNorm on GPU tensors x [N, C, H, W] (or [C, H, W], or [N, C, ...]) with affine and optional fused SiLU,
// as a two-stage reduction (chunk partials, per-group combine) plus an apply pass. Kernel: shaders/groupnorm.wgsl.

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { pickVariant, registerVariant } from './registry.js';
import { isCpuAdapter } from './row-variants.js';

export interface GroupNormSpec {
  /** Threads of the STATS and COMBINE workgroups (a power of two). */
  threads: number;
  /** Loads (VEC elements) reduced by one STATS workgroup. */
  chunkLoads: number;
}

/**
 * `groupnorm_chunked`: 256 threads x 8 loads per chunk (GPUs: many partials, full occupancy); `groupnorm_wide`:
 * 256 x 32 (fewer partials); `groupnorm_narrow`: 16 threads x 128 loads (CPU adapters, where every workgroup and
 * barrier costs; picked automatically there).
 */
registerVariant<GroupNormSpec>({ op: 'groupnorm', name: 'groupnorm_chunked', spec: { threads: 256, chunkLoads: 256 * 8 }, priority: 1 });
registerVariant<GroupNormSpec>({ op: 'groupnorm', name: 'groupnorm_wide', spec: { threads: 256, chunkLoads: 256 * 32 }, priority: 0 });
registerVariant<GroupNormSpec>({ op: 'groupnorm', name: 'groupnorm_narrow', spec: { threads: 16, chunkLoads: 16 * 128 }, priority: 0 });

/** Loads per APPLY workgroup (256 threads x 8). */
const APPLY_TILE = 256 * 8;

export interface GroupNormOptions {
  /** Apply SiLU after the affine (the VAE's GroupNorm + SiLU). */
  silu?: boolean;
  out?: Tensor;
  variant?: string;
}

/**
 * GroupNorm(groups) over x with biased variance computed in f32: channels split into `groups` consecutive groups,
 * statistics per (batch item, group) over the group's channels and all spatial positions.
 */
export function groupNorm(x: Tensor, groups: number, eps: number, weight: Tensor | null, bias: Tensor | null, opts: GroupNormOptions = {}): Tensor {
  const device = x.device;
  const shape = x.shape;
  const desc = `x ${x.dtype}[${shape.join(', ')}]`;
  if (shape.length < 3) throw new ShapeError(`groupNorm: ${desc} must be [C, H, W] or [N, C, ...spatial]`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`groupNorm: ${desc} must be f32 or f16`);
  const [n, c] = shape.length === 3 ? [1, shape[0]!] : [shape[0]!, shape[1]!];
  const s = x.numel / Math.max(n * c, 1);
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new ShapeError(`groupNorm: ${groups} groups must divide the ${c} channels of ${desc}`);
  }
  if (!(eps >= 0)) throw new ShapeError(`groupNorm: eps must be >= 0, got ${eps}`);
  if (!!weight !== !!bias) throw new ShapeError('groupNorm: pass both weight and bias, or neither');
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && (t.numel !== c || (t.dtype !== 'f32' && t.dtype !== 'f16'))) {
      throw new ShapeError(`groupNorm: ${name} ${t.dtype}[${t.shape.join(', ')}] must be a float vector of ${c} channels (${desc})`);
    }
  }
  if (weight && bias && weight.dtype !== bias.dtype) throw new ShapeError(`groupNorm: weight (${weight.dtype}) and bias (${bias.dtype}) must share a dtype`);
  const out = opts.out ?? Tensor.empty(device, shape, x.dtype, 'groupNorm');
  if (out.numel !== x.numel || out.dtype !== x.dtype) throw new ShapeError(`groupNorm: out ${out.dtype}[${out.shape.join(', ')}] must match ${desc}`);
  if (out.buffer === x.buffer) throw new ShapeError('groupNorm: out must not alias x; pass a fresh tensor');
  if (x.numel === 0) return out;

  const { stats, params, common, maxWg } = groupNormStats(x, n, c, groups, eps, weight?.dtype ?? 'f32', opts.variant);
  const applyVec: 1 | 4 = s % 4 === 0 ? 4 : 1;

  // Planes of fewer than 512 loads would leave most of a per-plane workgroup idle: use the flat apply grid (also
  // when the planes do not fit one grid dimension).
  const flat = s / applyVec < 512 || n * c > maxWg;
  device.dispatch({
    op: 'groupNorm', kernel: 'groupnorm',
    defines: { ...common, APPLY: true, VEC: applyVec, VEC4: applyVec === 4, AFFINE: !!weight, SILU: !!opts.silu, FLAT: flat },
    params: params(applyVec), bindings: weight && bias ? [x, stats, weight, bias, out] : [x, stats, out],
    workgroups: flat ? grid2D(ceilDiv(x.numel / applyVec, APPLY_TILE), maxWg) : [ceilDiv(s / applyVec, APPLY_TILE), n * c],
  });
  stats.dispose();
  return out;
}

/**
 * The STATS and COMBINE stages: {mean, rstd} per (item, group) as a [N*G, 2] f32 tensor (the caller disposes it);
 * also what groupNormBackward recomputes. Returns the stage parameters the APPLY stage shares.
 */
export function groupNormStats(x: Tensor, n: number, c: number, groups: number, eps: number, weightDType: string, variant?: string) {
  const device = x.device;
  const s = x.numel / Math.max(n * c, 1);
  const envName = typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_GROUPNORM : undefined;
  const v = !variant && !envName && isCpuAdapter(device)
    ? pickVariant<GroupNormSpec>('groupnorm', device, 'groupnorm_narrow')
    : pickVariant<GroupNormSpec>('groupnorm', device, variant);
  const cpg = c / groups;
  const groupLen = cpg * s;
  const ng = n * groups;
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;
  const statVec: 1 | 4 = groupLen % 4 === 0 ? 4 : 1;
  const groupLenV = groupLen / statVec;
  const chunks = ceilDiv(groupLenV, v.spec.chunkLoads);
  const params = (vec: number) => [u32(groupLenV), u32(v.spec.chunkLoads), u32(chunks), u32(ng), u32(s), u32(c), u32(cpg),
    u32(x.numel / vec), f32(eps), f32(groupLen)];
  const common = { T: x.dtype, TW: weightDType, WG: v.spec.threads };
  const partials = Tensor.empty(device, [ng * chunks, 4], 'f32', 'groupNorm partials');
  const stats = Tensor.empty(device, [ng, 2], 'f32', 'groupNorm stats');
  device.dispatch({
    op: 'groupNorm', kernel: 'groupnorm', defines: { ...common, STATS: true, VEC: statVec, VEC4: statVec === 4 },
    params: params(statVec), bindings: [x, partials], workgroups: grid2D(ng * chunks, maxWg),
  });
  device.dispatch({
    op: 'groupNorm', kernel: 'groupnorm', defines: { ...common, COMBINE: true, VEC: 1, VEC4: false },
    params: params(1), bindings: [partials, stats], workgroups: grid2D(ng, maxWg),
  });
  partials.dispose();
  return { stats, params, common, maxWg };
}
