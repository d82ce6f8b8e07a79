// Scaled dot-product attention on strided sequence views: softmax(Q K^T * scale + bias + mask) V per head, with
// variants attention_matmul (QK^T and PV on the matmul op), attention_flash_rb / attention_flash_rb_wg
// (register-blocked flash), attention_lanes (CPU adapters: one (batch, head) per workgroup, one query per
// invocation, constant head-dim loops), attention_flash (tiled online softmax), attention_rows (one query per thread)
// and attention_naive (reference). Kernels: shaders/attention_{softmax,flash_rb,lanes,flash,rows,naive}.wgsl; layout
// descriptors in ./attention-layout.ts. Optionally also the per-row log-sum-exp that the backward
// (./attention-backward.ts) needs (variants whose spec has lse).

import { u32, f32, type Device } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { stridedCopy } from './layout.js';
import { matmul } from './matmul.js';
import { asView, vec4Aligned, viewExtent, type AttentionInput, type SeqView } from './attention-layout.js';
import { pickVariant, registerVariant, variants, type Variant } from './registry.js';

export { seqView, temporalView, sharedView, type SeqView, type AttentionInput } from './attention-layout.js';

export interface AttentionOptions {
  /** Number of heads H; channel of (head h, dim d) is h*headDim + d inside each position's row. */
  heads: number;
  /** Head dim; default: the query tensor's channel count / heads (plain tensors only). */
  headDim?: number;
  /** Logit scale; default 1/sqrt(headDim). */
  scale?: number;
  /** Query i sees keys j <= i only (top-left aligned, as torch is_causal). */
  causal?: boolean;
  /** Additive per-key logit bias, f32 [Sk] (all batches) or [B, Sk]. */
  bias?: Tensor;
  /** Additive logit mask, f32 [Sq, Sk] (all batches) or [B, Sq, Sk]; entries <= -1e30 (e.g. -Infinity) hide the key. */
  mask?: Tensor;
  /** Where to write; default a new [B, Sq, H*headDim] tensor of q's dtype. Must not share a buffer with q, k, v. */
  out?: AttentionInput;
  /**
   * Also write each query row's log-sum-exp L = m + log(l) of its logits (after scale, bias and mask) into this f32
   * tensor of B*heads*Sq elements, laid out [B, heads, Sq] (what attentionBackward needs); -3e38 for a fully masked
   * row. Only variants whose spec has `lse: true` can; the choice is restricted to them.
   */
  lse?: Tensor;
  /** Force a variant by name (else PARALLAX_KERNEL_ATTENTION, else chosen by shape). */
  variant?: string;
  /** Tile settings of the register-blocked variants (benchmarks, autotuner); default: the variant's spec. */
  tiles?: Partial<BlockTiles>;
}

/** Tile settings of the register-blocked kernel (shaders/attention_flash_rb.wgsl), fixed at pipeline creation. */
export interface BlockTiles {
  /** Queries per invocation (QPI): rows of Q, O and the scores held in registers by one invocation. */
  queriesPerInvocation: number;
  /** Keys per block (BK): scores computed into registers, one softmax rescale per block. */
  keyBlock: number;
  /** Invocations per workgroup (WG); a workgroup covers WG * QPI queries of one (batch, head). */
  workgroup: number;
}

/** The problem a variant is asked to solve (for variant selection). */
export interface AttentionProblem {
  batch: number;
  heads: number;
  headDim: number;
  sq: number;
  sk: number;
  /** All views have offsets and strides that are multiples of 4 and headDim % 4 == 0. */
  aligned: boolean;
  /** The device is an LLVM-based CPU adapter (lavapipe): no workgroup-memory tiling pays off there. */
  cpu: boolean;
  /** The device's maxStorageBufferBindingSize (bytes). */
  maxBinding: number;
}

