// Whole-model forward/backward of the Vchitect transformer for training (training.md sections 1-2), chaining the
// tested pairs of engine/train/vchitect-*.ts exactly as vchitectBlock64 / vchitectForward64 do it:
//   block: adaLN(temb) -> LN+mod of x and c -> attention (c broadcast over frames in block 0) -> ff halves of x and c;
//   the last block (context_pre_only) has 2 norm1_context chunks (scale, shift) and no text output.
//   model: patch embed + context embedder + temb -> blocks -> final layer.
// Parameters are looked up and gradients returned under the checkpoint's own names (Map name -> f32 Tensor).
// Memory (training.md section 4, options in memory-plan.ts): a checkpointed block (`recompute`) frees everything
// but its input {x, c} right after its forward and reruns that forward (same kernels, same inputs: the same bits)
// just before its backward. An offloaded block (`offload`, checkpointed blocks only) also sends its input to the
// host: the copy into a MAP_READ staging buffer is submitted right after the block's forward and its mapping is
// not waited for, so the forward never stalls per block; `await offloadReady(saved)` once before the backward
// collects every readback (they resolve as the GPU passes each copy). The backward uploads block k - 1's input
// (queue.writeBuffer, issued before block k's recompute and backward are recorded, so the transfer is queued ahead
// of need while the host records block k's work; WebGPU has one queue, so the upload is ordered, not concurrent).
// modelBackward frees each block's activations and input as soon as that block's backward is recorded. The block
// input helpers (parkInput, settleInputs, toGpu, disposeInput) also serve the block-by-block driver (blockwise.ts).

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import { add } from '../ops/elementwise.js';
import { broadcastTo, permute } from '../ops/layout.js';
import { layerNorm } from '../ops/norm.js';
import { layerNormBackward } from '../ops/norm-backward.js';
import { reduce } from '../ops/reduce.js';
import { ATTN_PARAMS, attnBackward, attnForward, disposeAttnSaved, type AttnGrads, type AttnParamName, type AttnParams, type AttnSaved } from './vchitect-attn.js';
import type { ContextSaved, PatchEmbedSaved } from './vchitect-embed.js';
import { chainBlockGrads, embedBackward, embedForward, finalLayerBackward, finalLayerForward } from './vchitect-ends.js';
import { disposeFfSaved, ffBackward, ffForward, type FfSaved } from './vchitect-ff.js';
import { disposeFinalSaved, type FinalSaved } from './vchitect-final.js';
import { memoryPlan, type MemoryOptions, type MemoryPlan } from './memory-plan.js';
import { HostCopy } from './offload.js';
import type { GradMap, ParamMap } from './update.js';
import { adaLnBackward, adaLnForward, disposeAdaLnSaved, disposeTembSaved, type AdaLnSaved, type TembSaved } from './vchitect-temb.js';


export interface ModelShape {
  numLayers: number;
  heads: number;
  patchSize: number;
  eps: number;
}

/** Checkpoint module of each attention parameter (weight for w*, bias for b*). */
const ATTN_MODULE: Record<string, string> = {
  q: 'to_q', k: 'to_k', v: 'to_v', aq: 'add_q_proj', ak: 'add_k_proj', av: 'add_v_proj', qx: 'to_q_cross', ctx: 'to_out_context',
  o: 'to_out.0', ao: 'to_add_out', qt: 'to_q_temp', kt: 'to_k_temp', vt: 'to_v_temp', ot: 'to_out_temporal', aot: 'to_add_out_temporal',
};
const attnName = (b: string, n: AttnParamName) => `${b}.attn.${ATTN_MODULE[n.slice(1)]}.${n[0] === 'w' ? 'weight' : 'bias'}`;

function get(p: ParamMap, name: string): Tensor {
  const t = p.get(name);
  if (!t) throw new Error(`vchitect backward: parameter ${name} missing (pass every checkpoint tensor of the transformer)`);
  return t;
}

