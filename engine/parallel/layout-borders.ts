// Where a long-video layout cuts the video: the border positions (first latent frame after each border) that the
// border-consistency measure (engine/metrics/border-consistency.ts) compares against the rest. Clip parallelism cuts
// at its clip starts, DualParal at its block starts; Ulysses SP splits tokens, not frames, and has no borders.
// The VAE has no temporal compression, so latent borders are decoded-frame borders too.

import { blockFrames, type BlockLayout } from './dualparal-plan.js';
import type { ClipLayout } from './clip-layout.js';

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
