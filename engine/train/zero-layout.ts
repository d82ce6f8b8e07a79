// Who owns what in data-parallel / ZeRO training (training.md section 4, parallel.md section 4): the sharding unit
// is one transformer block (`transformer_blocks.i.*`), plus one unit for every other parameter (patch and context
// embeddings, the timestep/text embedding, the final layer). Blocks go to ranks in contiguous runs (evenSplit: the
// first ranks take one more when the count does not divide); the non-block unit goes to the rank holding the fewest
// elements after that (the last such rank on ties). Also the contiguous split of a global batch over the ranks, and
// the flat host packing of a unit's tensors (parameter order) that the collectives move.

import { evenSplit } from '../distributed/collectives.js';

export interface ZeroUnit {
  /** 'block i' or 'non-block'. */
  name: string;
  /** Parameter names of the unit, in parameter order. */
  params: string[];
  /** Elements of the unit (all its tensors). */
  numel: number;
  /** Rank that owns the unit's optimizer state (stage >= 1), gradient sum (>= 2) and parameters (3). */
  owner: number;
}

export interface ZeroLayout {
  ranks: number;
  numLayers: number;
  /** Every parameter in parameter order (the order of the checkpoint map). */
  names: string[];
  shapes: Map<string, readonly number[]>;
  /** Units 0..numLayers-1 are the blocks, unit numLayers the non-block parameters. */
  units: ZeroUnit[];
  unitOf: Map<string, number>;
}

const BLOCK = /^transformer_blocks\.(\d+)\./;

/** The ownership plan of `params` (name -> shape, in parameter order) over `ranks` ranks. */
export function zeroLayout(params: Iterable<[string, readonly number[]]>, numLayers: number, ranks: number): ZeroLayout {
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`ZeRO layout: ranks must be an integer >= 1, got ${ranks}`);
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new Error(`ZeRO layout: numLayers must be an integer >= 1, got ${numLayers}`);
  const names: string[] = [];
  const shapes = new Map<string, readonly number[]>();
  const units: ZeroUnit[] = Array.from({ length: numLayers + 1 }, (_, i) => ({ name: i < numLayers ? `block ${i}` : 'non-block', params: [], numel: 0, owner: 0 }));
  const unitOf = new Map<string, number>();
  for (const [name, shape] of params) {
    const m = BLOCK.exec(name);
    const u = m ? Number(m[1]) : numLayers;
    if (u >= numLayers) {
      if (m) throw new Error(`ZeRO layout: parameter ${name} belongs to block ${u} but the model has ${numLayers} layers`);
    }
    names.push(name);
    shapes.set(name, [...shape]);
    unitOf.set(name, u);
    units[u]!.params.push(name);
    units[u]!.numel += shape.reduce((a, b) => a * b, 1);
  }
  for (let i = 0; i < numLayers; i++) if (!units[i]!.params.length) throw new Error(`ZeRO layout: block ${i} has no parameters (is numLayers right?)`);
  const counts = evenSplit(numLayers, ranks);
  const held = new Array<number>(ranks).fill(0);
  let b = 0;
  counts.forEach((n, r) => {
    for (let k = 0; k < n; k++, b++) {
      units[b]!.owner = r;
      held[r]! += units[b]!.numel;
    }
  });
  let least = ranks - 1;
  for (let r = ranks - 1; r >= 0; r--) if (held[r]! < held[least]!) least = r;
  units[numLayers]!.owner = least;
  return { ranks, numLayers, names, shapes, units, unitOf };
}

/** The owner rank of a parameter. */
export function ownerOf(layout: ZeroLayout, name: string): number {
  const u = layout.unitOf.get(name);
  if (u === undefined) throw new Error(`ZeRO layout: unknown parameter ${name}`);
  return layout.units[u]!.owner;
}

/** The parameter names rank r owns, unit by unit (parameter order inside a unit): the order of its flat shards. */
export function ownedNames(layout: ZeroLayout, rank: number): string[] {
  return layout.units.filter((u) => u.owner === rank).flatMap((u) => u.params);
}

/** Items [offset, offset + count) of a K-item global batch that rank r of N trains on (contiguous; the first K mod N ranks take one more). */
export function batchShare(K: number, ranks: number, rank: number): { offset: number; count: number } {
  if (!Number.isInteger(K) || K < 1) throw new Error(`data parallel: the global batch must be an integer >= 1, got ${K}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= ranks) throw new Error(`data parallel: rank ${rank} out of range [0, ${ranks})`);
  const counts = evenSplit(K, ranks);
  let offset = 0;
  for (let r = 0; r < rank; r++) offset += counts[r]!;
  return { offset, count: counts[rank]! };
}

/** Elements of a list of parameters. */
export function numelOf(layout: ZeroLayout, names: readonly string[]): number {
  let n = 0;
  for (const k of names) n += layout.shapes.get(k)!.reduce((a, b) => a * b, 1);
  return n;
}
