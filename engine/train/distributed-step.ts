// Data-parallel training with ZeRO stages 0-3 over the engine's collectives (training.md section 4, parallel.md
// section 4). A global batch of K items is split over the N ranks of a group in contiguous runs (batchShare); item
// j of the batch draws (sigma, eps) from index drawStep * K + j on whichever rank trains it, and every item's
// gradient is weighted 1 / K, so the ranks together compute exactly the one-rank batch's gradient. Each rank sums its
// own items' gradients in item order, then the ranks' sums are added in rank order (the collectives' fixed order):
// bit-identical to one rank whenever that is the same summation (one item per rank), else equal to f32 rounding.
//   stage 0: all-reduce of every gradient; every rank runs the same clipped AdamW (and EMA) on all parameters.
//   stage 1: the Adam moments (and EMA) are sharded by unit (zero-layout.ts: one unit per block + the non-block
//            unit); all-reduce of the gradients, the owner updates its units, then the updated units are all-gathered.
//   stage 2: also the gradients: on a rank's last item, as soon as block i's backward is done its gradient sum is
//            reduced to the block's owner (a reduce-scatter with the owner's count only) and freed elsewhere.
//   stage 3: also the parameters: a rank keeps its own units; a block's parameters are broadcast from their owner
//            before its forward and again before its backward (the block's forward is rerun there: blockwise.ts),
//            and freed after each; the non-block unit is gathered once per step. No parameter gather after the update.
// Memory options (recompute, offload: memory-plan.ts) apply at every stage: stages 0/1 without SP run itemGradients
// (modelForward's plan), stages 2/3 and every SP rank the block-by-block driver of blockwise.ts with the same plan;
// stage 3 checkpoints every block (recompute is refused there as redundant; offload applies to them).
// The clip norm is the l2 norm of the per-tensor l2 norms in parameter order, as globalGradNorm computes it; in
// stages 2/3 each owner computes its tensors' norms and a zero-padded vector of them is all-reduced (adding zeros is
// exact), so every stage gives the same bits. The loss is the mean of the K items' losses (all-gathered).
// With `sp` (sp-groups.ts, sp-model.ts): the group is the data-parallel group; every rank of an SP group trains its
// share of the token rows of the same items (sp-model.ts spRows, a row split of blockwise.ts), and each gradient is
// first summed over the SP group; ZeRO 0-3 shard over the data-parallel group (every SP rank holds the same shard).
// A failure on a rank aborts the group's transport, so every rank ends with an error instead of waiting.

import type { Tensor } from '../tensor.js';
import { Tensor as T } from '../tensor.js';
import type { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure, DistError } from '../distributed/errors.js';
import type { Device } from '../gpu/device.js';
import { reduce } from '../ops/reduce.js';
import { blockwiseItemGradients, fullSource, type UnitSource } from './blockwise.js';
import { readFlat, uploadFlat, writeFlat } from './host-flat.js';
import { learningRate } from './schedule.js';
import { drawSigmaNoise, itemGradients, type TrainBatch, type TrainStepOptions, type TrainStepResult } from './train-step.js';
import { tensorNorms } from './flat-update.js';
import { clippedUpdate, globalGradNorm, TrainState, type GradMap, type ParamMap } from './update.js';
import type { ModelShape } from './vchitect-backward.js';
import { memoryPlan, type MemoryOptions, type MemoryPlan } from './memory-plan.js';
import { batchShare, numelOf, ownedNames, zeroLayout, type ZeroLayout } from './zero-layout.js';
import { makeSpGroup, spItemGradients, type SpGroup } from './sp-model.js';

export type ZeroStage = 0 | 1 | 2 | 3;
export const ZERO_STAGES: readonly ZeroStage[] = [0, 1, 2, 3];

export interface DistributedTrainerOptions {
  /** ZeRO stage (default 0: plain data parallelism). */
  zero?: ZeroStage;
  /** Keep an EMA of the weights (sharded like the Adam moments from stage 1). */
  ema?: boolean;
  /**
   * Ulysses sequence-parallel group of this rank (sp-groups.ts spDataGroups: `group` is then the data-parallel
   * group of the ranks with the same SP rank). Every rank of an SP group passes the same items; each runs its share
   * of the token rows (sp-model.ts) and the gradients are summed over the SP group (rank order), then over the
   * data-parallel group. Any ZeRO stage (over the data-parallel group). Any SP size: Ulysses when H % sp.size == 0,
   * else the K/V all-gather (sp-attn.ts).
   */
  sp?: ProcessGroup;
}