/** Accumulates a gradient under a name (sums when present; takes ownership of g). */
function accumulate(grads: GradMap, name: string, g: Tensor): void {
  const old = grads.get(name);
  if (!old) { grads.set(name, g); return; }
  const s = add(old, g);
  old.dispose(); g.dispose();
  grads.set(name, s);
}

/** A block's forward up to its attention: the modulations, the normed inputs and the attention's parameters. */
export interface BlockPre {
  index: number;
  last: boolean;
  F: number;
  Tn: number;
  D: number;
  x: Tensor;
  c: Tensor;
  /** c broadcast to [F, T, D] (owned when c had one copy). */
  cb: Tensor;
  ownsCb: boolean;
  ada: AdaLnSaved;
  mods: Tensor[][];
  xh: Tensor;
  ch: Tensor;
  /** The attention's parameters (to_add_out of the last block: the zeros below). */
  ap: AttnParams;
  /** Zero to_add_out of the last block (the checkpoint has none). */
  zeros: Tensor[];
}

/** A block's saved activations; A is what its attention saved (attnForward's, or sp-attn.ts's sequence-parallel one). */
export interface BlockSaved<A = AttnSaved> extends BlockPre {
  attn: A;
  attnOut: Tensor[];
  ffx: FfSaved;
  ffc: FfSaved | null;
}

/** The block's first half: adaLN, the normed and modulated x and c, the attention's parameters (blockForward's split point). */
export function blockPre(p: ParamMap, shape: ModelShape, index: number, x: Tensor, c: Tensor, temb: Tensor): BlockPre {
  const [F, , D] = x.shape as [number, number, number];
  const Tn = c.shape[1]!;
  if (c.shape[0] !== 1 && c.shape[0] !== F) throw new Error(`vchitect block ${index}: text stream has ${c.shape[0]} copies, expected 1 or ${F}`);
  const last = index === shape.numLayers - 1;
  const b = `transformer_blocks.${index}`;
  const proj = (n: string) => ({ w: get(p, `${b}.${n}.weight`), b: get(p, `${b}.${n}.bias`) });
  const { mods, saved: ada } = adaLnForward(temb, [proj('norm1.linear'), proj('norm1_context.linear')]);
  const [sh1, sc1] = mods[0]!;
  const cm = mods[1]!;
  const [csc1, csh1] = last ? [cm[0]!, cm[1]!] : [cm[1]!, cm[0]!];
  const ownsCb = c.shape[0] !== F;
  const cb = ownsCb ? broadcastTo(c, [F, Tn, D]) : c;
  const xh = layerNorm(x, { eps: shape.eps, modulation: { scale: sc1!, shift: sh1! } });
  const ch = layerNorm(cb, { eps: shape.eps, modulation: { scale: csc1, shift: csh1 } });
  const zeros: Tensor[] = [];
  const ap = {} as AttnParams;
  for (const n of ATTN_PARAMS) {
    if (last && (n === 'wao' || n === 'bao')) {
      const z = T.from(x.device, new Float32Array(n === 'wao' ? D * D : D), n === 'wao' ? [D, D] : [D], 'f32');
      zeros.push(z);
      ap[n] = z;
    } else ap[n] = get(p, attnName(b, n));
  }
  return { index, last, F, Tn, D, x, c, cb, ownsCb, ada, mods, xh, ch, ap, zeros };
}

