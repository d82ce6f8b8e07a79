// The process groups of sequence-parallel x data-parallel training (training.md section 4): a world of N = sp * dp
// ranks, world rank r = d * sp + s is SP rank s of SP group d (SP groups are contiguous world ranks, so on one host
// they share fast links, as the paper keeps SP inside a node) and data-parallel rank d of the group of SP rank s.
// DistributedTrainer.create(dp, params, shape, { sp, zero }) takes the two groups.

import type { ProcessGroup } from '../distributed/collectives.js';
import { spAttentionExchange } from '../parallel/ulysses.js';

export interface SpDataGroups {
  /** The SP group of this rank (size sp). */
  sp: ProcessGroup;
  /** The data-parallel group of this rank (size world / sp): the ranks with the same SP rank. */
  dp: ProcessGroup;
}

/** Checks an SP size against the world and the head count (before any collective). */
export function checkSpLayout(sp: number, worldSize: number, heads: number): void {
  if (!Number.isInteger(sp) || sp < 1) throw new Error(`sequence-parallel training: --sp must be a positive integer, got ${sp}`);
  if (worldSize % sp) {
    throw new Error(`sequence-parallel training: --sp ${sp} does not divide the ${worldSize} ranks (the world is sp x dp ranks); pick --sp in {${divisors(worldSize).join(', ')}} or change the rank count`);
  }
  spAttentionExchange(heads, sp); // Ulysses when H % sp == 0, else the K/V all-gather (sp-attn.ts)
}

function divisors(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1).filter((p) => n % p === 0);
}

/** Collective over `world`: splits it into this rank's SP group and data-parallel group. */
export async function spDataGroups(world: ProcessGroup, sp: number, heads: number): Promise<SpDataGroups> {
  checkSpLayout(sp, world.size, heads);
  const d = Math.floor(world.rank / sp);
  const s = world.rank % sp;
  const spG = await world.split(d, s, 'sp');
  const dpG = await world.split(s, d, 'dp');
  if (!spG || !dpG) throw new Error('internal error: split gave no group to a member');
  return { sp: spG, dp: dpG };
}