export interface DistributedStepOptions extends TrainStepOptions {
  /** K: items of the global batch over all ranks; this rank passes batchShare(K, N, rank).count of them. */
  globalBatch: number;
}

export interface DistributedStepResult extends TrainStepResult {
  /** This rank's items of the global batch. */
  share: { offset: number; count: number };
}

/** Host copies of a full training state, by parameter name (what a checkpoint writer needs). */
export type HostTensors = Map<string, Float32Array>;
export type StateKind = 'params' | 'ema' | 'm' | 'v';

export class DistributedTrainer {
  readonly layout: ZeroLayout;
  /** Adam moments (and EMA) of the parameters this rank updates: all of them at stage 0, its units from stage 1. */
  readonly state: TrainState;
  /** The parameters this rank holds (updated in place, same Tensor objects every step): all of them at stages 0-2, its own units at stage 3. */
  readonly params: Map<string, Tensor>;
  /** Names this rank updates: all (parameter order) at stage 0, else its units' (ownedNames order). */
  readonly owned: string[];
  /** This rank's device. */
  readonly device: Device;
  /** The sequence-parallel group (null when sp is 1). */
  readonly sp: SpGroup | null;

  private constructor(
    readonly group: ProcessGroup,
    readonly shape: ModelShape,
    readonly zero: ZeroStage,
    params: Map<string, Tensor>,
    ema: boolean,
    spGroup: ProcessGroup | null,
  ) {
    if (!ZERO_STAGES.includes(zero)) throw new Error(`distributed training: --zero must be 0, 1, 2 or 3, got ${zero}`);
    const first = params.values().next().value as Tensor | undefined;
    if (!first) throw new Error('distributed training: no parameters (pass the model\'s checkpoint tensors as f32 master weights)');
    this.device = first.device;
    this.sp = spGroup && spGroup.size > 1 ? makeSpGroup(spGroup, this.device, shape.heads) : null;
    this.layout = zeroLayout([...params].map(([k, t]) => [k, t.shape]), shape.numLayers, group.size);
    this.owned = zero === 0 ? [...this.layout.names] : ownedNames(this.layout, group.rank);
    if (zero === 3) {
      const keep = new Set(this.owned);
      for (const [k, t] of params) if (!keep.has(k)) t.dispose();
      this.params = new Map(this.owned.map((k) => [k, params.get(k)!]));
    } else this.params = params;
    const mine = new Map(this.owned.map((k) => [k, params.get(k)!]));
    this.state = mine.size ? new TrainState(mine, { ema }) : emptyState(ema);
  }

  /**
   * A trainer for this rank of `group`. Every rank passes the same full parameter map (f32 master weights, the same
   * values: load the same checkpoint everywhere); the trainer takes it over: at stage 3 the tensors of units this rank
   * does not own are disposed at once (use `trainer.params` from then on).
   */
  static create(group: ProcessGroup, params: Map<string, Tensor>, shape: ModelShape, opts: DistributedTrainerOptions = {}): DistributedTrainer {
    return new DistributedTrainer(group, shape, opts.zero ?? 0, params, opts.ema ?? false, opts.sp ?? null);
  }

  get rank(): number {
    return this.group.rank;
  }

  /** Live and peak bytes of this rank's device buffers (the pool's accounting). */
  memory(): { liveBytes: number; peakBytes: number } {
    const s = this.device.pool.stats;
    return { liveBytes: s.liveBytes, peakBytes: s.peakBytes };
  }

  /** One optimizer step over this rank's share of the global batch; the same result on every rank. */
  async step(local: readonly TrainBatch[], o: DistributedStepOptions): Promise<DistributedStepResult> {
    try {
      return await this.stepBody(local, o);
    } catch (e) {
      const where = this.sp ? `sequence-parallel train step (SP rank ${this.sp.group.rank} of group ${this.sp.group.describe()}, ZeRO ${this.zero}) on data-parallel rank ${this.rank} of group ${this.group.describe()}` : `data-parallel train step (ZeRO ${this.zero}) on rank ${this.rank} of group ${this.group.describe()}`;
      throw abortOnLocalFailure(this.group.transport, where, e);
    }
  }