/** What a registered attention variant declares; the wrapper builds defines and the grid from it. */
export interface AttentionVariantSpec {
  /** WGSL file stem in shaders/. */
  kernel: string;
  /** 'tile': one workgroup per block of queries of one (batch, head) (tiled kernels, defines BQ/BK/TPR/WG);
   *  'row': one thread per (batch, head, query), workgroups of 64;
   *  'block': register-blocked, WG invocations x QPI queries of one (batch, head) per workgroup (defines QPI/BK/WG
   *  from `tiles`);
   *  'lanes': WG invocations, one query each, of one (batch, head) per workgroup (defines WG, VEC; any layout);
   *  'matmul': no attention kernel of its own: per query batch and chunk of heads, QK^T and PV on the matmul op with
   *  the masked softmax of shaders/attention_softmax.wgsl in between (`kernel` names that softmax). */
  grid: 'tile' | 'row' | 'block' | 'lanes' | 'matmul';
  /** Needs vec4-aligned views (else the wrapper falls back to an unaligned variant). */
  vec4: boolean;
  /** Preferred for this problem when no variant is forced (default: always suitable). */
  suits?: (p: AttentionProblem) => boolean;
  /** Extra defines for the kernel. */
  defines?: Record<string, number | boolean>;
  /** grid 'block': the tile settings for this problem (AttentionOptions.tiles overrides them field by field). */
  tiles?: (p: AttentionProblem) => BlockTiles;
  /** The kernel writes the per-row log-sum-exp when HAS_LSE is defined (binding LSE_BINDING, after out). */
  lse?: boolean;
}

const OP = 'attention';

registerVariant<AttentionVariantSpec>({ op: OP, name: 'attention_naive', spec: { kernel: 'attention_naive', grid: 'row', vec4: false, lse: true }, priority: 0 });
registerVariant<AttentionVariantSpec>({ op: OP, name: 'attention_flash', spec: { kernel: 'attention_flash', grid: 'tile', vec4: true, lse: true }, priority: 10 });
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_rows', priority: 20,
  spec: { kernel: 'attention_rows', grid: 'row', vec4: true, lse: true, suits: (p) => p.sk <= 64 || p.cpu },
});
// Register-blocked flash (shaders/attention_flash_rb.wgsl, docs/kernels/attention.md): attention_flash_rb reads K/V
// at uniform addresses straight from global memory (best measured on lavapipe for Sk > 64: the CPU default there);
// attention_flash_rb_wg stages each key block in workgroup memory (the GPU default for Sk > 64, not yet measured on
// a GPU). Tiles per problem below; AttentionOptions.tiles (benchmarks, autotuner) overrides them.
/** Head dims up to this keep the register-blocked kernels' query rows and accumulators in registers. */
const RB_MAX_HD = 128;
const QPI_CPU = 4;
/** Invocations per workgroup for `qpi` queries each: `max`, or fewer (a multiple of `min`) when Sq is short. */
function fitWorkgroup(sq: number, qpi: number, min: number, max: number): number {
  return Math.min(max, min * Math.ceil(Math.ceil(sq / qpi) / min));
}
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_flash_rb', priority: 30,
  spec: {
    kernel: 'attention_flash_rb', grid: 'block', vec4: true, defines: { STAGE: false },
    suits: (p) => p.headDim <= RB_MAX_HD && p.cpu && p.sk > 64,
    tiles: (p) => ({ queriesPerInvocation: QPI_CPU, keyBlock: 16, workgroup: fitWorkgroup(p.sq, QPI_CPU, 8, 64) }),
  },
});
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_flash_rb_wg', priority: 15,
  spec: {
    kernel: 'attention_flash_rb', grid: 'block', vec4: true, defines: { STAGE: true },
    suits: (p) => p.headDim <= RB_MAX_HD && !p.cpu && p.sk > 64,
    tiles: (p) => { const qpi = p.headDim <= 32 ? 2 : 1; return { queriesPerInvocation: qpi, keyBlock: 16, workgroup: fitWorkgroup(p.sq, qpi, 32, 128) }; },
  },
});
// attention_lanes (shaders/attention_lanes.wgsl): the CPU default for head dims <= LANES_MAX_HD below the matmul
// route's sizes (measured on lavapipe, docs/kernels/attention.md: 1.5-2.3x attention_rows on the training shapes at
// hd 16 and 32; not faster at hd 64, where attention_flash_rb / attention_rows stay the defaults). Head-dim loops are
// unrolled (constant bounds), so the JIT grows with the head dim.
const LANES_MAX_HD = 32;
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_lanes', priority: 35,
  spec: { kernel: 'attention_lanes', grid: 'lanes', vec4: false, lse: true, suits: (p) => p.cpu && p.headDim <= LANES_MAX_HD },
});
// Two queries per invocation (PAIR): each K/V row load serves two queries; the CPU default for Sq >= 16.
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_lanes_pairs', priority: 36,
  spec: { kernel: 'attention_lanes', grid: 'lanes', vec4: false, lse: true, defines: { PAIR: true }, suits: (p) => p.cpu && p.headDim <= LANES_MAX_HD && p.sq >= 16 },
});
// The matmul route (measured 1.35x attention_flash_rb on lavapipe's spatial shape, level on cross): chosen on CPU
// adapters for long key sets; on GPUs only when forced until measured there. Needs Sq*Sk*4 bytes of scores per head.
registerVariant<AttentionVariantSpec>({
  op: OP, name: 'attention_matmul', priority: 40,
  spec: { kernel: 'attention_softmax', grid: 'matmul', vec4: false, suits: (p) => p.cpu && p.sk > 512 && p.sq > 512 && p.sq * p.sk * 4 <= p.maxBinding },
});

