// DualParal execution (../shared/spec/parallel.md section 3): the FIFO of frame blocks denoised over a layer
// pipeline of N ranks (N = 1: one device). Every rank walks the same plan (planQueue: per iteration the queued blocks,
// tail to head, each one flow-match Euler step further at its own step index); per block step and CFG branch, rank 0
// embeds the block window, each rank runs its blocks and passes the hidden states to the next rank point to point,
// the last rank runs the final layer and CFG and returns the velocity of the block's own frames to rank 0, which owns
// every block's latents and scheduler state (the shared flow-match schedule indexed by the block's own step).
// Rank 0 never waits for a velocity before it needs it: the window of block b at step s needs block b at s updates
// (returned in the previous iteration) and block b-1 at s updates (kept: the version before its latest update), so
// the ranks work on different blocks of one sweep at the same time; only when a block has had its last step does
// rank 0 wait for that step's velocity, since every rank then reports the block at the same point of the plan (the
// frame-parallel VAE decode runs there over all ranks). The next block's context K/V live per rank and
// layer (DualParalVchitect) and never travel. GPU memory per rank holds one window's activations and one cache,
// whatever the video's length; rank 0 keeps the latents on the host.

import type { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure } from '../distributed/errors.js';
import { guideVelocity } from '../model/guidance.js';
import { slice } from '../ops/layout.js';
import { flowMatchSchedule, guidanceWeight, type GuidanceMode } from '../reference/flow-match.js';
import { Tensor } from '../tensor.js';
import { blockFrames, blockNoise, noisePool, noisePoolIndices, planQueue, type BlockLayout, type BlockStep } from './dualparal-plan.js';
import { clearCache, type DualParalVchitect, type KvCache, type StageHidden } from './dualparal.js';
import { uploadBytes } from './staging.js';

/** One CFG branch's text on the device: context [1, T, J] (used on rank 0 only) and pooled [1, P] (every rank). */
export interface BranchText {
  context: Tensor;
  pooled: Tensor;
}

export interface DualParalJob {
  layout: BlockLayout;
  steps: number;
  shift: number;
  numTrainTimesteps: number;
  guidance: number;
  guidanceMode: GuidanceMode;
  /** Seed of the coordinated noise pool (every rank passes the same; only rank 0 draws). */
  seed: number;
  /** One latent frame: channels x height x width. */
  latent: { channels: number; height: number; width: number };
}

/** A block step as it was dispatched (rank 0). */
export interface DualParalStep extends BlockStep {
  iteration: number;
  timestep: number;
}

export interface DualParalHooks {
  /** Rank 0, when a block step is dispatched (in plan order). */
  onBlockStep?: (s: DualParalStep) => void | Promise<void>;
  /**
   * Every rank, at the same point of the plan (right after its part of block k's last step; rank 0 first applies
   * that step's velocity), in block order: block k has had all its steps. Rank 0 gets its own frames' final latents
   * [frames, C, H, W], the other ranks null. A collective point: the hook may run collectives over the world (the
   * frame-parallel VAE decode of engine/parallel/block-decode.ts does).
   */
  onBlockDone?: (b: { block: number; frames: { start: number; end: number }; latents: Float32Array | null }) => void | Promise<void>;
}

interface Version {
  updates: number;
  data: Float32Array;
}

/**
 * Runs the whole queue on this rank (collective over `group`; null = one device running every layer). `model` holds
 * this rank's layers (DualParalVchitect.loadPart with splitLayers(L, N)[rank]). `text` is [cond] without CFG
 * (guidance <= 1), [cond, uncond] with it. Rank 0 returns the final latents [1, F, C, H, W] data, the others null.
 */
export async function runDualParal(model: DualParalVchitect, group: ProcessGroup | null, text: readonly BranchText[], job: DualParalJob, hooks: DualParalHooks = {}): Promise<Float32Array | null> {
  try {
    return await new Runner(model, group, text, job, hooks).run();
  } catch (e) {
    if (!group || group.size === 1) throw e;
    throw abortOnLocalFailure(group.transport, `dualparal on rank ${group.rank} (layers ${model.part.start}..${model.part.end - 1})`, e);
  }
}

class Runner {
  private readonly rank: number;
  private readonly size: number;
  private readonly frameElems: number;
  private readonly schedule: { sigmas: Float64Array | number[]; timesteps: Float64Array | number[] };
  private readonly useCfg: boolean;
  /** Rank 0: per block the last two versions of its own frames' latents (oldest first). */
  private readonly versions = new Map<number, Version[]>();
  /** Rank 0: velocities in flight from the last rank, in dispatch order. */
  private readonly inflight: { block: number; step: number; v: Promise<Float32Array> }[] = [];
  /** Rank 0: final latents of the blocks whose last step was applied, not yet reported. */
  private readonly done = new Map<number, Float32Array>();
  private pool: Float32Array | null = null;
  private poolIdx: number[][] | null = null;
  private final: Float32Array | null = null;