/** The block's second half after its attention (outputs visual [F, L, D], text [F, T, D] and its saved A): the ff halves. */
export function blockPost<A>(p: ParamMap, shape: ModelShape, pre: BlockPre, a: { visual: Tensor; text: Tensor; saved: A }): { x: Tensor; c: Tensor | null; saved: BlockSaved<A> } {
  const b = `transformer_blocks.${pre.index}`;
  const [, , g1, sh2, sc2, g2] = pre.mods[0]!;
  const cm = pre.mods[1]!;
  const ffp = (m: string) => ({ w1: get(p, `${b}.${m}.net.0.proj.weight`), b1: get(p, `${b}.${m}.net.0.proj.bias`), w2: get(p, `${b}.${m}.net.2.weight`), b2: get(p, `${b}.${m}.net.2.bias`) });
  const fx = ffForward(pre.x, a.visual, { g1: g1!, sc2: sc2!, sh2: sh2!, g2: g2! }, ffp('ff'), shape.eps);
  let cOut: Tensor | null = null;
  let ffc: FfSaved | null = null;
  if (!pre.last) {
    const fc = ffForward(pre.cb, a.text, { g1: cm[2]!, sh2: cm[3]!, sc2: cm[4]!, g2: cm[5]! }, ffp('ff_context'), shape.eps);
    cOut = fc.out;
    ffc = fc.saved;
  }
  return { x: fx.out, c: cOut, saved: { ...pre, attn: a.saved, attnOut: [a.visual, a.text], ffx: fx.saved, ffc } };
}

/** One block: x [F, L, D], c [1 | F, T, D], temb [1, D] -> x [F, L, D] and c [F, T, D] (null for the last block). */
export function blockForward(p: ParamMap, shape: ModelShape, index: number, x: Tensor, c: Tensor, temb: Tensor): { x: Tensor; c: Tensor | null; saved: BlockSaved } {
  const pre = blockPre(p, shape, index, x, c, temb);
  return blockPost(p, shape, pre, attnForward(pre.xh, pre.ch, pre.ap, shape.heads));
}

/** What blockPre made (a block whose attention failed). */
/** A checkpointed block's forward rerun for its backward (the same kernels on the same input: the same bits). */
export function recomputeBlock(p: ParamMap, shape: ModelShape, index: number, x: Tensor, c: Tensor, temb: Tensor): BlockSaved {
  const f = blockForward(p, shape, index, x, c, temb);
  f.x.dispose();
  f.c?.dispose();
  return f.saved;
}

export function disposeBlockPre(s: BlockPre): void {
  disposeAdaLnSaved(s.ada);
  for (const m of s.mods) for (const t of m) t.dispose();
  for (const t of [s.xh, s.ch, ...s.zeros]) t.dispose();
  if (s.ownsCb) s.cb.dispose();
}

/** Everything a block saved but its attention's own activations (disposeBlockSaved frees those too). */
export function disposeBlockParts(s: BlockSaved<unknown>): void {
  disposeBlockPre(s);
  disposeFfSaved(s.ffx);
  if (s.ffc) disposeFfSaved(s.ffc);
  for (const t of s.attnOut) t.dispose();
}

export function disposeBlockSaved(s: BlockSaved): void {
  disposeAttnSaved(s.attn);
  disposeBlockParts(s);
}

/** Sum of [F, T, D] over frames -> [1, T, D]. */
function sumFrames(t: Tensor): Tensor {
  const [, Tn, D] = t.shape as [number, number, number];
  const pt = permute(t, [1, 2, 0]);
  const r = reduce('sum', pt);
  pt.dispose();
  const out = r.reshape([1, Tn, D]);
  r.dispose();
  return out;
}

/** The ff half of a block's backward: its gradients accumulated; dAx, dText are the attention outputs' gradients. */
export interface BlockBackMid {
  dX: Tensor;
  dAx: Tensor;
  dText: Tensor;
  dcb1: Tensor | null;
  xmodGrads: Tensor[];
  cmodGrads: Tensor[];
}

