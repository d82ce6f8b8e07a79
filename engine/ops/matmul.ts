// Batched matmul on GPU tensors and the shared matmul kernel driver (used by linear): shape checks, variant
// choice, fused-epilogue defines, and transparent splitting along rows when a binding exceeds the device limit.
// Kernels: shaders/matmul_*.wgsl, one per variant, all honouring the contract in shaders/matmul_tiled.wgsl.

import { bytesPerElement, type DType } from '../dtype.js';
import { u32, type Bindable, type Device } from '../gpu/device.js';
import { LimitExceededError, ShapeError } from '../gpu/errors.js';
import { ceilDiv } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import type { Defines } from '../gpu/shader-source.js';
import { pickVariant, registerVariant, variants, type TuneSettings, type TuneValue, type Variant } from './registry.js';
import { isCpuAdapter, subgroupFits } from './row-variants.js';
import { noteProblem, tunedChoice } from './tuning.js';

/** The shape of one matmul problem as a variant sees it (after flattening). */
export interface MatmulShape {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** b stored [N, K] (weights, transposeB) rather than [K, N]. */
  bNK: boolean;
}

/** What a matmul variant registers: its kernel file, default defines and its grid. */
export interface MatmulKernelSpec {
  /** Shader file stem in shaders/. */
  kernel: string;
  /** Default tile defines (the tuner may override any of them with a TuneSettings of the same names). */
  defines?: Defines;
  /** Per-adapter defaults layered over `defines` (e.g. smaller tiles on CPU adapters). */
  definesFor?(device: Device): Defines;
  /** Per-shape defaults layered over those when the choice is not tuned. Only for settings that leave each
   *  output's reduction order unchanged (so that parallel ranks with other row counts stay bit-identical). */
  definesForShape?(s: MatmulShape): Defines;
  /** Workgroup grid [x, y, z] for a problem under the effective tile defines `d`. */
  workgroups(s: MatmulShape, d: Defines): [number, number, number];
  /** When no variant is forced or tuned, variants whose prefer() holds win over the rest (e.g. gemv for M <= 4 on GPUs). */
  prefer?(s: MatmulShape, device: Device): boolean;
  /** The adapter kind whose untuned default this variant is ('cpu': lavapipe/SwiftShader, 'gpu': the rest). */
  defaultOn?: 'cpu' | 'gpu';
}

export const MATMUL_OP = 'matmul';

