// Shared variant contract of the row-wise kernels (layernorm, rmsnorm, softmax, reduce): a workgroup holds ROWS
// rows of TPR threads each. Registers the standard `<op>_row` / `<op>_multirow` pair and picks one for a row width.

import type { Device } from '../gpu/device.js';
import { pickVariant, registerVariant, variants, type Variant } from './registry.js';

export interface RowSpec {
  /** Rows handled by one workgroup. */
  rows: number;
  /** Threads per row (a power of two); workgroup size = rows * threadsPerRow. */
  threadsPerRow: number;
  /** Reduce each row with subgroup shuffles (no shared memory, no barriers). */
  subgroup?: boolean;
}

/**
 * `<op>_row`: one workgroup of 256 threads per row (few, very wide rows); `<op>_multirow`: 8 rows of 32 threads (a
 * warp per row on GPUs); `<op>_narrow`: 32 rows of 8 threads (CPU adapters: lavapipe pays per barrier and per
 * reduction level, so short trees win by 5-20x there).
 */
export function registerRowVariants(op: string): void {
  registerVariant<RowSpec>({ op, name: `${op}_row`, spec: { rows: 1, threadsPerRow: 256 }, priority: 1 });
  registerVariant<RowSpec>({ op, name: `${op}_multirow`, spec: { rows: 8, threadsPerRow: 32 }, priority: 0 });
  registerVariant<RowSpec>({ op, name: `${op}_narrow`, spec: { rows: 32, threadsPerRow: 8 }, priority: 0 });
  registerVariant<RowSpec>({
    op, name: `${op}_subgroup`, spec: { rows: 32, threadsPerRow: 8, subgroup: true }, priority: 0,
    available: (device) => subgroupFits(device, 8),
  });
}

/** Subgroups are usable for rows of `threadsPerRow` lanes: the feature is on and the smallest size is a multiple. */
export function subgroupFits(device: Device, threadsPerRow: number): boolean {
  if (!device.caps.subgroups) return false;
  const info = (device.gpu as GPUDevice & { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
  const min = info?.subgroupMinSize ?? 0;
  return min >= threadsPerRow && min % threadsPerRow === 0;
}

/** Loads per thread the automatic choice aims for on GPUs. */
const LOADS_PER_THREAD = 4;

/** Whether the adapter is a CPU implementation (lavapipe / llvmpipe / SwiftShader). */
export function isCpuAdapter(device: Device): boolean {
  const a = device.adapter;
  return a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|cpu/i.test(`${a.description} ${a.device} ${a.backend}`);
}

/**
 * The variant to run for rows of `widthLoads` loads (elements / VEC): an explicit name or PARALLAX_KERNEL_<OP> wins;
 * on CPU adapters the fewest threads per row; otherwise the most threads per row that still gives every thread
 * about LOADS_PER_THREAD loads (D = 1536 f32 -> multirow, D = 4096 -> row).
 */
export function pickRowVariant(op: string, device: Device, widthLoads: number, name?: string): Variant<RowSpec> {
  const envName = typeof process !== 'undefined' ? process.env?.[`PARALLAX_KERNEL_${op.toUpperCase()}`] : undefined;
  if (name ?? envName) return pickVariant<RowSpec>(op, device, name);
  const list = variants<RowSpec>(op, device);
  if (!list.length) return pickVariant<RowSpec>(op, device);
  // Among variants with equal threads per row, the subgroup one (no barriers at all) ranks first.
  const tie = (v: Variant<RowSpec>) => (v.spec.subgroup ? 0 : 1);
  const narrowest = (vs: Variant<RowSpec>[]) => vs.reduce((a, b) => (2 * b.spec.threadsPerRow + tie(b) < 2 * a.spec.threadsPerRow + tie(a) ? b : a));
  const widest = (vs: Variant<RowSpec>[]) => vs.reduce((a, b) => (2 * b.spec.threadsPerRow - tie(b) > 2 * a.spec.threadsPerRow - tie(a) ? b : a));
  if (isCpuAdapter(device)) return narrowest(list);
  const fits = list.filter((v) => v.spec.threadsPerRow * LOADS_PER_THREAD <= widthLoads);
  return fits.length ? widest(fits) : narrowest(list);
}

/** Row-kernel defines shared by every row op. */
export function rowDefines(spec: RowSpec, vec: 1 | 4): Record<string, number | boolean> {
  return { ROWS: spec.rows, TPR: spec.threadsPerRow, VEC: vec, VEC4: vec === 4, SUBGROUP: !!spec.subgroup };
}
