// Which transformer blocks a training forward checkpoints and which of those it offloads (training.md section 4):
// `recompute` is LiteGen's selective ratio (the share of blocks that keep their activations; schedule.ts's
// recomputedBlocks picks the rest) or an explicit list of 0-based blocks; `offload` is the share of the
// checkpointed blocks whose kept input goes to host memory, the earliest blocks first (their inputs wait longest).
// Pure validation and bookkeeping: no GPU work.

import { recomputedBlocks } from './schedule.js';

export interface MemoryOptions {
  /**
   * Selective recomputation: a LiteGen ratio in [0, 1] (the share of blocks that keep their activations: 0
   * checkpoints every block, 1 none; 10 blocks at 0.5 -> blocks 1, 3, 5, 7, 9 counted from 1), or the 0-based
   * blocks to checkpoint. A checkpointed block keeps only its input and reruns its forward inside the backward.
   */
  recompute?: number | readonly number[];
  /**
   * Activation offload: the share in [0, 1] of the checkpointed blocks whose kept input is moved to host memory
   * during the forward and uploaded again during the backward: the first max(1, round(ratio * k)) of the k
   * checkpointed blocks when ratio > 0. Needs checkpointed blocks.
   */
  offload?: number;
}

export interface MemoryPlan {
  /** Per block: checkpointed (only its input kept; forward rerun in the backward). */
  checkpointed: boolean[];
  /** Per block: its kept input lives on the host between forward and backward (checkpointed blocks only). */
  offloaded: boolean[];
}

/** The plan for `numLayers` blocks; bad options throw an error naming the option and the fix. */
export function memoryPlan(numLayers: number, o: MemoryOptions = {}): MemoryPlan {
  const checkpointed = new Array<boolean>(numLayers).fill(false);
  const r = o.recompute;
  if (typeof r === 'number') {
    if (!(r >= 0 && r <= 1)) {
      throw new Error(`recompute ratio must be a number in [0, 1] (LiteGen's share of blocks that keep their activations: 0 recomputes every block, 1 none), got ${r}`);
    }
    for (const i of recomputedBlocks(numLayers, r)) checkpointed[i - 1] = true;
  } else if (r !== undefined) {
    if (!Array.isArray(r)) throw new Error(`recompute must be a ratio in [0, 1] or a list of 0-based block indices, got ${String(r)}`);
    for (const i of r) {
      if (!Number.isInteger(i) || i < 0 || i >= numLayers) {
        throw new Error(`recompute block ${String(i)} is not a block index: the model has blocks 0..${numLayers - 1}`);
      }
      if (checkpointed[i]) throw new Error(`recompute block ${i} is listed twice`);
      checkpointed[i] = true;
    }
  }
  const offloaded = new Array<boolean>(numLayers).fill(false);
  const f = o.offload;
  if (f !== undefined) {
    if (!(f >= 0 && f <= 1)) throw new Error(`offload ratio must be a number in [0, 1] (the share of checkpointed blocks whose input goes to host memory), got ${f}`);
    const ck = checkpointed.flatMap((c, i) => (c ? [i] : []));
    if (f > 0 && ck.length === 0) {
      throw new Error(`offload ${f} needs checkpointed blocks (only a checkpointed block's input is offloaded), but recompute ${r === undefined ? 'is off' : JSON.stringify(r)} checkpoints none: set recompute below 1 or list blocks`);
    }
    const n = f > 0 ? Math.max(1, Math.round(f * ck.length)) : 0;
    for (const i of ck.slice(0, n)) offloaded[i] = true;
  }
  return { checkpointed, offloaded };
}