/** Tiled kernel shape; PARALLAX_TILED="WGX,WGY,TM,TK" overrides it at load time (research knob for bench/matmul.ts). */
const TILED = tiledDefines(typeof process !== 'undefined' ? process.env?.PARALLAX_TILED : undefined);
function tiledDefines(env: string | undefined): { WGX: number; WGY: number; TM: number; TK: number } {
  const [WGX = 16, WGY = 16, TM = 4, TK = 16] = (env ?? '').split(',').filter(Boolean).map(Number);
  return { WGX, WGY, TM, TK };
}
const n = (d: Defines, k: string) => Number(d[k]);
/** Workgroup size and workgroup-memory checks shared by the tuning spaces. */
function fits(device: Device, threads: number, wgBytes: number): boolean {
  const lim = device.gpu.limits;
  return threads <= lim.maxComputeInvocationsPerWorkgroup && wgBytes <= lim.maxComputeWorkgroupStorageSize;
}
registerVariant<MatmulKernelSpec>({
  op: MATMUL_OP, name: 'matmul_tiled', priority: 10,
  spec: {
    kernel: 'matmul_tiled', defines: TILED,
    workgroups: (s, d) => [ceilDiv(s.N, 4 * n(d, 'WGX')), ceilDiv(s.M, n(d, 'TM') * n(d, 'WGY')), s.batch],
  },
  tune: {
    params: (d): TuneParams => (isCpuAdapter(d) ? { TM: [4], TK: [16] } : { WGX: [8, 16], WGY: [8, 16], TM: [4, 8], TK: [16, 32] }),
    valid: (s, d) => {
      const t = { ...TILED, ...s };
      return fits(d, n(t, 'WGX') * n(t, 'WGY'), 4 * (n(t, 'TM') * n(t, 'WGY') + 4 * n(t, 'WGX')) * n(t, 'TK'));
    },
  },
});
type TuneParams = Record<string, readonly TuneValue[]>;
// CPU default from `parallax tune` on lavapipe (Mesa 25.0.7, LLVM 15, 2 shared cores): TM=8, WGY=4 and dot()
// (FMA=false) won 3 of the 4 Vchitect-2B linear classes, 1.6-2.4x faster than TM=4, WGY=8 with fma().
const REGS = { WGX: 16, WGY: 4, TM: 8, VN: 1, FMA: false, SG: true };
const KM = { WGX: 16, WGY: 16, TM: 8, VN: 2, TK: 16, PAD: 1 };
/** Register-tiled kernel without workgroup memory: the default on CPU adapters. */
registerVariant<MatmulKernelSpec>({
  op: MATMUL_OP, name: 'matmul_regs', priority: 8,
  spec: {
    kernel: 'matmul_regs', defines: REGS, defaultOn: 'cpu',
    // With subgroup-shared A rows (SG) the A loads are cheap and more rows per B load win: 16 rows x 2 (measured on
    // lavapipe: 10-15% over TM = 8, WGY = 4 on the training step's 256-row linears; same 32-row blocks).
    definesFor: (device): Defines => (regsSubgroups(device, { ...REGS, TM: 16 }) ? { TM: 16, WGY: 2 } : {}),
    // A few rows: one row-block of exactly M rows instead of 8 clamped copies (rows do not change the k order).
    definesForShape: (s): Defines => (s.M <= 4 ? { TM: s.M, WGY: 1 } : {}),
    workgroups: (s, d) => [ceilDiv(s.N, 4 * n(d, 'VN') * n(d, 'WGX')), ceilDiv(s.M, n(d, 'TM') * n(d, 'WGY')), s.batch],
  },
  tune: {
    params: (d): TuneParams => (isCpuAdapter(d)
      ? { TM: [4, 8, 16], FMA: [true, false], WGY: [1, 2, 4, 8], SG: [true, false] }
      : { TM: [4], VN: [1, 2], FMA: [true], WGX: [16] }),
    valid: (s, d) => fits(d, n({ ...REGS, ...s }, 'WGX') * n({ ...REGS, ...s }, 'WGY'), 0),
  },
});
/** k-major workgroup tiles without bank conflicts, explicit fma: the default on GPUs. */
registerVariant<MatmulKernelSpec>({
  op: MATMUL_OP, name: 'matmul_tiled_km', priority: 9,
  spec: {
    kernel: 'matmul_tiled_km', defines: KM, defaultOn: 'gpu',
    workgroups: (s, d) => [ceilDiv(s.N, 4 * n(d, 'VN') * n(d, 'WGX')), ceilDiv(s.M, n(d, 'TM') * n(d, 'WGY')), s.batch],
  },
  tune: {
    params: (d): TuneParams => (isCpuAdapter(d)
      ? { TM: [4], VN: [1], TK: [16], PAD: [0] }
      : { TM: [4, 8], VN: [1, 2], TK: [8, 16, 32], PAD: [0, 1] }),
    valid: (s, d) => {
      const t = { ...KM, ...s };
      const bm = n(t, 'TM') * n(t, 'WGY'), bn = 4 * n(t, 'VN') * n(t, 'WGX'), pad = n(t, 'PAD') * 4;
      return fits(d, n(t, 'WGX') * n(t, 'WGY'), 4 * n(t, 'TK') * (bm + bn + 2 * pad));
    },
  },
});
/** Lanes per output column in the B_NK gemv (power of two <= 256): they split K and reduce in workgroup memory. */
const GEMV = { LANES: Number(typeof process !== 'undefined' ? process.env?.PARALLAX_GEMV_LANES ?? 32 : 32) };
registerVariant<MatmulKernelSpec>({
  op: MATMUL_OP, name: 'matmul_gemv', priority: 5,
  spec: {
    kernel: 'matmul_gemv',
    defines: GEMV,
    workgroups: (s, d) => [s.bNK ? ceilDiv(s.N, 256 / n(d, 'LANES')) : ceilDiv(s.N, 1024), ceilDiv(s.M, 4), s.batch],
    // On CPU adapters matmul_regs beats it even on one row (tuned on lavapipe: >3x).
    prefer: (s, d) => s.M <= 4 && !isCpuAdapter(d),
  },
  tune: { params: { LANES: [8, 32, 64] } },
});
registerVariant<MatmulKernelSpec>({
  op: MATMUL_OP, name: 'matmul_naive', priority: 0,
  spec: { kernel: 'matmul_naive', workgroups: (s) => [ceilDiv(s.N, 16), ceilDiv(s.M, 16), s.batch] },
});

