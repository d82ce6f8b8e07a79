// The optimizer's per-tensor work in a few dispatches (training.md section 3): tensors are copied into flat f32
// buffers group by group (copyBufferToBuffer, each tensor at a multiple of 4 elements; groups of groupCap elements,
// so the transient memory stays small), normed / updated / summed there by one dispatch per group and run, and
// copied back. A model of a few hundred small tensors otherwise pays a dispatch per tensor for every norm, AdamW and
// EMA update and gradient sum (about 1000 dispatches per step for the shapes transformer); copies cost a few
// microseconds each. The arithmetic is the per-tensor kernels' element by element (segmentNorms gives
// reduce('l2norm')'s bits per tensor; AdamW, EMA and add are elementwise), so results are bit-identical to working
// tensor by tensor.

import { Tensor } from '../tensor.js';
import { add } from '../ops/elementwise.js';
import { adamwStep, emaUpdate, type AdamWOptions } from '../ops/optim.js';
import { segmentNorms, type FlatSegment } from '../ops/reduce.js';

/** Elements per flat group buffer at most (256 KiB of f32); a larger tensor gets a group of its own. */
export const GROUP_ELEMENTS = 1 << 16;

/**
 * The group size for tensors of `total` elements: GROUP_ELEMENTS, but at most a sixteenth of the total (at least 1024),
 * so the flat buffers of a small model stay a small part of its memory (a rank's step peak is then still set by its
 * activations, which recomputation lowers).
 */