/**
 * Attention of the matmul route: for each query batch b and chunk of heads, gathers Q, K, V into [heads, S, hd]
 * scratch tensors, scores = Q K^T (f32) on the matmul op, the masked softmax in place, O = P V on the matmul op,
 * scattered into the output view. Scratch is released after a flush (the pool may destroy idle buffers).
 */
function attentionMatmul(q: SeqView, k: SeqView, v: SeqView, out: SeqView, H: number, hd: number, opts: AttentionOptions, biasBS: number, maskBS: number): void {
  const device = q.tensor.device;
  const dtype = q.tensor.dtype;
  const [B, Sq, Sk] = [q.batch, q.seq, k.seq];
  const headBytes = Sq * Sk * 4;
  const limit = device.caps.maxStorageBufferBindingSize;
  if (headBytes > limit) {
    throw new ShapeError(`attention: attention_matmul needs ${headBytes} bytes of scores per head (${Sq} x ${Sk} f32), above the device's ${limit}; use attention_flash_rb or attention_rows.`);
  }
  const hc = Math.max(1, Math.min(H, Math.floor(limit / headBytes), Math.floor((256 << 20) / headBytes)));
  const scale = opts.scale ?? 1 / Math.sqrt(hd);
  const gather = (x: SeqView, b: number, h0: number, n: number, seq: number): Tensor => {
    const t = Tensor.empty(device, [n, seq, hd], dtype, 'attention_matmul scratch');
    const bs = x.batch === 1 ? 0 : x.batchStride;
    return stridedCopy(x.tensor, t, { shape: [n, seq, hd], srcStrides: [hd, x.seqStride, 1], srcOffset: (x.offset ?? 0) + b * bs + h0 * hd, dstStrides: [seq * hd, hd, 1] }, 'attention_matmul gather');
  };
  for (let b = 0; b < B; b++) {
    for (let h0 = 0; h0 < H; h0 += hc) {
      const n = Math.min(hc, H - h0);
      const [qh, kh, vh] = [gather(q, b, h0, n, Sq), gather(k, b, h0, n, Sk), gather(v, b, h0, n, Sk)];
      const scores = matmul(qh, kh, { transposeB: true, dtype: 'f32' });
      device.dispatch({
        op: OP, kernel: 'attention_softmax', defines: { HAS_BIAS: !!opts.bias, HAS_MASK: !!opts.mask },
        params: [u32(n * Sq), u32(Sq), u32(Sk), u32(opts.causal ? 1 : 0), u32(b * biasBS), u32(b * maskBS), f32(scale), u32(0)],
        bindings: [scores, ...(opts.bias ? [opts.bias] : []), ...(opts.mask ? [opts.mask] : [])],
        workgroups: grid2D(ceilDiv(n * Sq, 64), device.caps.maxComputeWorkgroupsPerDimension),
      });
      const oh = matmul(scores, vh, { dtype });
      stridedCopy(oh, out.tensor, { shape: [n, Sq, hd], srcStrides: [Sq * hd, hd, 1], dstStrides: [hd, out.seqStride, 1], dstOffset: (out.offset ?? 0) + b * out.batchStride + h0 * hd }, 'attention_matmul scatter');
      device.flush();
      for (const t of [qh, kh, vh, scores, oh]) t.dispose();
    }
  }
}