/** All matmul variants available on a device (tests and benchmarks loop over these). */
export function matmulVariants(device: Device): Variant<MatmulKernelSpec>[] {
  return variants<MatmulKernelSpec>(MATMUL_OP, device);
}

/** A variant with the tile defines it runs with. */
export interface MatmulChoice {
  variant: Variant<MatmulKernelSpec>;
  /** Effective tile defines: the spec's defaults, per-adapter defaults, then tuned or requested settings. */
  defines: Defines;
  /** Where the choice came from. */
  source: 'forced' | 'tuned' | 'default';
}

/** Effective defines of a variant on a device for a shape, with settings (tuned or requested) layered on top. */
export function matmulDefinesOf(v: Variant<MatmulKernelSpec>, device: Device, s?: MatmulShape, settings?: TuneSettings): Defines {
  return { ...v.spec.defines, ...v.spec.definesFor?.(device), ...(s && v.spec.definesForShape?.(s)), ...settings };
}

/**
 * The shape class of a matmul problem for the tuner: layout, dtypes, epilogue kind, N and K in power-of-two
 * buckets, and only whether M <= 4 (a vector) or not. Deliberately no row-count bucket: sequence-parallel ranks
 * run the same linear on fewer rows than one device, and must pick the same kernel (the same per-output
 * reduction order) to stay bit-identical to it.
 */
export function matmulClassKey(s: MatmulShape, dtypes: string, epilogue: string): string {
  const b2 = (x: number) => 2 ** Math.ceil(Math.log2(Math.max(1, x)));
  return `${s.bNK ? 'nk' : 'kn'} ${dtypes} ${epilogue} ${s.M <= 4 ? 'vec' : 'rows'} N${b2(s.N)} K${b2(s.K)}${s.batch > 1 ? ' batched' : ''}`;
}

/** The variant for a problem: an explicit name, else PARALLAX_KERNEL_MATMUL, else the tuned choice for its class,
 *  else a preferring one, else the adapter kind's default, else priority. */
export function chooseMatmulVariant(device: Device, s: MatmulShape, name?: string, classKey?: string): MatmulChoice {
  const forced = name ?? (typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_MATMUL : undefined);
  if (forced) {
    const v = pickVariant<MatmulKernelSpec>(MATMUL_OP, device, forced);
    return { variant: v, defines: matmulDefinesOf(v, device, s), source: 'forced' };
  }
  const ok = matmulVariants(device);
  if (classKey) {
    const t = tunedChoice(device, MATMUL_OP, classKey, (vn) => ok.find((v) => v.name === vn)?.spec.kernel);
    const v = t && ok.find((x) => x.name === t.variant);
    if (t && v) return { variant: v, defines: matmulDefinesOf(v, device, s, t.settings), source: 'tuned' };
  }
  const preferred = ok.filter((v) => v.spec.prefer?.(s, device));
  const pool = preferred.length ? preferred : ok;
  if (!pool.length) {
    const v = pickVariant<MatmulKernelSpec>(MATMUL_OP, device);
    return { variant: v, defines: matmulDefinesOf(v, device, s), source: 'default' };
  }
  const kind = isCpuAdapter(device) ? 'cpu' : 'gpu';
  const score = (v: Variant<MatmulKernelSpec>) => (v.spec.defaultOn === kind ? 1000 : 0) + (v.priority ?? 0);
  const v = pool.reduce((a, b) => (score(b) > score(a) ? b : a));
  return { variant: v, defines: matmulDefinesOf(v, device, s), source: 'default' };
}