  constructor(
    private readonly model: DualParalVchitect,
    private readonly group: ProcessGroup | null,
    private readonly text: readonly BranchText[],
    private readonly job: DualParalJob,
    private readonly hooks: DualParalHooks,
  ) {
    this.rank = group?.rank ?? 0;
    this.size = group?.size ?? 1;
    if (model.part.rank !== this.rank) throw new Error(`dualparal: the model holds rank ${model.part.rank}'s layers but this is rank ${this.rank}`);
    if (model.part.embeds !== (this.rank === 0) || model.part.finalLayerAndCfg !== (this.rank === this.size - 1)) {
      throw new Error(`dualparal: rank ${this.rank} of ${this.size} got the layer part of another world size`);
    }
    const { channels, height, width } = job.latent;
    this.frameElems = channels * height * width;
    this.schedule = flowMatchSchedule(job.steps, job.shift, job.numTrainTimesteps);
    this.useCfg = job.guidance > 1;
    if (text.length !== (this.useCfg ? 2 : 1)) throw new Error(`dualparal: ${text.length} text branches for guidance ${job.guidance} (need ${this.useCfg ? '2: cond, uncond' : '1: cond'})`);
  }

  async run(): Promise<Float32Array | null> {
    const plan = planQueue(this.job.layout, this.job.steps);
    const caches = this.text.map(() => ({ next: new Map() as KvCache, fresh: new Map() as KvCache }));
    try {
      for (let j = 0; j < plan.iterations.length; j++) {
        for (const st of plan.iterations[j]!) {
          await this.blockStep(j, st, caches);
          if (st.step === this.job.steps - 1) await this.blockDone(st.block);
        }
      }
      if (this.rank === 0) {
        while (this.inflight.length) await this.applyNext();
        return this.assemble();
      }
      return null;
    } finally {
      for (const c of caches) [c.next, c.fresh].forEach(clearCache);
    }
  }

  private async blockStep(iteration: number, st: BlockStep, caches: { next: KvCache; fresh: KvCache }[]): Promise<void> {
    const { layout } = this.job;
    const C = layout.contextFrames;
    const t = this.schedule.timesteps[st.step]!;
    const prevLen = st.block > 0 ? C : 0;
    const own = blockFrames(layout, st.block);
    const F = prevLen + own.end - own.start;
    const { height: Hl, width: Wl, channels } = this.job.latent;
    const first = this.rank === 0;
    const last = this.rank === this.size - 1;
    let window: Tensor | null = null;
    if (first) {
      await this.hooks.onBlockStep?.({ ...st, iteration, timestep: t });
      window = Tensor.from(this.model.device, await this.windowLatents(st, prevLen), [1, F, channels, Hl, Wl], this.model.dtype, 'dualparal window');
    }
    const velocities: Tensor[] = [];
    try {
      for (let b = 0; b < this.text.length; b++) {
        const br = this.text[b]!;
        const cache = caches[b]!;
        const h: StageHidden = first ? this.model.embed(window!, br.context) : await this.recvHidden(F);
        const eAct = this.model.embedTime(t, br.pooled);
        try {
          // This block's first C own frames are the next context of the block that runs after it in this sweep.
          const save = st.block > 0 && C > 0 ? { from: prevLen, count: C, into: cache.fresh } : null;
          const out = this.model.runLayers(h, eAct, F, { next: st.nextContext ? cache.next : null, save });
          // The fresh cache becomes the next context of the following block step.
          clearCache(cache.next);
          [cache.next, cache.fresh] = [cache.fresh, cache.next];
          if (last) velocities.push(this.model.final(out, eAct, Hl, Wl));
          else await this.sendHidden(out);
        } finally {
          eAct.dispose();
        }
      }
      if (last) {
        const v = velocities.length === 2 ? guideVelocity(velocities[0]!, velocities[1]!, guidanceWeight(this.job.guidanceMode, this.job.guidance, t, this.job.steps)) : velocities.pop()!;
        velocities.push(v);
        const mine = prevLen === 0 ? v : slice(v, 1, prevLen, F);
        if (mine !== v) velocities.push(mine);
        const data = await mine.read();
        if (first) this.apply(st.block, st.step, data);
        else await this.group!.send(0, data);
      } else if (first) {
        const v = this.group!.recvF32(this.size - 1);
        v.catch(() => {}); // awaited in order later; a failure before then must not count as unhandled
        this.inflight.push({ block: st.block, step: st.step, v });
      }
    } finally {
      window?.dispose();
      velocities.forEach((v) => v.dispose());
    }
  }

