// Long-video jobs of the server (a request with long: 'clip-parallel' | 'dualparal'): their options checked with the
// `generate` command's own functions (so a job is refused with the CLI's text), the number of progress steps a
// DualParal job reports (one per block step), and the CLI-shaped options a check needs.
import { checkDualParalLayout, DUALPARAL_DEFAULTS, refuseUnsupported } from '../cli/commands/generate-dualparal.js';
import { checkLongFlags } from '../cli/commands/generate.js';
import { clipLayout, parseDualScope, type DualScopeOptions } from '../engine/parallel/clip-layout.js';
import type { JobRequest } from './schema.js';

/** A DualParal job's blocks: B and C with the CLI's defaults. */
export function dualParalBlocks(r: Pick<JobRequest, 'block_frames' | 'context_frames'>): { B: number; C: number } {
  return { B: r.block_frames ?? DUALPARAL_DEFAULTS.blockFrames, C: r.context_frames ?? DUALPARAL_DEFAULTS.contextFrames };
}

/** The dual-scope options of a clip-parallel job (`--dual-scope`'s parser; throws its error). */
export function jobDualScope(r: Pick<JobRequest, 'dual_scope'>): Partial<DualScopeOptions> | undefined {
  return r.dual_scope === undefined ? undefined : parseDualScope(r.dual_scope);
}

/**
 * Why this request's long-video options cannot run, in the words of `generate` (null: fine). `ranks` is the GPU group
 * the job would run on and `numLayers` the loaded model's transformer blocks (undefined: not known yet, checked only
 * for what does not depend on them). The VAE has no temporal compression: latent frames = frames.
 */
export function longJobError(r: JobRequest, group?: { ranks: number; numLayers?: number }): string | null {
  try {
    let dualScope: Partial<DualScopeOptions> | undefined;
    try {
      dualScope = jobDualScope(r);
    } catch (e) {
      throw new Error(`--dual-scope: ${(e as Error).message}`);
    }
    checkLongFlags({ long: r.long, blockFrames: r.block_frames, contextFrames: r.context_frames, dualScope });
    if (r.long === 'dualparal') {
      refuseUnsupported({ backend: 'gpu', dualScope });
      const { B, C } = dualParalBlocks(r);
      checkDualParalLayout(r.frames, r.frames, B, C, group?.ranks ?? 1, group?.numLayers);
    } else if (r.long === 'clip-parallel' && group) {
      clipLayout(r.frames, group.ranks, dualScope ?? {});
    }
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Progress steps of a job: `steps`, or for DualParal one per block step (blocks x steps). */
export function jobTotalSteps(r: JobRequest): number {
  if (r.long !== 'dualparal') return r.steps;
  const { B, C } = dualParalBlocks(r);
  const n = (r.frames - C) / B;
  return Number.isInteger(n) && n >= 1 ? n * r.steps : r.steps;
}