export type Epilogue = 'none' | 'gelu_tanh' | 'silu';
/** Params.act of the kernels: the activation is a runtime flag, not a define (one pipeline serves all three). */
const ACT: Record<Epilogue, number> = { none: 0, gelu_tanh: 1, silu: 2 };

/** Everything the driver needs to run one (possibly batched, possibly split) matmul. */
export interface MatmulProblem {
  op: string;
  a: Tensor;
  b: Tensor;
  out: Tensor;
  shape: MatmulShape;
  /** Batch strides in elements (0 broadcasts a batch of 1). */
  aBatchStride: number;
  bBatchStride: number;
  bias?: Tensor;
  epilogue?: Epilogue;
  residual?: Tensor;
  gate?: Tensor;
  /** Consecutive rows (of the flattened M) sharing one gate row; M for a gate of shape [N]. */
  gateRows?: number;
  variant?: string;
  /** Choose the variant and its settings as for this shape instead of `shape` (a windowed linear runs as batched
   *  items but must get the kernel its flat problem would, to stay bit-identical to it). */
  chooseAs?: MatmulShape;
  /** Tile settings layered over the variant's defines (the tuner; needs `variant`). */
  settings?: TuneSettings;
  /** Override of maxStorageBufferBindingSize (tests force the split path with a small value). */
  maxBindingBytes?: number;
  /**
   * Row windows (linear's xRows / outRows): bind `a` / `out` from these byte offsets (multiples of the device's
   * minStorageBufferOffsetAlignment) and write batch item z of out at z * outBatchStride elements. No row split.
   */
  window?: { aByteOffset: number; outByteOffset: number; outBatchStride: number };
}

const OFFSET_ALIGN = 256;