export function blockBackwardFf(s: BlockSaved<unknown>, dxOut: Tensor, dcOut: Tensor | null, grads: GradMap): BlockBackMid {
  const b = `transformer_blocks.${s.index}`;
  const ffNames = (m: string, g: { dW1: Tensor; db1: Tensor; dW2: Tensor; db2: Tensor }) => {
    accumulate(grads, `${b}.${m}.net.0.proj.weight`, g.dW1);
    accumulate(grads, `${b}.${m}.net.0.proj.bias`, g.db1);
    accumulate(grads, `${b}.${m}.net.2.weight`, g.dW2);
    accumulate(grads, `${b}.${m}.net.2.bias`, g.db2);
  };
  const gx = ffBackward(s.ffx, dxOut);
  ffNames('ff', gx);
  let dText: Tensor;
  let dcb1: Tensor | null = null;
  let cmodGrads: Tensor[];
  if (s.ffc) {
    if (!dcOut) throw new Error(`vchitect block ${s.index} backward: the text output's gradient is missing`);
    const gc = ffBackward(s.ffc, dcOut);
    ffNames('ff_context', gc);
    dText = gc.dAx;
    dcb1 = gc.dX;
    cmodGrads = [null!, null!, gc.dg1, gc.dsh2, gc.dsc2, gc.dg2];
  } else {
    dText = T.from(s.x.device, new Float32Array(s.F * s.Tn * s.D), [s.F, s.Tn, s.D], 'f32');
    cmodGrads = [null!, null!];
  }
  return { dX: gx.dX, dAx: gx.dAx, dText, dcb1, xmodGrads: [gx.dg1, gx.dsh2, gx.dsc2, gx.dg2], cmodGrads };
}

/** The rest of a block's backward from its attention's gradients: the norms, adaLN; dx, dc (shaped like the forward's c), dtemb. */
export function blockBackwardRest(s: BlockSaved<unknown>, m: BlockBackMid, ga: AttnGrads, grads: GradMap): { dx: Tensor; dc: Tensor; dtemb: Tensor } {
  const b = `transformer_blocks.${s.index}`;
  for (const n of ATTN_PARAMS) {
    const g = ga[`d${n}`];
    if (s.last && (n === 'wao' || n === 'bao')) g.dispose();
    else accumulate(grads, attnName(b, n), g);
  }
  let cmodGrads = m.cmodGrads;
  const [sh1, sc1] = [s.mods[0]![0]!, s.mods[0]![1]!];
  const cm = s.mods[1]!;
  const [csc1, csh1] = s.last ? [cm[0]!, cm[1]!] : [cm[1]!, cm[0]!];
  const lx = layerNormBackward(s.x, ga.dx, { eps: s.ffx.eps, modulation: { scale: sc1, shift: sh1 } });
  const lc = layerNormBackward(s.cb, ga.dc, { eps: s.ffx.eps, modulation: { scale: csc1, shift: csh1 } });
  const shaped = (t: Tensor, like: Tensor) => { const r = t.reshape(like.shape); t.dispose(); return r; };
  const xg = [shaped(lx.dshift!, sh1), shaped(lx.dscale!, sc1), ...m.xmodGrads];
  if (s.last) cmodGrads = [shaped(lc.dscale!, csc1), shaped(lc.dshift!, csh1)];
  else { cmodGrads[0] = shaped(lc.dshift!, csh1); cmodGrads[1] = shaped(lc.dscale!, csc1); }
  const ag = adaLnBackward(s.ada, [xg, cmodGrads]);
  accumulate(grads, `${b}.norm1.linear.weight`, ag.dW[0]!);
  accumulate(grads, `${b}.norm1.linear.bias`, ag.db[0]!);
  accumulate(grads, `${b}.norm1_context.linear.weight`, ag.dW[1]!);
  accumulate(grads, `${b}.norm1_context.linear.bias`, ag.db[1]!);
  const dx = add(m.dX, lx.dx);
  let dcb = lc.dx;
  if (m.dcb1) { dcb = add(lc.dx, m.dcb1); lc.dx.dispose(); m.dcb1.dispose(); }
  const dc = s.ownsCb ? sumFrames(dcb) : dcb;
  if (dc !== dcb) dcb.dispose();
  for (const t of [...xg, ...cmodGrads, m.dX, m.dAx, lx.dx, ga.dx, ga.dc, m.dText]) t.dispose();
  return { dx, dc, dtemb: ag.dtemb };
}

/** The block's backward: dx, dc (shaped like the forward's c), dtemb; parameter gradients accumulated into grads. */
export function blockBackward(s: BlockSaved, dxOut: Tensor, dcOut: Tensor | null, grads: GradMap): { dx: Tensor; dc: Tensor; dtemb: Tensor } {
  const m = blockBackwardFf(s, dxOut, dcOut, grads);
  return blockBackwardRest(s, m, attnBackward(s.attn, m.dAx, m.dText), grads);
}