  /** Rank 0: [last C frames of block - 1 | block] at the block's number of updates (= its step). */
  private async windowLatents(st: BlockStep, prevLen: number): Promise<Float32Array> {
    const { block, step } = st;
    if (step === 0) this.versions.set(block, [{ updates: 0, data: this.initialNoise(block) }]);
    const mine = await this.versionOf(block, step);
    if (prevLen === 0) return mine;
    const prev = await this.versionOf(block - 1, step);
    const out = new Float32Array((prevLen * this.frameElems) + mine.length);
    out.set(prev.subarray(prev.length - prevLen * this.frameElems), 0);
    out.set(mine, prevLen * this.frameElems);
    return out;
  }

  /** Rank 0: block's latents after exactly `updates` updates, applying returned velocities as needed. */
  private async versionOf(block: number, updates: number): Promise<Float32Array> {
    for (;;) {
      const v = this.versions.get(block)?.find((x) => x.updates === updates);
      if (v) return v.data;
      if (!this.inflight.length) throw new Error(`internal error: dualparal block ${block} at ${updates} updates is not available`);
      await this.applyNext();
    }
  }

  private async applyNext(): Promise<void> {
    const head = this.inflight.shift()!;
    const v = await head.v;
    this.apply(head.block, head.step, v);
  }

  /** Rank 0: the Euler step of block `block` at its step `step` (the sampler's update, f32 latents). */
  private apply(block: number, step: number, v: Float32Array): void {
    const vs = this.versions.get(block)!;
    const x = vs[vs.length - 1]!;
    if (x.updates !== step) throw new Error(`internal error: dualparal block ${block} has ${x.updates} updates, velocity of step ${step}`);
    if (v.length !== x.data.length) throw new Error(`dualparal: velocity of block ${block} has ${v.length} values for ${x.data.length} latents`);
    const { sigmas } = this.schedule;
    const dt = sigmas[step + 1]! - sigmas[step]!;
    const next = new Float32Array(x.data.length);
    for (let k = 0; k < next.length; k++) next[k] = x.data[k]! + dt * v[k]!;
    this.versions.set(block, [x, { updates: step + 1, data: next }]);
    if (step + 1 === this.job.steps) {
      const range = blockFrames(this.job.layout, block);
      this.final ??= new Float32Array(this.job.layout.latentFrames * this.frameElems);
      this.final.set(next, range.start * this.frameElems);
      // Older blocks are no longer anyone's context: keep only what the next block still reads.
      this.versions.delete(block - 1);
      this.done.set(block, next);
    }
  }

  /**
   * Every rank, right after its part of block `block`'s last step (the same point of the plan on every rank): rank 0
   * first applies the velocities in flight up to that step's (the other ranks have sent them or are computing them:
   * they come before this point in every rank's order, so nothing waits on rank 0), then every rank reports the block.
   */
  private async blockDone(block: number): Promise<void> {
    let latents: Float32Array | null = null;
    if (this.rank === 0) {
      while (!this.done.has(block)) {
        if (!this.inflight.length) throw new Error(`internal error: dualparal block ${block} finished its steps but its last velocity is not in flight`);
        await this.applyNext();
      }
      latents = this.done.get(block)!;
      this.done.delete(block);
    }
    await this.hooks.onBlockDone?.({ block, frames: blockFrames(this.job.layout, block), latents });
  }

  private initialNoise(block: number): Float32Array {
    this.pool ??= noisePool(this.job.layout, this.frameElems, this.job.seed);
    this.poolIdx ??= noisePoolIndices(this.job.layout, this.job.seed);
    return blockNoise(this.pool, this.frameElems, this.poolIdx[block]!);
  }

  private assemble(): Float32Array {
    if (!this.final) throw new Error('internal error: dualparal finished no block');
    return this.final;
  }

  private async sendHidden(h: StageHidden): Promise<void> {
    try {
      const g = this.group!;
      const [xb, cb] = await Promise.all([h.X.readRaw(), h.C.readRaw()]);
      await g.send(this.rank + 1, new Uint8Array(xb));
      await g.send(this.rank + 1, new Uint8Array(cb));
    } finally {
      h.X.dispose();
      h.C.dispose();
    }
  }

  private async recvHidden(F: number): Promise<StageHidden> {
    const g = this.group!;
    const { D, patchSize: P } = this.model.dims;
    const L = (this.job.latent.height / P) * (this.job.latent.width / P);
    const T = this.text[0]!.context.shape[1]!;
    const dtype = this.model.dtype;
    const xb = await g.recv(this.rank - 1);
    const cb = await g.recv(this.rank - 1);
    const elem = xb.byteLength / (F * L * D);
    const copies = cb.byteLength / (elem * T * D);
    if (!Number.isInteger(copies) || (copies !== 1 && copies !== F)) throw new Error(`dualparal rank ${this.rank}: received a text stream of ${cb.byteLength} bytes, not [1 or ${F}, ${T}, ${D}]`);
    return {
      X: uploadBytes(this.model.device, xb, [F, L, D], dtype, 'dualparal hidden X'),
      C: uploadBytes(this.model.device, cb, [copies, T, D], dtype, 'dualparal hidden C'),
    };
  }
}