/**
 * Tile sizes of the tiled kernel: one thread per (query, vec4 column), so WG = BQ * headDim/4 (at most maxThreads);
 * BK keys per tile, the largest power of two <= 64 whose staging fits the workgroup-memory budget (bytes).
 */
export function flashTiles(headDim: number, budgetBytes: number, maxThreads = 256): { BQ: number; BK: number; WG: number } {
  const hd4 = headDim / 4;
  const BQ = Math.floor(maxThreads / hd4);
  if (BQ < 1) throw new ShapeError(`attention_flash: head dim ${headDim} needs more than ${maxThreads} threads per query; use attention_naive.`);
  const WG = BQ * hd4;
  const bytes = (bk: number) => 16 * (BQ * hd4 + 2 * bk * hd4) + 4 * (2 * BQ * bk + WG);
  let BK = 64;
  while (BK > 4 && bytes(BK) > budgetBytes) BK /= 2;
  if (bytes(BK) > budgetBytes) {
    throw new ShapeError(`attention_flash: head dim ${headDim} needs ${bytes(BK)} bytes of workgroup memory, above the device's ${budgetBytes}; use variant attention_naive or attention_rows.`);
  }
  return { BQ, BK, WG };
}

/** The register-blocked kernel's tiles for this problem: the spec's, overridden by `over`, checked against limits. */
export function blockTiles(name: string, spec: AttentionVariantSpec, p: AttentionProblem, over: Partial<BlockTiles> | undefined, device: Device): BlockTiles {
  const t: BlockTiles = { ...(spec.tiles?.(p) ?? { queriesPerInvocation: 1, keyBlock: 8, workgroup: 64 }), ...(over ?? {}) };
  for (const [key, x] of Object.entries(t)) {
    if (!Number.isInteger(x) || x < 1) throw new ShapeError(`attention: ${name} tile ${key} must be a positive integer, got ${x}`);
  }
  if (t.workgroup > device.caps.maxComputeInvocationsPerWorkgroup) {
    throw new ShapeError(`attention: ${name} workgroup ${t.workgroup} exceeds the device's ${device.caps.maxComputeInvocationsPerWorkgroup} invocations; pick a smaller tiles.workgroup`);
  }
  const staged = spec.defines?.STAGE === true;
  const bytes = 2 * 16 * t.keyBlock * (p.headDim / 4);
  if (staged && bytes > device.caps.maxComputeWorkgroupStorageSize) {
    throw new ShapeError(`attention: ${name} stages ${bytes} bytes of K/V per block (keyBlock ${t.keyBlock} x head dim ${p.headDim}), above the device's ${device.caps.maxComputeWorkgroupStorageSize}; pick a smaller tiles.keyBlock`);
  }
  return t;
}

/**
 * LLVM-based CPU adapters (lavapipe, SwiftShader) take seconds to minutes compiling fully unrolled head-dim loops;
 * there the kernels get runtime loop bounds (ZERO = 'p.zero'). GPUs get constant bounds (ZERO = '0u').
 * PARALLAX_ATTENTION_LOOPS=static|dynamic overrides the choice.
 */
export function dynamicLoops(device: Device): boolean {
  const env = typeof process !== 'undefined' ? process.env?.PARALLAX_ATTENTION_LOOPS : undefined;
  if (env === 'static' || env === 'dynamic') return env === 'dynamic';
  return cpuAdapter(device);
}

