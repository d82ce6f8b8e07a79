// The weight and bias gradients of linear (dw = dz^T x [N, K], db = column sums of dz [N]) as one op with variants:
// 'linear_dw_regs' computes both in one dispatch straight from dz and x (shaders/linear_dw.wgsl; the default on CPU
// adapters, where every dispatch and every transpose copy costs ~0.1 ms), 'linear_dw_matmul' transposes dz and runs
// the matmul op plus the two-pass column sums (the default on GPUs, whose tiled matmuls win on large problems).
// Every sum has a fixed order, so both are bit-identical run to run.

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { columnSums } from './colsum.js';
import { transpose } from './layout.js';
import { matmul, subgroupSharingOn } from './matmul.js';
import { registerVariant, variants, type TuneSettings, type Variant } from './registry.js';
import { isCpuAdapter, subgroupFits } from './row-variants.js';
import type { Device } from '../gpu/device.js';

export const LINEAR_DW_OP = 'linear_dw';

export interface LinearDwSpec {
  /** The adapter kind whose default this variant is. */
  defaultOn: 'cpu' | 'gpu';
  /** Default defines of the single-pass kernel (absent for the composite matmul path). */
  defines?: Record<string, number | boolean>;
}

const REGS = { TN: 8, WG: 16, FMA: false, SG: true };
registerVariant<LinearDwSpec>({
  op: LINEAR_DW_OP, name: 'linear_dw_regs', priority: 5,
  spec: { defaultOn: 'cpu', defines: REGS },
  tune: { params: { TN: [4, 8, 16], WG: [8, 16, 32], FMA: [false, true], SG: [true, false] } },
});
registerVariant<LinearDwSpec>({
  op: LINEAR_DW_OP, name: 'linear_dw_matmul', priority: 10,
  spec: { defaultOn: 'gpu' },
});

/** The dw variants available on a device (tests loop over these). */
export function linearDwVariants(device: Device): Variant<LinearDwSpec>[] {
  return variants<LinearDwSpec>(LINEAR_DW_OP, device);
}

/** An explicit name, else PARALLAX_KERNEL_LINEAR_DW, else the adapter kind's default. */
export function chooseLinearDwVariant(device: Device, name?: string): Variant<LinearDwSpec> {
  const want = name ?? (typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_LINEAR_DW : undefined);
  const list = linearDwVariants(device);
  if (want) {
    const v = list.find((x) => x.name === want);
    if (!v) throw new Error(`No variant '${want}' of op ${LINEAR_DW_OP}; known: ${list.map((x) => x.name).join(', ')}`);
    return v;
  }
  const kind = isCpuAdapter(device) ? 'cpu' : 'gpu';
  return list.find((v) => v.spec.defaultOn === kind) ?? list.reduce((a, b) => ((b.priority ?? 0) > (a.priority ?? 0) ? b : a));
}

/** Whether linear_dw_regs can share its dz values over subgroups (SG): a CPU adapter with subgroups of 8 to WG lanes, TN = 8. */
function dwSubgroups(device: Device, TN: number, WG: number): boolean {
  if (!subgroupSharingOn()) return false;
  const info = (device.gpu as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lo = info?.subgroupMinSize ?? 0, hi = info?.subgroupMaxSize ?? 0;
  return isCpuAdapter(device) && subgroupFits(device, 8) && hi <= WG && hi % lo === 0 && TN === 8 && WG % 8 === 0;
}

export interface LinearDwOptions {
  /** Also compute db (default true). */
  bias?: boolean;
  /** Force a variant (else PARALLAX_KERNEL_LINEAR_DW, else the adapter kind's default). */
  variant?: string;
  /** Settings over the variant's defines (tests, the tuner). */
  settings?: TuneSettings;
  /** Write into these f32 tensors ([N, K] and [N]) instead of allocating. */
  dwOut?: Tensor;
  dbOut?: Tensor;
}

/** dw = dz^T x [N, K] f32 and db = sum over rows of dz [N] f32 for dz [M, N], x [M, K]; the caller disposes them. */
export function linearWeightGrad(dz: Tensor, x: Tensor, opts: LinearDwOptions = {}): { dw: Tensor; db?: Tensor } {
  const device = dz.device;
  if (dz.shape.length !== 2 || x.shape.length !== 2 || dz.shape[0] !== x.shape[0]) {
    throw new ShapeError(`linear_dw: dz [${dz.shape.join(', ')}] and x [${x.shape.join(', ')}] must be [M, N] and [M, K] with the same M`);
  }
  for (const t of [dz, x]) {
    if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`linear_dw: tensor [${t.shape.join(', ')}] has dtype ${t.dtype}; only f32 and f16 are supported`);
  }
  const [M, N] = dz.shape as [number, number];
  const K = x.shape[1]!;
  const bias = opts.bias !== false;
  for (const [name, t, shape] of [['dwOut', opts.dwOut, [N, K]], ['dbOut', opts.dbOut, [N]]] as const) {
    if (t && (t.dtype !== 'f32' || t.shape.join(',') !== shape.join(','))) {
      throw new ShapeError(`linear_dw: ${name} is [${t.shape.join(', ')}] ${t.dtype}, expected [${shape.join(', ')}] f32`);
    }
  }
  const v = chooseLinearDwVariant(device, opts.variant);
  const bindable = Math.max(dz.byteLength, x.byteLength, N * K * 4) <= device.caps.maxStorageBufferBindingSize;
  if (v.name === 'linear_dw_matmul' || !bindable || K === 0 || N === 0) {
    const dzT = transpose(dz, 0, 1);
    const dw = matmul(dzT, x, { dtype: 'f32', out: opts.dwOut });
    dzT.dispose();
    return { dw, db: bias ? columnSums(dz, { out: opts.dbOut }, 'linear_bias_backward') : undefined };
  }
  const d = { ...REGS, ...v.spec.defines, ...opts.settings };
  const TN = Number(d.TN), WG = Number(d.WG);
  const dw = opts.dwOut ?? Tensor.empty(device, [N, K], 'f32', 'linear_dw');
  const db = bias ? opts.dbOut ?? Tensor.empty(device, [N], 'f32', 'linear_db') : undefined;
  device.dispatch({
    op: LINEAR_DW_OP,
    kernel: 'linear_dw',
    defines: { TA: dz.dtype, TB: x.dtype, VEC_X: K % 4 === 0, HAS_DB: bias, TN, WG, FMA: !!d.FMA, SG: d.SG !== false && dwSubgroups(device, TN, WG) },
    params: [u32(M), u32(N), u32(K)],
    bindings: db ? [dz, x, dw, db] : [dz, x, dw],
    workgroups: [ceilDiv(K, 4 * WG), ceilDiv(N, TN), 1],
    flops: 2 * M * N * K + (bias ? M * N : 0),
  });
  return { dw, db };
}