export function groupCap(total: number): number {
  return Math.min(GROUP_ELEMENTS, Math.max(1024, Math.ceil(total / 16)));
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
/** Flat group buffers alive at once (AdamW: parameter, gradient, m and v); memory.ts counts them. */
export const FLAT_BUFFERS = 4;

interface Group {
  /** Indices into the tensor list, in list order. */
  members: number[];
  segs: FlatSegment[];
  total: number;
}

/** Consecutive tensors packed into groups: each at a multiple of 4 elements, a group at most `cap` elements (or one tensor). */
export function planGroups(sizes: readonly number[], cap = groupCap(sum(sizes))): Group[] {
  const groups: Group[] = [];
  let g: Group | null = null;
  for (const [i, n] of sizes.entries()) {
    const at = g ? Math.ceil(g.total / 4) * 4 : 0;
    if (!g || (at + n > cap && g.members.length)) {
      g = { members: [], segs: [], total: 0 };
      groups.push(g);
    }
    const offset = Math.ceil(g.total / 4) * 4;
    g.members.push(i);
    g.segs.push({ offset, length: n });
    g.total = offset + n;
  }
  return groups;
}

function gather(flat: Tensor, ts: readonly Tensor[], segs: readonly FlatSegment[]): void {
  const enc = flat.device.commandEncoder();
  ts.forEach((t, i) => enc.copyBufferToBuffer(t.buffer, 0, flat.buffer, segs[i]!.offset * 4, t.byteLength));
}

function scatter(flat: Tensor, ts: readonly Tensor[], segs: readonly FlatSegment[]): void {
  const enc = flat.device.commandEncoder();
  ts.forEach((t, i) => enc.copyBufferToBuffer(flat.buffer, segs[i]!.offset * 4, t.buffer, 0, t.byteLength));
}

function checkF32(who: string, ts: readonly Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new Error(`${who}: ${t.label ?? 'a tensor'} is ${t.dtype}[${t.shape.join(', ')}]; optimizer tensors are f32`);
}

/** The l2norm of each tensor, f32[n] in list order: bit for bit reduce('l2norm', t, { axis: 'all' }) of each. */
export function tensorNorms(ts: readonly Tensor[], cap?: number): Tensor {
  if (!ts.length) throw new Error('tensorNorms: no tensors');
  checkF32('tensorNorms', ts);
  const device = ts[0]!.device;
  const out = Tensor.empty(device, [ts.length], 'f32', 'tensor norms');
  for (const g of planGroups(ts.map((t) => t.numel), cap)) {
    const flat = Tensor.empty(device, [g.total], 'f32', 'flat gradients');
    gather(flat, g.members.map((i) => ts[i]!), g.segs);
    segmentNorms(flat, g.segs, { out, outOffset: g.members[0]! });
    flat.dispose();
  }
  return out;
}

/** One tensor's AdamW inputs; `decay`: whether weight decay applies to it. */
export interface AdamWEntry {
  param: Tensor;
  grad: Tensor;
  m: Tensor;
  v: Tensor;
  decay: boolean;
}

/**
 * AdamW (engine/ops/optim.ts adamwStep) on every entry, in place, over flat group buffers: within a group the
 * decaying tensors come first, so a group takes at most two dispatches (weight decay o.weightDecay, then 0).
 */
export function flatAdamw(entries: readonly AdamWEntry[], o: Omit<AdamWOptions, 'start' | 'count'>, cap?: number): void {
  if (!entries.length) return;
  const sorted = [...entries.filter((e) => e.decay), ...entries.filter((e) => !e.decay)];
  const all = sorted.flatMap((e) => [e.param, e.grad, e.m, e.v]);
  checkF32('adamw', all);
  for (const e of sorted) {
    for (const t of [e.grad, e.m, e.v]) {
      if (t.numel !== e.param.numel) throw new Error(`adamw: ${t.label ?? 'a tensor'} [${t.shape.join(', ')}] does not match its parameter ${e.param.label ?? ''} [${e.param.shape.join(', ')}]`);
    }
  }
  const device = sorted[0]!.param.device;
  for (const g of planGroups(sorted.map((e) => e.param.numel), cap)) {
    const es = g.members.map((i) => sorted[i]!);
    const bufs = (['param', 'grad', 'm', 'v'] as const).map((k) => {
      const flat = Tensor.empty(device, [g.total], 'f32', `flat adamw ${k}`);
      gather(flat, es.map((e) => e[k]), g.segs);
      return flat;
    });
    const [p, gr, m, v] = bufs as [Tensor, Tensor, Tensor, Tensor];
    const split = es.findIndex((e) => !e.decay);
    const runs: [number, number, boolean][] = split === -1 ? [[0, es.length, true]] : split === 0 ? [[0, es.length, false]] : [[0, split, true], [split, es.length, false]];
    for (const [a, b, decay] of runs) {
      const start = g.segs[a]!.offset;
      const end = g.segs[b - 1]!.offset + g.segs[b - 1]!.length;
      adamwStep(p, gr, m, v, { ...o, weightDecay: decay ? o.weightDecay : 0, start, count: end - start });
    }
    scatter(p, es.map((e) => e.param), g.segs);
    scatter(m, es.map((e) => e.m), g.segs);
    scatter(v, es.map((e) => e.v), g.segs);
    for (const t of bufs) t.dispose();
  }
}

/**
 * For each flat group of the pairs: dst and src gathered into two flat buffers, `op` (one dispatch) returning the
 * flat result (dst's buffer or a new one), scattered back into the dst tensors.
 */
function overPairs(pairs: readonly { dst: Tensor; src: Tensor }[], label: string, cap: number | undefined, op: (dst: Tensor, src: Tensor, total: number) => Tensor): void {
  const device = pairs[0]!.dst.device;
  for (const g of planGroups(pairs.map((q) => q.dst.numel), cap)) {
    const qs = g.members.map((i) => pairs[i]!);
    const d = Tensor.empty(device, [g.total], 'f32', label);
    const s = Tensor.empty(device, [g.total], 'f32', `${label} input`);
    gather(d, qs.map((q) => q.dst), g.segs);
    gather(s, qs.map((q) => q.src), g.segs);
    const r = op(d, s, g.total);
    scatter(r, qs.map((q) => q.dst), g.segs);
    if (r !== d) r.dispose();
    d.dispose(); s.dispose();
  }
}

/** ema = decay ema + (1 - decay) param for every pair, in place, one dispatch per flat group. */
export function flatEma(pairs: readonly { ema: Tensor; param: Tensor }[], decay: number, cap?: number): void {
  if (!pairs.length) return;
  checkF32('ema', pairs.flatMap((q) => [q.ema, q.param]));
  for (const q of pairs) if (q.ema.numel !== q.param.numel) throw new Error(`ema: ${q.ema.label ?? 'an EMA tensor'} [${q.ema.shape.join(', ')}] does not match its parameter [${q.param.shape.join(', ')}]`);
  overPairs(pairs.map((q) => ({ dst: q.ema, src: q.param })), 'flat ema', cap, (e, p, n) => {
    emaUpdate(e, p, decay, 0, n);
    return e;
  });
}

/** acc += add for every pair, in place (the bits of add(acc, add) per tensor), one dispatch per flat group. */
export function flatAddInto(pairs: readonly { acc: Tensor; add: Tensor }[], cap?: number): void {
  if (!pairs.length) return;
  checkF32('gradient sum', pairs.flatMap((q) => [q.acc, q.add]));
  for (const q of pairs) if (q.acc.numel !== q.add.numel) throw new Error(`gradient sum: ${q.add.label ?? 'a gradient'} [${q.add.shape.join(', ')}] does not match [${q.acc.shape.join(', ')}]`);
  overPairs(pairs.map((q) => ({ dst: q.acc, src: q.add })), 'flat gradient sum', cap, (a, b) => add(a, b));
}