/** Records the dispatches of one matmul problem, splitting along rows when a binding is too large. */
export function runMatmul(pr: MatmulProblem): void {
  const { a, b, out, shape: s } = pr;
  const device = a.device;
  const keyShape = pr.chooseAs ?? s;
  const classKey = matmulClassKey(keyShape, problemDTypes(pr), problemEpilogue(pr));
  noteProblem(MATMUL_OP, classKey, () => ({
    shape: { ...s }, da: pr.a.dtype, db: pr.b.dtype, dout: pr.out.dtype, aBatchStride: pr.aBatchStride, bBatchStride: pr.bBatchStride,
    epilogue: pr.epilogue ?? 'none', bias: !!pr.bias, residual: !!pr.residual, gate: !!pr.gate,
  }));
  const choice = chooseMatmulVariant(device, keyShape, pr.variant, classKey);
  const variant = choice.variant;
  const tile = pr.settings ? { ...choice.defines, ...pr.settings } : choice.defines;
  const limit = Math.min(pr.maxBindingBytes ?? Infinity, device.caps.maxStorageBufferBindingSize);
  const eb = (t: Tensor) => bytesPerElement(t.dtype);
  const bItemBytes = (pr.bBatchStride ? s.K * s.N : b.numel) * eb(b);
  for (const [name, bytes, t] of [['weight/b', bItemBytes, b], ['bias', pr.bias?.byteLength ?? 0, pr.bias], ['gate', pr.gate?.byteLength ?? 0, pr.gate]] as const) {
    if (t && bytes > limit) {
      throw new LimitExceededError(pr.op, 'maxStorageBufferBindingSize', bytes, limit,
        `The ${name} tensor [${t.shape.join(', ')}] ${t.dtype} cannot be split by ${pr.op}; store it in f16 or split it along its output dimension into several linears.`);
    }
  }
  const cStride = s.M * s.N;
  const defines = matmulDefines(pr, tile, variant.spec.kernel);
  const rowTensors: { t: Tensor; rowBytes: number; batchBytes: number }[] = [
    { t: a, rowBytes: s.K * eb(a), batchBytes: pr.aBatchStride * eb(a) },
    { t: out, rowBytes: s.N * eb(out), batchBytes: cStride * eb(out) },
  ];
  if (pr.residual) rowTensors.push({ t: pr.residual, rowBytes: s.N * eb(pr.residual), batchBytes: cStride * eb(pr.residual) });
  const fits = b.byteLength <= limit && rowTensors.every((r) => r.t.byteLength <= limit);
  const win = pr.window;
  if (win) {
    const align = device.gpu.limits.minStorageBufferOffsetAlignment;
    if (!fits || win.aByteOffset % align || win.outByteOffset % align) {
      throw new LimitExceededError(pr.op, 'maxStorageBufferBindingSize', Math.max(a.byteLength, out.byteLength), limit,
        `row windows need whole-tensor bindings and byte offsets that are multiples of ${align} (got ${win.aByteOffset}, ${win.outByteOffset}); check rowWindowsFit() first or use concat/slice.`);
    }
  }
  const dispatch = (m0: number, rows: number, z0: number, nz: number) => {
    const sub: MatmulShape = { ...s, M: rows, batch: nz };
    const view = (t: Tensor, rowBytes: number, batchBytes: number, batchSpan: number): Bindable => {
      const winOffset = !win ? 0 : t === a ? win.aByteOffset : t === out ? win.outByteOffset : 0;
      if (winOffset) return { buffer: t.buffer, byteOffset: winOffset, byteLength: t.byteLength - winOffset, shape: t.shape, dtype: t.dtype };
      if (fits) return t;
      const byteOffset = z0 * batchBytes + m0 * rowBytes;
      return { buffer: t.buffer, byteOffset, byteLength: batchSpan * (nz - 1) + rows * rowBytes, shape: t.shape, dtype: t.dtype };
    };
    const bindings: Bindable[] = [
      view(a, s.K * eb(a), pr.aBatchStride * eb(a), pr.aBatchStride * eb(a)),
      fits ? b : { buffer: b.buffer, byteOffset: z0 * pr.bBatchStride * eb(b), byteLength: bItemBytes, shape: b.shape, dtype: b.dtype },
    ];
    if (pr.bias) bindings.push(pr.bias);
    if (pr.residual) bindings.push(view(pr.residual, s.N * eb(pr.residual), cStride * eb(pr.residual), cStride * eb(pr.residual)));
    if (pr.gate) bindings.push(pr.gate);
    bindings.push(view(out, s.N * eb(out), cStride * eb(out), cStride * eb(out)));
    device.dispatch({
      op: pr.op,
      kernel: variant.spec.kernel,
      defines,
      params: [u32(rows), u32(s.N), u32(s.K), u32(pr.aBatchStride), u32(pr.bBatchStride), u32(win?.outBatchStride ?? rows * s.N),
        u32(pr.gateRows ?? s.M), u32(m0), u32(ACT[pr.epilogue ?? 'none'])],
      bindings,
      workgroups: variant.spec.workgroups(sub, tile),
      flops: 2 * rows * s.N * s.K * nz,
    });
  };
  if (s.M === 0 || s.N === 0 || s.batch === 0) return;
  if (fits) {
    dispatch(0, s.M, 0, s.batch);
    return;
  }
  // Split: one batch item at a time (batch offsets must be aligned), then rows in aligned chunks.
  const need = (why: string) => new LimitExceededError(pr.op, 'maxStorageBufferBindingSize',
    Math.max(...rowTensors.map((r) => r.t.byteLength)), limit,
    `${pr.op} [M=${s.M}, N=${s.N}, K=${s.K}, batch=${s.batch}] cannot be split into bindable pieces: ${why}. Run it on fewer rows/frames per call or use f16.`);
  if (s.batch > 1) {
    for (const r of [...rowTensors, { t: b, rowBytes: 0, batchBytes: pr.bBatchStride * eb(b) }]) {
      if (r.batchBytes % OFFSET_ALIGN !== 0) throw need(`the per-batch byte stride of [${r.t.shape.join(', ')}] (${r.batchBytes}) is not a multiple of ${OFFSET_ALIGN}`);
    }
  }
  let align = 1;
  let maxRows = Infinity;
  for (const r of rowTensors) {
    align = lcm(align, OFFSET_ALIGN / gcd(OFFSET_ALIGN, r.rowBytes));
    maxRows = Math.min(maxRows, Math.floor(limit / r.rowBytes));
  }
  const chunk = maxRows >= s.M ? s.M : Math.floor(maxRows / align) * align;
  if (chunk === 0) throw need(`one aligned block of ${align} rows needs more than ${limit} bytes`);
  for (let z = 0; z < s.batch; z++) {
    for (let m0 = 0; m0 < s.M; m0 += chunk) dispatch(m0, Math.min(chunk, s.M - m0), z, 1);
  }
}