/** Invocations per workgroup of the 'lanes' kernels for `rows` rows (queries or keys) per (batch, head): a multiple
 *  of 8 (llvmpipe's SIMD width), at most 64. */
export function laneWorkgroup(rows: number): number {
  return Math.min(64, 8 * Math.ceil(Math.max(rows, 1) / 8));
}

/** Whether the device is an LLVM-based CPU adapter (lavapipe, SwiftShader). */
export function cpuAdapter(device: Device): boolean {
  const a = device.adapter;
  return a.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader|cpu/i.test(`${a.description} ${a.backend} ${a.device}`);
}

function chooseVariant(device: Device, prob: AttentionProblem, forced?: string, needLse = false): Variant<AttentionVariantSpec> {
  const envName = typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_ATTENTION : undefined;
  if (forced || (envName && (!needLse || variants<AttentionVariantSpec>(OP, device).find((v) => v.name === envName)?.spec.lse))) {
    const v = pickVariant<AttentionVariantSpec>(OP, device, forced);
    if (v.spec.vec4 && !prob.aligned) {
      throw new ShapeError(`attention: variant ${v.name} needs head dim % 4 == 0 and offsets/strides that are multiples of 4 elements (head dim ${prob.headDim}); use attention_naive or align the layout.`);
    }
    if (needLse && !v.spec.lse) {
      const can = variants<AttentionVariantSpec>(OP, device).filter((x) => x.spec.lse).map((x) => x.name);
      throw new ShapeError(`attention: variant ${v.name} cannot write the log-sum-exp (opts.lse); use one of ${can.join(', ')}.`);
    }
    return v;
  }
  // With opts.lse, only variants that write it (an environment choice that cannot is ignored, not an error).
  const all = variants<AttentionVariantSpec>(OP, device).filter((v) => !needLse || v.spec.lse);
  const ok = all.filter((v) => (!v.spec.vec4 || prob.aligned) && (v.spec.suits?.(prob) ?? true));
  if (!ok.length) throw new Error(`attention: no variant available on this device${needLse ? ' that writes the log-sum-exp' : ''}`);
  return ok.reduce((a, b) => ((b.priority ?? 0) > (a.priority ?? 0) ? b : a));
}

function describe(v: SeqView): string {
  return `{batch ${v.batch}, seq ${v.seq}, batchStride ${v.batchStride}, seqStride ${v.seqStride}, offset ${v.offset ?? 0}} of [${v.tensor.shape.join(', ')}]`;
}

/**
 * Attention per (batch, head): out[b, i] = softmax_j(q[b,i]·k[b,j] * scale + bias[b,j] + mask[b,i,j]) v[b,j].
 * q, k, v, out are plain [B, S, C] tensors or strided SeqViews (see seqView, temporalView, sharedView);
 * k and v may have batch 1 (shared by all query batches). A query whose keys are all masked gets 0.
 * Returns the output tensor (opts.out's tensor when given).
 */
