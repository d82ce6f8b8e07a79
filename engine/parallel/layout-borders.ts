// Where a long-video layout cuts the video: the border positions (first latent frame after each border) that the
// border-consistency measure (engine/metrics/border-consistency.ts) compares against the rest. Clip parallelism cuts
// at its clip starts, DualParal at its block starts; Ulysses SP splits tokens, not frames, and has no borders.
// The VAE has no temporal compression, so latent borders are decoded-frame borders too.

import { borderConsistency, framesOf, type BorderConsistency } from '../metrics/border-consistency.js';
import type { DecodedVideo, Tensor32 } from '../pipeline/backend.js';
import type { ClipLayout } from './clip-layout.js';
import { blockFrames, type BlockLayout } from './dualparal-plan.js';

/** A long-video strategy's frame layout. */
export type LongLayout = { kind: 'sp' } | { kind: 'clip'; layout: ClipLayout } | { kind: 'dualparal'; layout: BlockLayout };

/** Clip starts after the first: where rank r-1's clip meets rank r's. */
export function clipBorders(layout: ClipLayout): number[] {
  return layout.starts.slice(1);
}

/** Block starts after the first (block k >= 1 starts at C + kB). */
export function blockBorders(layout: BlockLayout): number[] {
  return Array.from({ length: layout.blocks - 1 }, (_, i) => blockFrames(layout, i + 1).start);
}

/** The borders of a layout (none for SP). */
export function layoutBorders(l: LongLayout): number[] {
  if (l.kind === 'clip') return clipBorders(l.layout);
  if (l.kind === 'dualparal') return blockBorders(l.layout);
  return [];
}

/** The border consistency of one generation, on its final latents and on its decoded frames. */
export interface GenerationBorders {
  borders: number[];
  latents: BorderConsistency;
  video: BorderConsistency;
}

/**
 * Measures a generation (latents [1, F, C, h, w] and decoded RGB frames) at `borders`: its own layout's
 * (layoutBorders) or, to compare a strategy without borders (SP) on the same prompt and seed, another layout's.
 */
export function generationBorders(result: { latents: Tensor32; video: DecodedVideo }, borders: readonly number[]): GenerationBorders {
  return {
    borders: [...borders],
    latents: borderConsistency(framesOf(result.latents.data, result.latents.shape), borders),
    video: borderConsistency(result.video.frames, borders),
  };
}