  private async stepBody(local: readonly TrainBatch[], o: DistributedStepOptions): Promise<DistributedStepResult> {
    const g = this.group;
    const K = o.globalBatch;
    const share = batchShare(K, g.size, g.rank);
    if (local.length !== share.count) {
      throw new Error(`a global batch of ${K} over ${g.size} ranks gives rank ${g.rank} items [${share.offset}, ${share.offset + share.count}) (${share.count}), but it was passed ${local.length}; pass batchShare(K, N, rank)'s items`);
    }
    if (this.zero === 3 && o.recompute !== undefined) {
      throw new Error("distributed training: ZeRO 3 already checkpoints every block (its parameters are gathered again for the backward, where the block's forward reruns): drop recompute (offload alone applies there)");
    }
    const memory: MemoryOptions = { recompute: this.zero === 3 ? 0 : o.recompute, offload: o.offload };
    const plan = memoryPlan(this.shape.numLayers, memory);
    const clip = o.clip ?? 1;
    if (!(clip >= 0)) throw new Error(`train step: clip must be >= 0 (0 turns it off), got ${clip}`);
    if (o.emaDecay && !this.state.ema && this.owned.length) throw new Error('train step: emaDecay given but the trainer keeps no EMA (create it with { ema: true })');
    const step = this.state.step + 1;
    const lr = typeof o.lr === 'number' ? o.lr : learningRate(step, o.lr);
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`train step: learning rate must be a finite number >= 0, got ${lr}`);
    const d = o.drawStep ?? step;
    const settings = { step, sp: this.sp?.group.size ?? 1, globalBatch: K, drawStep: d, seed: o.seed, zero: this.zero, parameters: this.layout.names.length, clip, lr, sigma: o.sigma, adamw: o.adamw ?? null, emaDecay: o.emaDecay ?? null, recompute: o.recompute ?? null, offload: o.offload ?? null };
    if (this.sp) await this.agree({ ...settings, items: local.length }, this.sp.group);
    await this.agree(settings, this.group);

    const draws = local.map((it, i) => drawSigmaNoise(o.seed, d * K + share.offset + i, it.x0.numel, o.sigma));
    const losses: Tensor[] = [];
    let grads: GradMap;
    try {
      grads = this.zero <= 1 ? await this.gradsReplicated(local, draws, K, losses, memory, plan) : await this.gradsSharded(local, draws, K, losses, plan);
    } catch (e) {
      for (const t of losses) t.dispose();
      throw e;
    }
    const lossHost = await readFlat(losses);
    for (const t of losses) t.dispose();