/** dtypes of a, b and out, e.g. 'f32.f16.f32' (part of the tuner's class key). */
function problemDTypes(pr: MatmulProblem): string {
  return `${pr.a.dtype}.${pr.b.dtype}.${pr.out.dtype}`;
}

/** The epilogue part of the class key: activation plus whether a bias / (gated) residual is fused. */
function problemEpilogue(pr: MatmulProblem): string {
  return `${pr.epilogue ?? 'none'}${pr.bias ? '+b' : ''}${pr.residual ? (pr.gate ? '+gr' : '+r') : ''}`;
}

/** PARALLAX_MATMUL_SG=0 turns the subgroup sharing of matmul_regs and linear_dw off (A/B benchmarks: bench/matmul-train.ts). */
export function subgroupSharingOn(): boolean {
  return typeof process === 'undefined' || process.env?.PARALLAX_MATMUL_SG !== '0';
}

/**
 * Whether matmul_regs can share its A rows over subgroups (its SG define): a CPU adapter (subgroups there are the 8-wide
 * SIMD lanes, each lane's gather costs as much as a whole vector load) with subgroups of 8 to WGX lanes, TM = 8 and
 * WGX a multiple of 8, so that the lanes of a subgroup lie in one row of the workgroup and share their TM rows.
 */
export function regsSubgroups(device: Device, tile: Defines): boolean {
  if (!subgroupSharingOn()) return false;
  const info = (device.gpu as GPUDevice & { adapterInfo?: { subgroupMinSize?: number; subgroupMaxSize?: number } }).adapterInfo;
  const lo = info?.subgroupMinSize ?? 0, hi = info?.subgroupMaxSize ?? 0;
  const wgx = Number(tile.WGX);
  return isCpuAdapter(device) && subgroupFits(device, 8) && hi <= wgx && hi % lo === 0 && Number(tile.TM) % 8 === 0 && wgx % 8 === 0 && !!device.caps.subgroups;
}