export interface ModelInputs {
  /** [1, F, C, Hl, Wl] f32. */
  hidden: Tensor;
  /** [1] f32: sigma * 1000. */
  timestep: Tensor;
  /** [1, T, J] f32. */
  context: Tensor;
  /** [1, P] f32. */
  pooled: Tensor;
}

export interface ModelSaved {
  shape: ModelShape;
  hiddenShape: readonly number[];
  /** The parameters (a checkpointed block's forward reruns on them). */
  params: ParamMap;
  plan: MemoryPlan;
  patch: PatchEmbedSaved;
  ctx: ContextSaved;
  temb: TembSaved;
  tembOut: Tensor;
  /** Per block: its saved activations, or null for a checkpointed block (its forward reruns in the backward). */
  blocks: (BlockSaved | null)[];
  /** Per block: its input (owned). */
  inputs: BlockInput[];
  /** The latents as [F, C, Hl, Wl] and the final layer's input (owned). */
  lat: Tensor;
  finalX: Tensor;
  final: FinalSaved;
  /** offloadReady has seen every offloaded input reach the host. */
  offloadSettled: boolean;
  /** modelBackward ran (it frees the activations as it passes them). */
  consumed: boolean;
}

/** A block's input: x [F, L, D] and the text stream c [1 | F, T, D], on the GPU or (offloaded) on the host. */
export interface BlockInput {
  x: Tensor | null;
  c: Tensor | null;
  host: { x: HostCopy; c: HostCopy } | null;
}

/**
 * The whole transformer: the velocity [1, F, outC, Hl, Wl] and the saved activations (modelBackward, then
 * disposeModelSaved). `mem` selects checkpointed blocks (recompute) and offloaded inputs (offload), see the header;
 * with an offload, `await offloadReady(saved)` before modelBackward.
 */
export function modelForward(p: ParamMap, shape: ModelShape, inp: ModelInputs, mem: MemoryOptions = {}): { out: Tensor; saved: ModelSaved } {
  const hs = inp.hidden.shape;
  if (hs.length !== 5 || hs[0] !== 1) throw new Error(`vchitect modelForward: hidden [${hs.join(', ')}] must be [1, F, C, Hl, Wl]`);
  const plan = memoryPlan(shape.numLayers, mem);
  const [, F, C, Hl, Wl] = hs as [number, number, number, number, number];
  const lat = inp.hidden.reshape([F, C, Hl, Wl]);
  const { pe, cx, te } = embedForward((k) => get(p, k), lat, inp.context, inp.timestep, inp.pooled);
  let x = pe.tokens;
  let c: Tensor | null = cx.C;
  const blocks: (BlockSaved | null)[] = [];
  const inputs: BlockInput[] = [];
  for (let i = 0; i < shape.numLayers; i++) {
    if (!c) throw new Error(`vchitect block ${i}: text stream missing (only the last block drops it)`);
    const r = blockForward(p, shape, i, x, c, te.temb);
    const input: BlockInput = { x, c, host: null };
    if (plan.checkpointed[i]) {
      disposeBlockSaved(r.saved);
      blocks.push(null);
      if (plan.offloaded[i]) parkInput(input);
    } else blocks.push(r.saved);
    inputs.push(input);
    x = r.x;
    c = r.c;
  }
  const fin = finalLayerForward((k) => get(p, k), shape.patchSize, shape.eps, x, te.temb, F, Hl, Wl);
  const out = fin.out;
  const saved: ModelSaved = {
    shape, hiddenShape: hs, params: p, plan, patch: pe.saved, ctx: cx.saved, temb: te.saved, tembOut: te.temb, blocks, inputs,
    lat, finalX: x, final: fin.saved, offloadSettled: !plan.offloaded.includes(true), consumed: false,
  };
  return { out, saved };
}