    let norm: Tensor | null = null;
    try {
      norm = this.zero <= 1 ? globalGradNorm(grads, this.layout.names) : await this.shardedNorm(grads);
      const mine = new Map(this.owned.map((k) => [k, this.params.get(k)!]));
      const myGrads: GradMap = new Map(this.owned.map((k) => [k, grads.get(k)!]));
      if (mine.size) clippedUpdate(this.state, mine, myGrads, { lr, step, adamw: o.adamw, clip, emaDecay: o.emaDecay, norm });
      this.state.step = step;
      if (this.zero === 1 || this.zero === 2) await this.gatherUpdated();
      const both = await this.lossAndSigmas(lossHost, draws.map((x) => x.sigma), K);
      const normHost = (await norm.read())[0]!;
      const result: DistributedStepResult = { loss: both.loss, gradNorm: normHost, sigma: both.sigmas[0]!, sigmas: both.sigmas, lr, step, share };
      if (o.keepGrads) return { ...result, grads };
      for (const t of grads.values()) t.dispose();
      return result;
    } catch (e) {
      for (const t of grads.values()) t.dispose();
      throw e;
    } finally {
      norm?.dispose();
    }
  }

  /** Every rank must take the same step with the same settings: one small all-gather names the first difference. */
  private async agree(h: Record<string, unknown>, group: ProcessGroup): Promise<void> {
    const mine = JSON.stringify(h);
    const all = await group.allGather(new TextEncoder().encode(mine));
    all.forEach((b, r) => {
      const theirs = new TextDecoder().decode(b);
      if (theirs !== mine) {
        const t = JSON.parse(theirs) as Record<string, unknown>;
        const k = Object.keys(h).find((x) => JSON.stringify(t[x]) !== JSON.stringify(h[x])) ?? '?';
        throw new DistError(`ranks disagree on the train step: rank ${r} has ${k} = ${JSON.stringify(t[k])} but rank ${group.rank} has ${JSON.stringify(h[k])} in group ${group.describe()} (every rank must pass the same options and start from the same step${k === 'items' ? '; every rank of an SP group passes the same items' : ''})`);
      }
    });
  }

  /** Stages 0/1: this rank's items through itemGradients (with SP: spItemGradients), then one all-reduce of every gradient. */
  private async gradsReplicated(local: readonly TrainBatch[], draws: { sigma: number; eps: Float32Array }[], K: number, losses: Tensor[], memory: MemoryOptions, plan: MemoryPlan): Promise<GradMap> {
    const acc: GradMap = new Map();
    try {
      for (let i = 0; i < local.length; i++) {
        if (this.sp) losses.push((await spItemGradients(fullSource(this.params), this.shape, local[i]!, draws[i]!, 1 / K, acc, this.sp, { plan }))!);
        else losses.push((await itemGradients(this.params, this.shape, local[i]!, draws[i]!, 1 / K, acc, memory)).loss);
      }
      // Unit by unit (the GPU holds one unit's extra copy at a time), each unit freed once read.
      const order = this.layout.units.flatMap((u) => u.params);
      const flat = new Float32Array(numelOf(this.layout, order));
      if (local.length) {
        let off = 0;
        for (const u of this.layout.units) {
          const f = await readFlat(u.params.map((k) => gradOf(acc, k)));
          flat.set(f, off);
          off += f.length;
          for (const k of u.params) { acc.get(k)!.dispose(); acc.delete(k); }
        }
      }
      // With SP: each rank's share summed over its SP group, then the groups' sums over the data-parallel ranks.
      const spSum = this.sp ? await this.sp.group.allReduce(flat) : flat;
      const sum = await this.group.allReduce(spSum);
      return uploadFlat(this.device, sum, order.map((k) => [k, this.layout.shapes.get(k)!]), 'grad ');
    } finally {
      for (const t of acc.values()) t.dispose();
    }
  }

  /**
   * Stages 2/3: every rank runs as many passes as the rank with the most items (collectives line up); on the last pass
   * each block's gradient sum goes to its owner as soon as the block's backward is recorded (with SP: every SP rank
   * runs its share of each item through spItemGradients and the sums are first taken over the SP group). Stage 3
   * gathers each block's parameters from its owner for its forward and again for its backward (`plan` checkpoints
   * every block there).
   */
  private async gradsSharded(local: readonly TrainBatch[], draws: { sigma: number; eps: Float32Array }[], K: number, losses: Tensor[], plan: MemoryPlan): Promise<GradMap> {
    const passes = batchShare(K, this.group.size, 0).count;
    const acc: GradMap = new Map();
    const reduced: GradMap = new Map();
    const source = this.zero === 3 ? new GatherSource(this) : fullSource(this.params);
    try {
      if (source instanceof GatherSource) await source.gatherNonBlock();
      for (let p = 0; p < passes; p++) {
        const last = p === passes - 1;
        const o = { plan, onBlockGrads: last ? (i: number, a: GradMap) => this.reduceUnit(i, a, reduced) : undefined };
        const item = local[p] ?? null, draw = draws[p] ?? null;
        const loss = this.sp
          ? await spItemGradients(source, this.shape, item, draw, 1 / K, acc, this.sp, o)
          : await blockwiseItemGradients(source, this.shape, item, draw, 1 / K, acc, o);
        if (loss) losses.push(loss);
      }
      await this.reduceUnit(this.layout.numLayers, acc, reduced);
      return reduced;
    } catch (e) {
      for (const t of reduced.values()) t.dispose();
      throw e;
    } finally {
      for (const t of acc.values()) t.dispose();
      if (source instanceof GatherSource) source.dispose();
    }
  }

  /** Unit u's gradient sums to its owner (rank order; with SP first summed over the SP group); the unit's entries leave acc (disposed) on every rank. */
  private async reduceUnit(u: number, acc: GradMap, into: GradMap): Promise<void> {
    const unit = this.layout.units[u]!;
    const has = unit.params.filter((k) => acc.has(k)).length;
    if (has && has !== unit.params.length) throw new Error(`internal error: ${unit.name} has gradients for ${has} of its ${unit.params.length} parameters`);
    const mine = has ? await readFlat(unit.params.map((k) => acc.get(k)!)) : new Float32Array(unit.numel);
    for (const k of unit.params) { acc.get(k)?.dispose(); acc.delete(k); }
    const flat = this.sp ? await this.sp.group.allReduce(mine) : mine;
    const counts = new Array<number>(this.group.size).fill(0);
    counts[unit.owner] = unit.numel;
    const sum = await this.group.reduceScatter(flat, counts);
    if (unit.owner === this.rank) {
      for (const [k, t] of uploadFlat(this.device, sum, unit.params.map((k) => [k, this.layout.shapes.get(k)!]), 'grad ')) into.set(k, t);
    }
  }

  /** Stages 2/3: the global norm from the owners' per-tensor norms (a zero-padded vector, all-reduced). */
  private async shardedNorm(grads: GradMap): Promise<Tensor> {
    const names = this.layout.names;
    const vec = new Float32Array(names.length);
    if (this.owned.length) {
      const mine = tensorNorms(this.owned.map((k) => gradOf(grads, k)));
      const vals = await mine.read();
      mine.dispose();
      const at = new Map(names.map((k, i) => [k, i]));
      this.owned.forEach((k, i) => { vec[at.get(k)!] = vals[i]!; });
    }
    const all = await this.group.allReduce(vec);
    const t = T.from(this.device, all, [names.length], 'f32');
    const norm = reduce('l2norm', t, { axis: 'all' });
    t.dispose();
    return norm;
  }

  /** Stages 1/2: every rank's updated units to every rank (one all-gather of each rank's units, parameter order). */
  private async gatherUpdated(): Promise<void> {
    const mine = await this.readOwned(this.params);
    const all = await this.group.allGather(mine);
    all.forEach((flat, r) => {
      if (r !== this.rank) writeFlat(ownedNames(this.layout, r).map((k) => this.params.get(k)!), flat);
    });
  }

  /** This rank's units of `src` as one host array in ownedNames order, read one unit at a time (one unit's extra GPU copy at most). */
  private async readOwned(src: ReadonlyMap<string, Tensor>): Promise<Float32Array> {
    const mine = this.layout.units.filter((u) => u.owner === this.rank);
    const out = new Float32Array(mine.reduce((a, u) => a + u.numel, 0));
    let off = 0;
    for (const u of mine) {
      const f = await readFlat(u.params.map((k) => src.get(k)!));
      out.set(f, off);
      off += f.length;
    }
    return out;
  }

  /** The K items' losses and sigmas in batch order; the loss is their mean computed as trainStep does (f32 on the GPU). */
  private async lossAndSigmas(lossHost: Float32Array, sigmas: number[], K: number): Promise<{ loss: number; sigmas: number[] }> {
    const mine = new Float64Array([...lossHost, ...sigmas]);
    const all = await this.group.allGather(new Uint8Array(mine.buffer));
    const losses: number[] = [];
    const sig: number[] = [];
    for (const b of all) {
      const f = new Float64Array(new Uint8Array(b).buffer);
      const n = f.length / 2;
      losses.push(...f.subarray(0, n));
      sig.push(...f.subarray(n));
    }
    if (losses.length !== K) throw new DistError(`the ranks trained ${losses.length} items, expected ${K}`);
    if (K === 1) return { loss: losses[0]!, sigmas: sig };
    const t = T.from(this.device, Float32Array.from(losses), [K], 'f32');
    const m = reduce('mean', t, { axis: 'all' });
    t.dispose();
    const loss = (await m.read())[0]!;
    m.dispose();
    return { loss, sigmas: sig };
  }

  /**
   * The full parameters, EMA or Adam moments as host arrays on every rank (stages >= 1 gather the owners' shards:
   * one all-gather); for writing checkpoints (rank 0) or comparing ranks.
   */
  async gatherHost(kind: StateKind = 'params'): Promise<HostTensors> {
    const src = this.tensorsOf(kind);
    const names = this.layout.names;
    if (this.zero === 0) return split(await readFlat(names.map((k) => src.get(k)!)), names, this.layout);
    const mine = await this.readOwned(src);
    const all = await this.group.allGather(mine);
    const out: HostTensors = new Map();
    all.forEach((flat, r) => { for (const [k, v] of split(flat, ownedNames(this.layout, r), this.layout)) out.set(k, v); });
    return new Map(names.map((k) => [k, out.get(k)!]));
  }

  /** Loads a full host state (e.g. from a checkpoint being resumed) into what this rank holds of `kind`. */
  loadHost(kind: StateKind, values: HostTensors, step?: number): void {
    const dst = this.tensorsOf(kind);
    for (const [k, t] of dst) {
      const v = values.get(k);
      if (!v) throw new Error(`loading ${kind}: ${k} is missing`);
      writeFlat([t], v);
    }
    if (step !== undefined) this.state.step = step;
  }

  private tensorsOf(kind: StateKind): ReadonlyMap<string, Tensor> {
    if (kind === 'params') return this.zero === 3 || this.zero === 0 ? this.params : new Map(this.owned.map((k) => [k, this.params.get(k)!]));
    if (kind === 'ema') {
      if (!this.state.ema && this.owned.length) throw new Error('the trainer keeps no EMA (create it with { ema: true })');
      return this.state.ema ?? new Map();
    }
    return kind === 'm' ? this.state.m : this.state.v;
  }

  dispose(): void {
    this.state.dispose();
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
  }
}

