// The clip-parallel counterpart of ParallelTransformer (what ParallelBackend drives when the layout says
// `clip`): every rank holds the whole (small) latent video, runs the transformer on its own clip of frames with
// dual-scope temporal attention (ClipParallelVchitect), and one all-gather of the clip velocities gives every rank the
// full velocity, so every rank's sampler takes the same Euler steps (SPMD, as with Ulysses). A world of one rank with
// `clips` = N computes the same N-clip dual-scope video on one device: the reference the N-rank world reproduces.

import type { ProcessGroup } from '../distributed/collectives.js';
import { abortOnLocalFailure } from '../distributed/errors.js';
import type { Device } from '../gpu/device.js';
import type { SubModel } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import { guideVelocity } from '../model/guidance.js';
import type { VchitectLoadOptions } from '../model/vchitect.js';
import { slice } from '../ops/layout.js';
import type { Tensor } from '../tensor.js';
import { checkClipWorld, clipLayout, type ClipLayout, type ClipParallelSpec } from './clip-layout.js';
import { ClipParallelVchitect } from './clip-parallel.js';
import type { BranchInputs, GuidedInputs, ParallelLayout } from './parallel-transformer.js';
import { emptyStagingStats, uploadBytes, type StagingStats } from './staging.js';

export class ClipParallelTransformer {
  private sentAtReset = 0;
  private receivedAtReset = 0;

  private constructor(
    readonly model: ClipParallelVchitect,
    readonly layout: ParallelLayout,
    readonly spec: ClipParallelSpec,
    readonly world: ProcessGroup,
  ) {}

  /** Collective over `world`: loads the whole model on this rank's device. */
  static async create(world: ProcessGroup, device: Device, sub: SubModel<VchitectTransformerConfig>, layout: ParallelLayout, opts: VchitectLoadOptions = {}): Promise<ClipParallelTransformer> {
    const spec = layout.clip;
    if (!spec) throw new Error('internal error: ClipParallelTransformer needs a layout with `clip`');
    checkClipWorld(spec, world.size);
    const model = await ClipParallelVchitect.loadClipParallel(device, sub, world.size > 1 ? world : null, opts);
    return new ClipParallelTransformer(model, layout, spec, world);
  }

  /** The clip layout of a video of F latent frames (throws, saying what would fit, when a clip is too short). */
  clipLayout(F: number): ClipLayout {
    return clipLayout(F, this.spec.clips, this.spec);
  }

  async guidedVelocity(inp: GuidedInputs): Promise<Tensor> {
    const layout = this.clipLayout(inp.hidden.shape[1]!);
    const hidden = this.myFrames(inp.hidden, layout);
    try {
      const vc = await this.run(hidden, inp.timestep, inp.cond, layout);
      const vu = await this.run(hidden, inp.timestep, inp.uncond, layout);
      const g = guideVelocity(vc, vu, inp.guidance);
      vc.dispose();
      vu.dispose();
      return await this.gather(g, inp.hidden);
    } finally {
      if (hidden !== inp.hidden) hidden.dispose();
    }
  }

  async velocity(inp: { hidden: Tensor; timestep: number; cond: BranchInputs }): Promise<Tensor> {
    const layout = this.clipLayout(inp.hidden.shape[1]!);
    const hidden = this.myFrames(inp.hidden, layout);
    try {
      return await this.gather(await this.run(hidden, inp.timestep, inp.cond, layout), inp.hidden);
    } finally {
      if (hidden !== inp.hidden) hidden.dispose();
    }
  }

  /** Traffic of this rank since the last reset (clip exchanges and velocity all-gathers; timings are not split). */
  stats(): StagingStats {
    const st = this.world.stats;
    return { ...emptyStagingStats(), bytesSent: st.bytesSent - this.sentAtReset, bytesReceived: st.bytesReceived - this.receivedAtReset };
  }

  resetStats(): void {
    this.sentAtReset = this.world.stats.bytesSent;
    this.receivedAtReset = this.world.stats.bytesReceived;
  }

  dispose(): void {
    this.model.dispose();
  }

  private myFrames(hidden: Tensor, layout: ClipLayout): Tensor {
    if (this.world.size === 1) return hidden;
    const r = this.world.rank;
    return slice(hidden, 1, layout.starts[r]!, layout.starts[r]! + layout.lengths[r]!);
  }

  private run(hidden: Tensor, timestep: number, b: BranchInputs, layout: ClipLayout): Promise<Tensor> {
    return this.model.forwardClips({ hidden, timestep, context: b.context, pooled: b.pooled }, layout);
  }

  /** All-gather of the clip velocities in rank order: the full [1, F, C, H, W] on every rank. Disposes `mine`. */
  private async gather(mine: Tensor, like: Tensor): Promise<Tensor> {
    if (this.world.size === 1) return mine;
    try {
      const bytes = new Uint8Array(await mine.readRaw());
      const parts = await this.world.allGather(bytes);
      const all = new Uint8Array(parts.reduce((a, p) => a + p.byteLength, 0));
      let off = 0;
      for (const p of parts) {
        all.set(p, off);
        off += p.byteLength;
      }
      const shape = [...like.shape];
      shape[2] = this.model.dims.outChannels;
      return uploadBytes(this.model.device, all, shape, mine.dtype, 'clip-parallel velocity');
    } catch (e) {
      throw abortOnLocalFailure(this.world.transport, `clip-parallel velocity gather on rank ${this.world.rank}`, e);
    } finally {
      mine.dispose();
    }
  }
}
