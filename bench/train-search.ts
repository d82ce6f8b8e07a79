// bench:train's longest-sequence search (bench/train.ts), the part that touches no device: which latent frame counts
// to probe under a memory cap (searchLongest, given a probe that runs one training step and measures its peak), and
// the row split of a sequence-parallel row (spRowSplit: what the SP layout of engine/train/sp-model.ts needs of the
// SP size, so the SP rows probe only sizes where every rank holds real rows).

import { checkSpLayout } from '../engine/train/sp-groups.js';
import { spAttentionExchange } from '../engine/parallel/ulysses.js';

/** One probe: a training step on `frames` latent frames and its peak (for SP rows the largest rank's; per rank too). */
export interface Probe {
  frames: number;
  peakMiB: number;
  s: number;
  rankPeaksMiB?: number[];
}

export interface SearchOptions {
  /** The cap on the probe's peakMiB. */
  capMiB: number;
  /** Probes after the two small ones. */
  maxProbes: number;
  /** The two small probes that give the line (default 8 and 16 frames). */
  small?: readonly [number, number];
}

export interface SearchOutcome {
  /** The most frames measured under the cap (null when none was). */
  fits: Probe | null;
  /** The least frames measured over the cap above `fits` (null when the cap was never reached). */
  over: Probe | null;
  /** Every probe in the order run. */
  probes: Probe[];
}

/**
 * The most latent frames whose probe stays under the cap. The peak is close to a line in frames but climbs in stairs
 * (the buffer pool's size classes move every large activation up together every few frames), so: two small probes
 * give the line's slope; the first probe after them is the line's estimate; while only one side of the cap is known
 * the next probe steps past it (by the line, at least 4% up or 8% down: one stair); once both are known, bisection.
 * At most `maxProbes` probes after the small ones, stopping when the bracket is within 2% (or 1 frame). Every probe
 * lies strictly inside the current bracket, so no frame count is probed twice and none is below 1.
 */
export async function searchLongest(probe: (frames: number) => Promise<Probe>, o: SearchOptions): Promise<SearchOutcome> {
  const [a, b] = o.small ?? [8, 16];
  if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 1 && b > a)) throw new Error(`longest-sequence search: small probes ${a}, ${b} must be integers with 1 <= first < second`);
  if (!(o.capMiB > 0) || !Number.isInteger(o.maxProbes) || o.maxProbes < 0) throw new Error('longest-sequence search: the cap must be > 0 MiB and maxProbes an integer >= 0');
  const probes: Probe[] = [];
  const under = (p: Probe) => p.peakMiB <= o.capMiB;
  const run = async (frames: number) => {
    const p = await probe(frames);
    probes.push(p);
    return p;
  };
  const small = [await run(a), await run(b)] as const;
  const slope = Math.max((small[1].peakMiB - small[0].peakMiB) / (b - a), 1e-6);
  let fits: Probe | null = small.filter(under).at(-1) ?? null;
  let over: Probe | null = small.find((p) => !under(p) && p.frames > (fits?.frames ?? 0)) ?? null;
  let bigFit = false;
  let next = Math.floor(b + (o.capMiB - small[1].peakMiB) / slope);
  for (let i = 0; i < o.maxProbes; i++) {
    const lo = fits?.frames ?? 0;
    const hi = over?.frames ?? Infinity;
    if (hi - lo <= Math.max(1, Math.floor(lo / 50))) break;
    next = Math.max(next, lo + 1);
    if (hi !== Infinity) next = Math.min(next, hi - 1);
    const r = await run(next);
    if (under(r)) { fits = r; bigFit = true; } else over = r;
    if (over && (bigFit || !fits)) next = Math.floor(((fits?.frames ?? 0) + over.frames) / 2);
    else if (over) next = over.frames - Math.max(Math.ceil((over.peakMiB - o.capMiB) / slope), Math.ceil(0.08 * over.frames));
    else next = fits!.frames + Math.max(Math.ceil((o.capMiB - fits!.peakMiB) / slope), Math.ceil(0.04 * fits!.frames));
  }
  return { fits, over, probes };
}

/** How one item's rows split over an SP group of `sp` ranks (sp-model.ts: each frame's visual rows and the text rows). */
export interface SpRowSplit {
  exchange: 'ulysses' | 'kv-allgather';
  /** Visual rows of each frame per rank, text rows per rank. */
  visualPerRank: number;
  textPerRank: number;
}

/**
 * The SP layout of one item of frames of hl x wl latents (patch `patch`) and `textTokens` text tokens on `sp` ranks.
 * sp-model.ts splits each frame's (hl/patch)(wl/patch) visual rows and the text rows over the ranks (padded to a
 * multiple of sp) and never the frames, so every frame count is valid; the SP size must pass checkSpLayout (the
 * heads give the exchange: Ulysses when they divide by sp, else the K/V all-gather) and, for a memory search, divide
 * both row counts: padding rows would be counted in every rank's peak without carrying a token.
 */
export function spRowSplit(sp: number, heads: number, hl: number, wl: number, patch: number, textTokens: number): SpRowSplit {
  checkSpLayout(sp, sp, heads);
  if (hl % patch || wl % patch) throw new Error(`SP search: latents ${hl}x${wl} are not a multiple of the patch size ${patch}`);
  const L = (hl / patch) * (wl / patch);
  if (L % sp || textTokens % sp) {
    const ok = Array.from({ length: Math.min(L, textTokens) }, (_, i) => i + 1).filter((p) => L % p === 0 && textTokens % p === 0);
    throw new Error(`SP search: SP ${sp} does not divide the ${L} visual rows per frame (${hl}x${wl} latents, patch ${patch}) and the ${textTokens} text rows, so its ranks would carry padding rows; pick SP in {${ok.join(', ')}} or change the latent size`);
  }
  return { exchange: spAttentionExchange(heads, sp), visualPerRank: L / sp, textPerRank: textTokens / sp };
}