function gradOf(g: GradMap, k: string): Tensor {
  const t = g.get(k);
  if (!t) throw new Error(`distributed train step: parameter ${k} got no gradient (every checkpoint tensor of the transformer must be trained)`);
  return t;
}

function split(flat: Float32Array, names: readonly string[], layout: ZeroLayout): HostTensors {
  const out: HostTensors = new Map();
  let off = 0;
  for (const k of names) {
    const n = layout.shapes.get(k)!.reduce((a, b) => a * b, 1);
    out.set(k, flat.slice(off, off + n));
    off += n;
  }
  if (off !== flat.length) throw new DistError(`received ${flat.length} values for tensors of ${off} elements`);
  return out;
}

/** A TrainState for a rank that owns no unit (more ranks than units). */
function emptyState(ema: boolean): TrainState {
  const s = Object.create(TrainState.prototype) as TrainState;
  Object.assign(s, { m: new Map(), v: new Map(), ema: ema ? new Map() : null, step: 0 });
  return s;
}

/** Stage 3: a unit's parameters broadcast from its owner for each use, freed after; the non-block unit once per step. */
class GatherSource implements UnitSource {
  private readonly held = new Map<number, Map<string, Tensor>>();
  private nonBlock: ParamMap | null = null;

  constructor(private readonly t: DistributedTrainer) {}