function matmulDefines(pr: MatmulProblem, tile: Defines, kernelName: string): Record<string, number | string | boolean> {
  const { shape: s } = pr;
  const d: Record<string, number | string | boolean> = {
    TA: pr.a.dtype, TB: pr.b.dtype, TO: pr.out.dtype,
    TBIAS: pr.bias?.dtype ?? 'f32', TR: pr.residual?.dtype ?? 'f32', TG: pr.gate?.dtype ?? 'f32',
    B_NK: s.bNK,
    VEC_A: s.K % 4 === 0 && pr.aBatchStride % 4 === 0,
    VEC_BK: s.bNK && s.K % 4 === 0 && pr.bBatchStride % 4 === 0,
    VEC_BN: !s.bNK && s.N % 4 === 0 && pr.bBatchStride % 4 === 0,
    HAS_BIAS: !!pr.bias, HAS_RES: !!pr.residual, HAS_GATE: !!pr.gate,
    ...tile,
  };
  d.SG = kernelName === 'matmul_regs' && tile.SG !== false && regsSubgroups(pr.a.device, tile);
  let binding = 3;
  if (pr.bias) d.BIAS_BINDING = binding++;
  if (pr.residual) d.RES_BINDING = binding++;
  if (pr.gate) d.GATE_BINDING = binding++;
  d.OUT_BINDING = binding;
  return d;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

export interface MatmulOptions {
  /** b is stored [.., N, K] (compute a @ b^T). */
  transposeB?: boolean;
  /** Output dtype (default a's). */
  dtype?: DType;
  /** Write into this tensor instead of allocating. */
  out?: Tensor;
  /** Force a variant by name (else PARALLAX_KERNEL_MATMUL, else tuned, else chosen by shape). */
  variant?: string;
  /** Tile settings over the variant's defaults (the autotuner, benchmarks, tests). */
  settings?: TuneSettings;
  /** Override of maxStorageBufferBindingSize (tests). */
  maxBindingBytes?: number;
}

/**
 * a [..., M, K] @ b [..., K, N] (or b [..., N, K] with transposeB) -> [..., M, N]. Batch dims must match, or one
 * side has a batch of 1 (or no batch dims) and is broadcast. Math in f32; f16/f32 inputs may be mixed.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const name = `matmul${opts.transposeB ? ' (transposeB)' : ''}`;
  const where = `a [${a.shape.join(', ')}] ${a.dtype}, b [${b.shape.join(', ')}] ${b.dtype}`;
  if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError(`${name}: ${where}: both operands need at least 2 dims ([.., M, K] and [.., K, N])`);
  checkFloat(name, a, b);
  const [M, K] = a.shape.slice(-2) as [number, number];
  const bt = b.shape.slice(-2) as [number, number];
  const [Kb, N] = opts.transposeB ? [bt[1], bt[0]] : bt;
  if (K !== Kb) {
    throw new ShapeError(`${name}: ${where}: inner dimensions differ (a has K=${K}, b has K=${Kb}${opts.transposeB ? ' as its last dim' : ' as its second-to-last dim'})`);
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const na = prod(aBatch);
  const nb = prod(bBatch);
  let batchShape: readonly number[];
  if (aBatch.join(',') === bBatch.join(',') || nb === 1) batchShape = aBatch;
  else if (na === 1) batchShape = bBatch;
  else throw new ShapeError(`${name}: ${where}: batch dims [${aBatch.join(', ')}] and [${bBatch.join(', ')}] differ; they must match or one side must have a batch of 1`);
  const batch = prod(batchShape);
  const outShape = [...batchShape, M, N];
  const dtype = opts.dtype ?? a.dtype;
  const out = opts.out ?? Tensor.empty(a.device, outShape, dtype, 'matmul');
  if (out.shape.join(',') !== outShape.join(',')) throw new ShapeError(`${name}: ${where}: out is [${out.shape.join(', ')}], expected [${outShape.join(', ')}]`);
  // A shared b: fold the batch into the rows (one big GEMM, and the row split applies).
  const fold = nb === 1 && batch > 1;
  const shape: MatmulShape = fold ? { M: batch * M, N, K, batch: 1, bNK: !!opts.transposeB } : { M, N, K, batch, bNK: !!opts.transposeB };
  runMatmul({
    op: name, a, b, out, shape,
    aBatchStride: fold || na === 1 ? 0 : M * K,
    bBatchStride: nb === 1 ? 0 : K * N,
    variant: opts.variant, settings: opts.settings, maxBindingBytes: opts.maxBindingBytes,
  });
  return out;
}

export function checkFloat(op: string, ...ts: (Tensor | undefined)[]): void {
  for (const t of ts) {
    if (t && t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${op}: tensor [${t.shape.join(', ')}] has dtype ${t.dtype}; only f32 and f16 are supported`);
  }
}

function prod(s: readonly number[]): number {
  return s.reduce((x, y) => x * y, 1);
}
