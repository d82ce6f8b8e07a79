// Attention backward (FlashAttention-2 style) from the forward's output O and per-row log-sum-exp L: dQ, dK, dV on
// the same strided views as the forward (engine/ops/attention.ts), three dispatches of shaders/attention_backward.wgsl
// (D = rowsum(dO * O); dK/dV per key block; dQ per query block), no float atomics, bit-identical run to run.
// Variants (registry op attention_backward): attention_backward_tiled (workgroup blocks), attention_backward_rows
// (one thread per key / query; short sequences on GPUs) and attention_backward_lanes (CPU adapters: two dispatches of
// shaders/attention_backward_lanes.wgsl, dQ with D fused, then dK/dV; one (batch, head) per workgroup).

import { u32, f32, type Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { cpuAdapter, dynamicLoops, laneWorkgroup } from './attention.js';
import { asView, vec4Aligned, viewExtent, type AttentionInput, type SeqView } from './attention-layout.js';
import { pickVariant, registerVariant, variants, type Variant } from './registry.js';

export interface AttentionBackwardOptions {
  /** As the forward's: heads, headDim (required for SeqView inputs), scale, causal, bias, mask. */
  heads: number;
  headDim?: number;
  scale?: number;
  causal?: boolean;
  /** f32 [Sk] or [B, Sk] (no gradient: it is a constant of the model). */
  bias?: Tensor;
  /** f32 [Sq, Sk] or [B, Sq, Sk]. */
  mask?: Tensor;
  /** The forward's output O (same view it was written to). */
  out: AttentionInput;
  /** The forward's log-sum-exp, f32 [B, heads, Sq] (attention(..., { lse })). */
  lse: Tensor;
  /** Where to write the gradients; default new tensors of q's dtype: dq [B, Sq, C], dk and dv [kB, Sk, C] with
   *  kB = 1 when K/V are shared by the query batches (k.batch 1 or batchStride 0; their gradient is summed over the
   *  query batches in order), else B. Must not share a buffer with any input; dk and dv may share one. */
  dq?: AttentionInput;
  dk?: AttentionInput;
  dv?: AttentionInput;
  /** Force a variant by name (else PARALLAX_KERNEL_ATTENTION_BACKWARD, else the default). */
  variant?: string;
}

export interface AttentionGrads {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

/** The problem a backward variant is asked to solve (for variant selection). */
export interface AttentionBackwardProblem {
  batch: number;
  heads: number;
  headDim: number;
  sq: number;
  sk: number;
  /** LLVM-based CPU adapter (lavapipe): workgroup-memory tiling does not pay off there. */
  cpu: boolean;
}

export interface AttentionBackwardSpec {
  /** WGSL file stem; entries selected by PASS_D / PASS_DKV / PASS_DQ. */
  kernel: string;
  /** 'tile': workgroups own TB-row blocks (defines TB, WG); 'row': one thread per key (dK/dV) or query (dQ) (define ROWS);
   *  'lanes': two passes (dQ with D, then dK/dV), a workgroup per (batch, head, block of WG rows), one row per
   *  invocation (shaders/attention_backward_lanes.wgsl). */
  grid: 'tile' | 'row' | 'lanes';
  /** Preferred for this problem when no variant is forced (default: always suitable). */
  suits?: (p: AttentionBackwardProblem) => boolean;
  /** grid 'lanes': two rows per invocation (PAIR) in both passes, for head dims <= PAIR_MAX_HD (above it one row:
   *  twice the registers and a JIT of minutes under load at hd 64). */
  pairs?: boolean;
}

const OP = 'attention_backward';
registerVariant<AttentionBackwardSpec>({ op: OP, name: 'attention_backward_tiled', spec: { kernel: 'attention_backward', grid: 'tile' }, priority: 10 });
registerVariant<AttentionBackwardSpec>({
  op: OP, name: 'attention_backward_rows', priority: 20,
  spec: { kernel: 'attention_backward', grid: 'row', suits: (p) => p.cpu || (p.sq <= 64 && p.sk <= 64) },
});
// The CPU default (measured on lavapipe, docs/kernels/attention.md): uniform streamed-side loads, head-dim loops
// with constant bounds (registers instead of runtime-indexed private arrays), D fused into the dQ pass.
registerVariant<AttentionBackwardSpec>({
  op: OP, name: 'attention_backward_lanes', priority: 30,
  spec: { kernel: 'attention_backward_lanes', grid: 'lanes', suits: (p) => p.cpu },
});
// The same kernel with two rows per invocation (PAIR: each streamed K/V or Q/dO row load serves two queries or two
// keys; measured 1.35-1.45x attention_backward_lanes on lavapipe's spatial and cross training shapes): the CPU
// default when both sequences have at least 16 rows (shorter ones would leave lanes idle) and head dims <= 32.
const PAIR_MAX_HD = 32;
registerVariant<AttentionBackwardSpec>({
  op: OP, name: 'attention_backward_lanes_pairs', priority: 31,
  spec: { kernel: 'attention_backward_lanes', grid: 'lanes', suits: (p) => p.cpu && p.sq >= 16 && p.sk >= 16 && p.headDim <= PAIR_MAX_HD, pairs: true },
});

function chooseVariant(device: Device, prob: AttentionBackwardProblem, forced?: string): Variant<AttentionBackwardSpec> {
  const envName = typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_ATTENTION_BACKWARD : undefined;
  if (forced || envName) return pickVariant<AttentionBackwardSpec>(OP, device, forced);
  const ok = variants<AttentionBackwardSpec>(OP, device).filter((v) => v.spec.suits?.(prob) ?? true);
  if (!ok.length) throw new Error('attention backward: no variant available on this device');
  return ok.reduce((a, b) => ((b.priority ?? 0) > (a.priority ?? 0) ? b : a));
}

/** The backward variants available on this device (tests and benchmarks loop over them). */
export function attentionBackwardVariants(device: Device): Variant<AttentionBackwardSpec>[] {
  return variants<AttentionBackwardSpec>(OP, device);
}

/** Threads per workgroup of the dK/dV and dQ passes. */
const WG = 64;

/**
 * Block size TB (= BQ = BK) of the dK/dV and dQ passes: the largest power of two <= 16 whose workgroup staging
 * (Q, dO, K, V blocks of TB x headDim, P and dS tiles of TB x TB, L and D of TB rows; f32) fits the budget in bytes.
 */
export function backwardTiles(headDim: number, budgetBytes: number): { TB: number; WG: number } {
  const bytes = (tb: number) => 4 * (4 * tb * headDim + 2 * tb * tb + 2 * tb);
  let TB = 16;
  while (TB > 1 && bytes(TB) > budgetBytes) TB /= 2;
  if (bytes(TB) > budgetBytes) {
    throw new ShapeError(`attention backward: head dim ${headDim} needs ${bytes(TB)} bytes of workgroup memory, above the device's ${budgetBytes}; split the heads.`);
  }
  return { TB, WG };
}

function describe(v: SeqView): string {
  return `{batch ${v.batch}, seq ${v.seq}, batchStride ${v.batchStride}, seqStride ${v.seqStride}, offset ${v.offset ?? 0}} of [${v.tensor.shape.join(', ')}]`;
}

const shared = (v: SeqView) => v.batch === 1 || v.batchStride === 0;

/**
 * Gradients of attention(q, k, v, opts) given dO (the loss gradient of its output, same layout rules as out) and the
 * forward's O and L: returns { dq, dk, dv } (the given views' tensors, or new ones). Rows whose keys are all masked
 * get zero gradient; bias and mask get none.
 */
export function attentionBackward(
  qIn: AttentionInput, kIn: AttentionInput, vIn: AttentionInput, dOIn: AttentionInput, opts: AttentionBackwardOptions,
): AttentionGrads {
  const q = asView(qIn);
  const k = asView(kIn);
  const v = asView(vIn);
  const dO = asView(dOIn);
  const o = asView(opts.out);
  const device: Device = q.tensor.device;
  const H = opts.heads;
  if (!Number.isInteger(H) || H < 1) throw new ShapeError(`attention backward: heads must be a positive integer, got ${H}`);
  let hd = opts.headDim;
  if (hd === undefined) {
    if ('tensor' in qIn) throw new ShapeError('attention backward: pass opts.headDim when q is a SeqView');
    const c = qIn.shape[qIn.shape.length - 1]!;
    if (c % H !== 0) throw new ShapeError(`attention backward: q [${qIn.shape.join(', ')}] has ${c} channels, not a multiple of heads ${H}; pass headDim`);
    hd = c / H;
  }
  if (!Number.isInteger(hd) || hd < 1) throw new ShapeError(`attention backward: bad headDim ${hd}`);
  const C = H * hd;
  const B = q.batch;
  const Sq = q.seq;
  const Sk = k.seq;
  if (k.batch !== B && k.batch !== 1) throw new ShapeError(`attention backward: k has batch ${k.batch}, expected ${B} (q's) or 1 (shared)`);
  if (v.batch !== k.batch || v.seq !== Sk) throw new ShapeError(`attention backward: v ${describe(v)} must match k ${describe(k)} in batch and seq`);
  if (shared(k) !== shared(v)) throw new ShapeError('attention backward: k and v must both be shared by the query batches (batch 1 or batchStride 0) or neither');
  if (Sk < 1) throw new ShapeError('attention backward: needs at least one key');
  const kvShared = shared(k) && B > 1;
  const dtype = q.tensor.dtype;
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`attention backward: dtype ${dtype} unsupported (f32 or f16)`);
  for (const [name, t] of [['k', k], ['v', v], ['dO', dO], ['out', o]] as const) {
    if (t.tensor.dtype !== dtype) throw new ShapeError(`attention backward: ${name} is ${t.tensor.dtype} but q is ${dtype}; cast first`);
  }
  for (const [name, t] of [['dO', dO], ['out', o]] as const) {
    if (t.batch !== B || t.seq !== Sq) throw new ShapeError(`attention backward: ${name} ${describe(t)} must have batch ${B} and seq ${Sq}`);
  }
  if (opts.lse.dtype !== 'f32' || opts.lse.numel !== B * H * Sq) {
    throw new ShapeError(`attention backward: lse must be f32 [${B}, ${H}, ${Sq}] as written by attention(..., { lse }), got ${opts.lse.dtype} [${opts.lse.shape.join(', ')}]`);
  }
  const kB = kvShared ? 1 : B;
  const grad = (given: AttentionInput | undefined, seq: number, batch: number, what: string): SeqView => {
    const g = given ? asView(given) : asView(Tensor.empty(device, [batch, seq, C], dtype, `attention ${what}`));
    if (g.tensor.dtype !== dtype) throw new ShapeError(`attention backward: ${what} is ${g.tensor.dtype} but q is ${dtype}`);
    const ok = g.seq === seq && (batch === 1 && B > 1 ? shared(g) : g.batch === batch);
    if (!ok) throw new ShapeError(`attention backward: ${what} ${describe(g)} must have seq ${seq} and ${batch === 1 && B > 1 ? 'batch 1 (K/V are shared)' : `batch ${batch}`}`);
    return g;
  };
  const dq = grad(opts.dq, Sq, B, 'dq');
  const dk = grad(opts.dk, Sk, kB, 'dk');
  const dv = grad(opts.dv, Sk, kB, 'dv');
  const inputs = [q, k, v, dO, o];
  for (const [name, x] of [['q', q], ['k', k], ['v', v], ['dO', dO], ['out', o], ['dq', dq], ['dk', dk], ['dv', dv]] as const) {
    const ext = viewExtent(x.batch > 1 && x.batchStride === 0 ? { ...x, batch: 1 } : x, C);
    if (ext > x.tensor.numel || (x.offset ?? 0) < 0) {
      throw new ShapeError(`attention backward: ${name} view ${describe(x)} with ${H} heads x ${hd} reaches element ${ext}, beyond the tensor's ${x.tensor.numel}`);
    }
  }
  for (const g of [dq, dk, dv]) {
    if (inputs.some((x) => x.tensor.buffer === g.tensor.buffer) || g.tensor.buffer === opts.lse.buffer) {
      throw new ShapeError('attention backward: dq, dk and dv must not share a buffer with q, k, v, dO, out or lse (write into other tensors)');
    }
  }

  let biasBS = 0;
  if (opts.bias) {
    const n = opts.bias.numel;
    if (opts.bias.dtype !== 'f32' || (n !== Sk && n !== B * Sk)) {
      throw new ShapeError(`attention backward: bias must be f32 [${Sk}] or [${B}, ${Sk}], got ${opts.bias.dtype} [${opts.bias.shape.join(', ')}]`);
    }
    biasBS = n === Sk ? 0 : Sk;
  }
  let maskBS = 0;
  if (opts.mask) {
    const n = opts.mask.numel;
    if (opts.mask.dtype !== 'f32' || (n !== Sq * Sk && n !== B * Sq * Sk)) {
      throw new ShapeError(`attention backward: mask must be f32 [${Sq}, ${Sk}] or [${B}, ${Sq}, ${Sk}], got ${opts.mask.dtype} [${opts.mask.shape.join(', ')}]`);
    }
    maskBS = n === Sq * Sk ? 0 : Sq * Sk;
  }
  if (B * H * Math.max(Sq, Sk) > 0xffffffff) throw new ShapeError(`attention backward: ${B}x${H}x${Math.max(Sq, Sk)} rows exceed the u32 index range; split the batch`);

  const spec = chooseVariant(device, { batch: B, heads: H, headDim: hd, sq: Sq, sk: Sk, cpu: cpuAdapter(device) }, opts.variant).spec;
  const views: LaneViews = { q, k, v, dO, o, dq, dk, dv };
  const sizes: LaneSizes = { B, H, hd, Sq, Sk, kB, kvShared, biasBS, maskBS };
  if (spec.grid === 'lanes') {
    lanesBackward(spec, views, sizes, opts);
    return { dq: dq.tensor, dk: dk.tensor, dv: dv.tensor };
  }
  const rows = spec.grid === 'row';
  const TB = rows ? 0 : backwardTiles(hd, device.caps.maxComputeWorkgroupStorageSize).TB;
  const base = { ZERO: dynamicLoops(device) ? 'p.zero' : '0u', T: dtype, HD: hd, ...(rows ? { ROWS: true } : { TB, WG }) };
  const params = (blocks: number) => backwardParams(views, sizes, opts, blocks);
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;

  // Pass 1: D = rowsum(dO * O), f32 [B, H, Sq].
  const D = Tensor.empty(device, [B, H, Sq], 'f32', 'attention backward D');
  device.dispatch({
    op: OP, kernel: spec.kernel, defines: { ...base, PASS_D: true }, params: params(0),
    bindings: [dO.tensor, o.tensor, D],
    workgroups: grid2D(ceilDiv(B * H * Sq, 64), maxWg),
    flops: 2 * B * H * Sq * hd,
  });

  const extra = [...(opts.bias ? [opts.bias] : []), ...(opts.mask ? [opts.mask] : [])];
  const binds: Record<string, number> = {};
  let n = 7;
  if (opts.bias) binds.BIND_BIAS = n++;
  if (opts.mask) binds.BIND_MASK = n++;
  const common = { ...base, ...binds, HAS_BIAS: !!opts.bias, HAS_MASK: !!opts.mask, BIND_OUT: n, BIND_OUT2: n + 1 };
  const ins = [q.tensor, k.tensor, v.tensor, dO.tensor, opts.lse, D, ...extra];

  // Pass 2: dK, dV; a workgroup per (K batch, head, key block).
  const kBlocks = rows ? 0 : ceilDiv(Sk, TB);
  const oneBuffer = dk.tensor.buffer === dv.tensor.buffer;
  device.dispatch({
    op: OP, kernel: spec.kernel, defines: { ...common, PASS_DKV: true, DKV_ONE_BUFFER: oneBuffer }, params: params(kBlocks),
    bindings: [...ins, dk.tensor, ...(oneBuffer ? [] : [dv.tensor])],
    workgroups: grid2D(rows ? ceilDiv(kB * H * Sk, 64) : kB * H * kBlocks, maxWg),
    flops: 8 * B * H * Sq * Sk * hd,
  });

  // Pass 3: dQ; a workgroup per (batch, head, query block).
  const qBlocks = rows ? 0 : ceilDiv(Sq, TB);
  device.dispatch({
    op: OP, kernel: spec.kernel, defines: { ...common, PASS_DQ: true }, params: params(qBlocks),
    bindings: [...ins, dq.tensor],
    workgroups: grid2D(rows ? ceilDiv(B * H * Sq, 64) : B * H * qBlocks, maxWg),
    flops: 6 * B * H * Sq * Sk * hd,
  });
  D.dispose();
  return { dq: dq.tensor, dk: dk.tensor, dv: dv.tensor };
}

interface LaneViews { q: SeqView; k: SeqView; v: SeqView; dO: SeqView; o: SeqView; dq: SeqView; dk: SeqView; dv: SeqView }
interface LaneSizes { B: number; H: number; hd: number; Sq: number; Sk: number; kB: number; kvShared: boolean; biasBS: number; maskBS: number }

/** The Params uniform of every backward pass (shaders/attention_backward*.wgsl), `blocks` per (batch, head). */
function backwardParams(x: LaneViews, n: LaneSizes, opts: AttentionBackwardOptions, blocks: number) {
  const { q, k, v, dO, o, dq, dk, dv } = x;
  const kStride = (y: SeqView) => (shared(y) ? 0 : y.batchStride);
  return [
    u32(q.offset ?? 0), u32(q.batchStride), u32(q.seqStride),
    u32(k.offset ?? 0), u32(kStride(k)), u32(k.seqStride),
    u32(v.offset ?? 0), u32(kStride(v)), u32(v.seqStride),
    u32(dO.offset ?? 0), u32(dO.batchStride), u32(dO.seqStride),
    u32(o.offset ?? 0), u32(o.batchStride), u32(o.seqStride),
    u32(dq.offset ?? 0), u32(dq.batchStride), u32(dq.seqStride),
    u32(dk.offset ?? 0), u32(n.kvShared ? 0 : dk.batchStride), u32(dk.seqStride),
    u32(dv.offset ?? 0), u32(n.kvShared ? 0 : dv.batchStride), u32(dv.seqStride),
    u32(n.B), u32(n.H), u32(n.Sq), u32(n.Sk),
    u32(blocks), u32(n.kvShared ? 1 : 0), u32(opts.causal ? 1 : 0), u32(n.biasBS), u32(n.maskBS),
    f32(opts.scale ?? 1 / Math.sqrt(n.hd)), u32(0),
  ];
}

/**
 * The 'lanes' variant (checked views in, gradients written): pass 1 dQ (+ D = rowsum(dO * O) into a scratch
 * [B, H, Sq]), pass 2 dK/dV reading D; workgroups of laneWorkgroup(rows) invocations per (batch, head, block).
 */
function lanesBackward(spec: AttentionBackwardSpec, x: LaneViews, n: LaneSizes, opts: AttentionBackwardOptions): void {
  const { q, k, v, dO, o, dq, dk, dv } = x;
  const kernel = spec.kernel;
  const device: Device = q.tensor.device;
  const dtype = q.tensor.dtype;
  const vec = n.hd % 4 === 0 && Object.values(x).every(vec4Aligned);
  const base = { T: dtype, HD: n.hd, VEC: vec, HAS_BIAS: !!opts.bias, HAS_MASK: !!opts.mask };
  const params = (blocks: number) => backwardParams(x, n, opts, blocks);
  const maxWg = device.caps.maxComputeWorkgroupsPerDimension;
  const extra = [...(opts.bias ? [opts.bias] : []), ...(opts.mask ? [opts.mask] : [])];
  const binds = (first: number) => {
    const b: Record<string, number> = {};
    let i = first;
    if (opts.bias) b.BIND_BIAS = i++;
    if (opts.mask) b.BIND_MASK = i++;
    return { ...b, BIND_OUT: i, BIND_OUT2: i + 1 };
  };
  const D = Tensor.empty(device, [n.B, n.H, n.Sq], 'f32', 'attention backward D');

  // Pass 1: D and dQ; a workgroup per (batch, head, block of queries).
  const pairQ = !!spec.pairs && n.hd <= PAIR_MAX_HD;
  const wq = laneWorkgroup(pairQ ? Math.ceil(n.Sq / 2) : n.Sq);
  const qBlocks = ceilDiv(n.Sq, pairQ ? 2 * wq : wq);
  device.dispatch({
    op: OP, kernel, defines: { ...base, ...binds(8), WG: wq, PAIR: pairQ, PASS_DQ: true }, params: params(qBlocks),
    bindings: [q.tensor, k.tensor, v.tensor, dO.tensor, opts.lse, o.tensor, D, ...extra, dq.tensor],
    workgroups: grid2D(n.B * n.H * qBlocks, maxWg),
    flops: 2 * n.B * n.H * n.Sq * n.hd + 6 * n.B * n.H * n.Sq * n.Sk * n.hd,
  });

  // Pass 2: dK, dV; a workgroup per (K batch, head, block of keys).
  const pair = pairQ;
  const wk = laneWorkgroup(pair ? Math.ceil(n.Sk / 2) : n.Sk);
  const kBlocks = ceilDiv(n.Sk, pair ? 2 * wk : wk);
  const oneBuffer = dk.tensor.buffer === dv.tensor.buffer;
  device.dispatch({
    op: OP, kernel, defines: { ...base, ...binds(7), WG: wk, PAIR: pair, PASS_DKV: true, DKV_ONE_BUFFER: oneBuffer }, params: params(kBlocks),
    bindings: [q.tensor, k.tensor, v.tensor, dO.tensor, opts.lse, D, ...extra, dk.tensor, ...(oneBuffer ? [] : [dv.tensor])],
    workgroups: grid2D(n.kB * n.H * kBlocks, maxWg),
    flops: 8 * n.B * n.H * n.Sq * n.Sk * n.hd,
  });
  D.dispose();
}
