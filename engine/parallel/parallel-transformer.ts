// Parallel driver for one guided velocity evaluation v = v_u + g (v_c - v_u) under a layout { sp, cfg }:
// world rank r = c * sp + s runs branch c (0 cond, 1 uncond) as rank s of a Ulysses SP group; with cfg = 2 the
// two branches run concurrently and exchange their velocity rows once per step (before the SP all-gather).

import type { ProcessGroup } from '../distributed/collectives.js';
import type { Device } from '../gpu/device.js';
import type { SubModel } from '../io/checkpoint.js';
import type { VchitectTransformerConfig } from '../io/configs.js';
import type { VchitectLoadOptions } from '../model/vchitect.js';
import { guideVelocity } from '../model/guidance.js';
import { slice } from '../ops/layout.js';
import { Tensor } from '../tensor.js';
import { checkClipWorld, type ClipParallelSpec } from './clip-layout.js';
import { emptyStagingStats, Stager, type StagerOptions, type StagingStats } from './staging.js';
import { UlyssesVchitect, type LocalVelocity } from './ulysses.js';

export interface ParallelLayout {
  /** Sequence-parallel group size (Ulysses when it divides the head count, else an all-gather of K/V). */
  sp: number;
  /** 2 = conditional and unconditional passes on different ranks; 1 = both on every SP group, one after the other. */
  cfg: 1 | 2;
  /** Clip parallelism with dual-scope attention instead of SP (sp = cfg = 1; ClipParallelTransformer). */
  clip?: ClipParallelSpec;
}

/** Text conditioning of one CFG branch. */
export interface BranchInputs {
  /** [1, T, jointAttentionDim] */
  context: Tensor;
  /** [1, pooledProjectionDim] */
  pooled: Tensor;
}

export interface GuidedInputs {
  /** Latents [1, F, C, Hl, Wl] (same on every rank). */
  hidden: Tensor;
  /** Scheduler timestep sigma * 1000. */
  timestep: number;
  cond: BranchInputs;
  uncond: BranchInputs;
  /** Guidance scale g. */
  guidance: number;
}

/** Checks a layout against the world size (the head split is checked when the model loads). */
export function checkLayout(layout: ParallelLayout, worldSize: number): void {
  if (layout.clip) {
    if (layout.sp !== 1 || layout.cfg !== 1) throw new Error(`clip parallelism runs without SP or CFG parallelism: got sp=${layout.sp}, cfg=${layout.cfg} (use sp = cfg = 1)`);
    checkClipWorld(layout.clip, worldSize);
    return;
  }
  if (layout.cfg !== 1 && layout.cfg !== 2) throw new Error(`parallel layout: cfg must be 1 or 2, got ${layout.cfg}`);
  if (!Number.isInteger(layout.sp) || layout.sp < 1) throw new Error(`parallel layout: sp must be a positive integer, got ${layout.sp}`);
  if (layout.sp * layout.cfg !== worldSize) {
    throw new Error(`parallel layout sp=${layout.sp} x cfg=${layout.cfg} needs ${layout.sp * layout.cfg} ranks, but the world has ${worldSize}; pick sp = ${worldSize / layout.cfg} or change the rank count`);
  }
}

export class ParallelTransformer {
  private constructor(
    readonly model: UlyssesVchitect,
    readonly layout: ParallelLayout,
    /** This rank's CFG branch when cfg = 2 (0 cond, 1 uncond); null when every rank runs both. */
    readonly branch: 0 | 1 | null,
    /** The 2-rank group {cond, uncond} of the same SP rank (cfg = 2 only). */
    readonly cfgGroup: ProcessGroup | null,
    readonly cfgStager: Stager | null,
  ) {}

  /** Collective over `world`: builds the SP and CFG groups and loads the model on this rank's device. */
  static async create(
    world: ProcessGroup,
    device: Device,
    sub: SubModel<VchitectTransformerConfig>,
    layout: ParallelLayout,
    opts: VchitectLoadOptions & StagerOptions = {},
  ): Promise<ParallelTransformer> {
    checkLayout(layout, world.size);
    const c = Math.floor(world.rank / layout.sp);
    const spRank = world.rank % layout.sp;
    const sp = (await world.split(c, spRank, 'sp'))!;
    const cfg = layout.cfg === 2 ? await world.split(spRank, c, 'cfg') : null;
    const model = await UlyssesVchitect.loadParallel(device, sub, sp, opts);
    return new ParallelTransformer(model, layout, layout.cfg === 2 ? (c as 0 | 1) : null, cfg, cfg ? new Stager(device, cfg, opts) : null);
  }

  /** One guided velocity evaluation; every rank returns the full v [1, F, C, Hl, Wl]. */
  async guidedVelocity(inp: GuidedInputs): Promise<Tensor> {
    const m = this.model;
    const run = (b: BranchInputs) => m.forwardLocal({ hidden: inp.hidden, timestep: inp.timestep, context: b.context, pooled: b.pooled });
    let vc: LocalVelocity, vu: LocalVelocity;
    let both: Tensor | null = null;
    if (this.cfgGroup && this.cfgStager) {
      const mine = await run(this.branch === 0 ? inp.cond : inp.uncond);
      // The one CFG exchange of the step: this rank's velocity rows to its partner branch.
      both = await this.cfgStager.allGather(mine.rows, 'cfg velocity rows');
      mine.rows.dispose();
      const part = (b: number) => {
        const t = slice(both!, 0, b, b + 1);
        const r = t.reshape(mine.rows.shape);
        t.dispose();
        return r;
      };
      vc = { rows: part(0), geometry: mine.geometry };
      vu = { rows: part(1), geometry: mine.geometry };
    } else {
      vc = await run(inp.cond);
      vu = await run(inp.uncond);
    }
    // v = v_u + g (v_c - v_u) on local rows, then the SP all-gather.
    const guided = guideVelocity(vc.rows, vu.rows, inp.guidance);
    [vc.rows, vu.rows, both].forEach((t) => t?.dispose());
    try {
      return await m.gatherVelocity({ rows: guided, geometry: vc.geometry });
    } finally {
      guided.dispose();
    }
  }

  /** The conditional velocity alone (CFG off): every SP group runs it (with cfg = 2 both groups do the same work). */
  async velocity(inp: { hidden: Tensor; timestep: number; cond: BranchInputs }): Promise<Tensor> {
    const m = this.model;
    const local = await m.forwardLocal({ hidden: inp.hidden, timestep: inp.timestep, context: inp.cond.context, pooled: inp.cond.pooled });
    try {
      return await m.gatherVelocity(local);
    } finally {
      local.rows.dispose();
    }
  }

  /** Staging time and traffic of this rank (SP and CFG groups together). */
  stats(): StagingStats {
    const out = emptyStagingStats();
    for (const st of [this.model.stager.stats, this.cfgStager?.stats]) {
      if (!st) continue;
      for (const k of Object.keys(out) as (keyof StagingStats)[]) out[k] += st[k];
    }
    return out;
  }

  resetStats(): void {
    for (const st of [this.model.stager.stats, this.cfgStager?.stats]) if (st) Object.assign(st, emptyStagingStats());
  }

  dispose(): void {
    this.model.dispose();
  }
}