export function attention(qIn: AttentionInput, kIn: AttentionInput, vIn: AttentionInput, opts: AttentionOptions): Tensor {
  const q = asView(qIn);
  const k = asView(kIn);
  const v = asView(vIn);
  const device = q.tensor.device;
  const H = opts.heads;
  if (!Number.isInteger(H) || H < 1) throw new ShapeError(`attention: heads must be a positive integer, got ${H}`);
  let hd = opts.headDim;
  if (hd === undefined) {
    if ('tensor' in qIn) throw new ShapeError('attention: pass opts.headDim when q is a SeqView');
    const c = qIn.shape[qIn.shape.length - 1]!;
    if (c % H !== 0) throw new ShapeError(`attention: q [${qIn.shape.join(', ')}] has ${c} channels, not a multiple of heads ${H}; pass headDim`);
    hd = c / H;
  }
  if (!Number.isInteger(hd) || hd < 1) throw new ShapeError(`attention: bad headDim ${hd}`);
  const width = H * hd;
  const B = q.batch;
  const Sq = q.seq;
  const Sk = k.seq;
  if (k.batch !== B && k.batch !== 1) throw new ShapeError(`attention: k has batch ${k.batch}, expected ${B} (q's) or 1 (shared)`);
  if (v.batch !== k.batch || v.seq !== Sk) throw new ShapeError(`attention: v ${describe(v)} must match k ${describe(k)} in batch and seq`);
  if (Sk < 1) throw new ShapeError('attention: needs at least one key');
  const dtype = q.tensor.dtype;
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (t.tensor.dtype !== dtype) throw new ShapeError(`attention: ${name} is ${t.tensor.dtype} but q is ${dtype}; cast first`);
  }
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`attention: dtype ${dtype} unsupported (f32 or f16)`);
  const out: SeqView = opts.out ? asView(opts.out) : asView(Tensor.empty(device, [B, Sq, width], dtype, 'attention'));
  if (out.tensor.dtype !== dtype) throw new ShapeError(`attention: out is ${out.tensor.dtype} but q is ${dtype}`);
  if (out.batch !== B || out.seq !== Sq) throw new ShapeError(`attention: out ${describe(out)} must have batch ${B} and seq ${Sq}`);
  for (const x of [q, k, v]) {
    if (x.tensor.buffer === out.tensor.buffer) throw new ShapeError('attention: out must not share a buffer with q, k or v (write into another tensor)');
  }
  for (const [name, x] of [['q', q], ['k', k], ['v', v], ['out', out]] as const) {
    const ext = viewExtent(x, width);
    if (ext > x.tensor.numel || (x.offset ?? 0) < 0) {
      throw new ShapeError(`attention: ${name} view ${describe(x)} with ${H} heads x ${hd} reaches element ${ext}, beyond the tensor's ${x.tensor.numel}`);
    }
  }
  const kb = k.batch === 1 ? 0 : k.batchStride;
  const vb = v.batch === 1 ? 0 : v.batchStride;

  let biasBS = 0;
  if (opts.bias) {
    const n = opts.bias.numel;
    if (opts.bias.dtype !== 'f32' || (n !== Sk && n !== B * Sk)) {
      throw new ShapeError(`attention: bias must be f32 [${Sk}] or [${B}, ${Sk}], got ${opts.bias.dtype} [${opts.bias.shape.join(', ')}]`);
    }
    biasBS = n === Sk ? 0 : Sk;
  }
  let maskBS = 0;
  if (opts.mask) {
    const n = opts.mask.numel;
    if (opts.mask.dtype !== 'f32' || (n !== Sq * Sk && n !== B * Sq * Sk)) {
      throw new ShapeError(`attention: mask must be f32 [${Sq}, ${Sk}] or [${B}, ${Sq}, ${Sk}], got ${opts.mask.dtype} [${opts.mask.shape.join(', ')}]`);
    }
    maskBS = n === Sq * Sk ? 0 : Sq * Sk;
  }
  if (opts.lse) {
    if (opts.lse.dtype !== 'f32' || opts.lse.numel !== B * H * Sq) {
      throw new ShapeError(`attention: lse must be f32 [${B}, ${H}, ${Sq}] (${B * H * Sq} elements), got ${opts.lse.dtype} [${opts.lse.shape.join(', ')}]`);
    }
    for (const x of [q, k, v, out]) {
      if (x.tensor.buffer === opts.lse.buffer) throw new ShapeError('attention: lse must not share a buffer with q, k, v or out');
    }
  }

  const prob: AttentionProblem = {
    batch: B, heads: H, headDim: hd, sq: Sq, sk: Sk,
    aligned: hd % 4 === 0 && [q, k, v, out].every(vec4Aligned),
    cpu: cpuAdapter(device),
    maxBinding: device.caps.maxStorageBufferBindingSize,
  };
  const variant = chooseVariant(device, prob, opts.variant, !!opts.lse);
  const spec = variant.spec;
  const defines: Record<string, string | number | boolean> = {
    ZERO: dynamicLoops(device) ? 'p.zero' : '0u', T: dtype, HD: hd, HAS_BIAS: !!opts.bias, HAS_MASK: !!opts.mask, ...(spec.defines ?? {}),
  };
  if (spec.grid === 'matmul') {
    attentionMatmul(q, k, v, out, H, hd, opts, biasBS, maskBS);
    return out.tensor;
  }
  const bindings = [q.tensor, k.tensor, v.tensor, ...(opts.bias ? [opts.bias] : []), ...(opts.mask ? [opts.mask] : []), out.tensor];
  if (opts.lse) {
    // Only added when requested, so the kernels (and their pipeline keys) are unchanged otherwise.
    Object.assign(defines, { HAS_LSE: true, LSE_BINDING: bindings.length + 1 });
    bindings.push(opts.lse);
  }
  let groups: number;
  let qBlocks = 1;
  if (spec.grid === 'lanes') {
    // Two queries per invocation only up to LANES_MAX_HD (twice the registers; the JIT grows fast with the head dim).
    const pair = spec.defines?.PAIR === true && hd <= LANES_MAX_HD;
    const wg = laneWorkgroup(pair ? Math.ceil(Sq / 2) : Sq);
    Object.assign(defines, { WG: wg, VEC: prob.aligned, PAIR: pair });
    qBlocks = ceilDiv(Sq, pair ? 2 * wg : wg);
    groups = B * H * qBlocks;
  } else if (spec.grid === 'block') {
    const t = blockTiles(variant.name, spec, prob, opts.tiles, device);
    Object.assign(defines, { QPI: t.queriesPerInvocation, BK: t.keyBlock, WG: t.workgroup });
    qBlocks = ceilDiv(Sq, t.workgroup * t.queriesPerInvocation);
    groups = B * H * qBlocks;
  } else if (spec.grid === 'tile') {
    const tiles = flashTiles(hd, device.caps.maxComputeWorkgroupStorageSize, Math.min(256, device.caps.maxComputeInvocationsPerWorkgroup));
    Object.assign(defines, tiles);
    qBlocks = ceilDiv(Sq, tiles.BQ);
    groups = B * H * qBlocks;
  } else {
    groups = ceilDiv(B * H * Sq, 64);
  }
  if (B * H * Math.max(Sq, 1) > 0xffffffff) throw new ShapeError(`attention: ${B}x${H}x${Sq} query rows exceed the u32 index range; split the batch`);
  device.dispatch({
    op: OP,
    kernel: spec.kernel,
    defines,
    params: [
      u32(q.offset ?? 0), u32(q.batchStride), u32(q.seqStride),
      u32(k.offset ?? 0), u32(kb), u32(k.seqStride),
      u32(v.offset ?? 0), u32(vb), u32(v.seqStride),
      u32(out.offset ?? 0), u32(out.batchStride), u32(out.seqStride),
      u32(B), u32(H), u32(Sq), u32(Sk),
      u32(qBlocks), u32(opts.causal ? 1 : 0), u32(biasBS), u32(maskBS),
      f32(opts.scale ?? 1 / Math.sqrt(hd)), u32(0),
    ],
    bindings,
    workgroups: grid2D(groups, device.caps.maxComputeWorkgroupsPerDimension),
    flops: 4 * B * H * Sq * Sk * hd,
  });
  return out.tensor;
}

/** The variants that can run this problem on this device (tests and benchmarks loop over them). */
export function attentionVariants(device: Device, aligned = true): Variant<AttentionVariantSpec>[] {
  return variants<AttentionVariantSpec>(OP, device).filter((v) => aligned || !v.spec.vec4);
}

/** Builds an additive f32 [Sq, Sk] mask from a visibility test: 0 where visible(i, j), -Infinity elsewhere. */
export function additiveMask(device: Device, sq: number, sk: number, visible: (i: number, j: number) => boolean): Tensor {
  const data = new Float32Array(sq * sk);
  for (let i = 0; i < sq; i++) for (let j = 0; j < sk; j++) data[i * sk + j] = visible(i, j) ? 0 : -Infinity;
  return Tensor.from(device, data, [sq, sk], 'f32', 'attention mask');
}