/**
 * Moves a block input to the host: the copies are started (offload.ts) and the GPU tensors freed at once. Call it
 * after the block's forward is recorded (the copies are ordered after its dispatches).
 */
export function parkInput(b: BlockInput): void {
  if (!b.x || !b.c) throw new Error('internal error: parking a block input that is not on the GPU');
  b.host = { x: HostCopy.start(b.x), c: HostCopy.start(b.c) };
  b.x.dispose();
  b.c.dispose();
  b.x = b.c = null;
}

/** Waits until every parked block input is on the host (the readbacks started during the forward). */
export async function settleInputs(inputs: readonly BlockInput[]): Promise<void> {
  await Promise.all(inputs.flatMap((b) => (b.host ? [b.host.x.settle(), b.host.c.settle()] : [])));
}

/** Waits until every offloaded block input is on the host (the readbacks started during the forward). */
export async function offloadReady(s: ModelSaved): Promise<void> {
  await settleInputs(s.inputs);
  s.offloadSettled = true;
}

/** Frees a block input wherever it is (GPU or host). */
export function disposeInput(b: BlockInput): void {
  b.x?.dispose();
  b.c?.dispose();
  b.host?.x.dispose();
  b.host?.c.dispose();
  b.x = b.c = null;
  b.host = null;
}

export function disposeModelSaved(s: ModelSaved): void {
  for (const b of s.blocks) if (b) disposeBlockSaved(b);
  disposeFinalSaved(s.final);
  disposeTembSaved(s.temb);
  s.tembOut.dispose();
  for (const b of s.inputs) disposeInput(b);
  s.lat.dispose();
  s.finalX.dispose();
}

/** Puts an offloaded block input back on the GPU (no-op when it is there). */
export function toGpu(b: BlockInput, index: number): { x: Tensor; c: Tensor } {
  if (b.host) {
    b.x = b.host.x.upload(`block ${index} input`);
    b.c = b.host.c.upload(`block ${index} text input`);
    b.host.x.dispose();
    b.host.c.dispose();
    b.host = null;
  }
  return { x: b.x!, c: b.c! };
}

/**
 * The backward for dOut (shaped like out): every parameter's gradient by checkpoint name, and dHidden. It frees each
 * block's activations and input once that block's backward is recorded (so call it once per forward), reruns a
 * checkpointed block's forward just before its backward, and uploads an offloaded input of block k - 1 before block
 * k's work. disposeModelSaved frees the rest.
 */
export function modelBackward(s: ModelSaved, dOut: Tensor): { grads: GradMap; dHidden: Tensor } {
  if (s.consumed) throw new Error('vchitect modelBackward: these saved activations were already used by a backward, which frees them; run modelForward again');
  if (!s.offloadSettled) throw new Error('vchitect modelBackward: offloaded block inputs are not on the host yet; await offloadReady(saved) after modelForward');
  s.consumed = true;
  const fb = finalLayerBackward(s.final, dOut, s.hiddenShape);
  s.finalX.dispose();
  const grads: GradMap = new Map(fb.grads);
  const run = fb.run;
  for (let i = s.blocks.length - 1; i >= 0; i--) {
    const inp = toGpu(s.inputs[i]!, i);
    if (i > 0 && s.plan.offloaded[i - 1]) toGpu(s.inputs[i - 1]!, i - 1); // prefetch: issued before block i's work
    const bs = s.blocks[i] ?? recomputeBlock(s.params, s.shape, i, inp.x, inp.c, s.tembOut);
    const r = blockBackward(bs, run.dx, run.dc, grads);
    disposeBlockSaved(bs);
    s.blocks[i] = null;
    disposeInput(s.inputs[i]!);
    chainBlockGrads(run, r);
  }
  const dLatents = embedBackward(s, run.dx, run.dc!, run.dtemb, grads);
  run.dtemb.dispose();
  const dHidden = dLatents.reshape(s.hiddenShape);
  dLatents.dispose();
  return { grads, dHidden };
}