  private async gather(u: number): Promise<ParamMap> {
    const unit = this.t.layout.units[u]!;
    const g = this.t.group;
    if (unit.owner === g.rank) {
      const mine = unit.params.map((k) => this.t.params.get(k)!);
      await g.broadcast(await readFlat(mine), unit.owner);
      return new Map(unit.params.map((k, i) => [k, mine[i]!]));
    }
    const flat = await g.broadcast(new Float32Array(0), unit.owner);
    const m = uploadFlat(this.t.device, flat, unit.params.map((k) => [k, this.t.layout.shapes.get(k)!]), `gathered ${unit.name} `);
    this.held.set(u, m);
    return m;
  }

  async gatherNonBlock(): Promise<void> {
    this.nonBlock = await this.gather(this.t.layout.numLayers);
  }

  async acquire(u: number): Promise<ParamMap> {
    if (u === this.t.layout.numLayers) {
      if (!this.nonBlock) throw new Error('internal error: the non-block unit was not gathered for this step');
      return this.nonBlock;
    }
    return this.gather(u);
  }

  release(u: number): void {
    if (u === this.t.layout.numLayers) return;
    const m = this.held.get(u);
    if (m) for (const x of m.values()) x.dispose();
    this.held.delete(u);
  }

  dispose(): void {
    for (const m of this.held.values()) for (const x of m.values()) x.dispose();
    this.held.clear();
    this.nonBlock = null;
  }
}
