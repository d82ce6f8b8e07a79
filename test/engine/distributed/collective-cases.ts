// Shared collective checks run by every transport test (in-process, worker threads, child processes):
// each rank regenerates every rank's seeded inputs, so it can compute sequential references locally.
import { concat, evenSplit, type ProcessGroup } from '../../../engine/distributed/collectives.js';
import { mulberry32 } from '../../../engine/mulberry32.js';

/** Deterministic uniform [-1, 1) floats for (seed, label, a, b). */
export function randF32(n: number, seed: number, label: string, a = 0, b = 0): Float32Array {
  let h = 2166136261 ^ seed;
  for (const ch of `${label}/${a}/${b}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  const r = mulberry32(h >>> 0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * 2 - 1;
  return out;
}

export function randBytes(n: number, seed: number, label: string, a = 0, b = 0): Uint8Array {
  return Uint8Array.from(randF32(n, seed, label, a, b), (x) => Math.floor((x + 1) * 128));
}

function fail(what: string, detail: string): never {
  throw new Error(`check failed: ${what}: ${detail}`);
}

function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  if (got.length !== want.length) fail(what, `length ${got.length} != ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) fail(what, `element ${i}: ${got[i]} != ${want[i]}`);
  }
}

/** Irregular split matrix with zeros: count[i][j] elements from rank i to rank j. */
export function splitMatrix(n: number, seed: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i * 7 + j * 3 + seed * 5 + i * j) % 6));
}

/** FNV-1a over the bytes of a float array (to compare results across ranks). */
export function hashF32(x: Float32Array): string {
  const b = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16);
}

async function checkReductions(g: ProcessGroup, seed: number, label: string, length: number): Promise<string> {
  const n = g.size;
  const inputs = Array.from({ length: n }, (_, r) => randF32(length, seed, label, r));
  const got = await g.allReduce(inputs[g.rank]!);
  // sequential f32 reference in rank order, and a float64 sanity bound
  const seqF32 = new Float32Array(inputs[0]!);
  for (let r = 1; r < n; r++) for (let i = 0; i < length; i++) seqF32[i] = seqF32[i]! + inputs[r]![i]!;
  expectSame(`${label} allReduce vs sequential f32 sum`, got, seqF32);
  for (let i = 0; i < length; i++) {
    let s = 0;
    for (let r = 0; r < n; r++) s += inputs[r]![i]!;
    if (Math.abs(got[i]! - s) > 1e-5 * n) fail(`${label} allReduce vs f64`, `element ${i}: ${got[i]} vs ${s}`);
  }
  // reduce-scatter with irregular counts (some zero)
  const counts = Array.from({ length: n }, (_, r) => (r * 5 + seed) % 4);
  const total = counts.reduce((a, b) => a + b, 0);
  const rsIn = Array.from({ length: n }, (_, r) => randF32(total, seed, `${label}-rs`, r));
  const rs = await g.reduceScatter(rsIn[g.rank]!, counts);
  const off = counts.slice(0, g.rank).reduce((a, b) => a + b, 0);
  const want = new Float32Array(counts[g.rank]!);
  for (let i = 0; i < want.length; i++) {
    let s = rsIn[0]![off + i]!;
    for (let r = 1; r < n; r++) s = Math.fround(s + rsIn[r]![off + i]!);
    want[i] = s;
  }
  expectSame(`${label} reduceScatter(counts ${counts})`, rs, want);
  const rsEven = await g.reduceScatter(inputs[g.rank]!);
  const ev = evenSplit(length, n);
  const evOff = ev.slice(0, g.rank).reduce((a, b) => a + b, 0);
  expectSame(`${label} reduceScatter(even)`, rsEven, seqF32.subarray(evOff, evOff + ev[g.rank]!));
  return hashF32(got);
}

async function checkGathers(g: ProcessGroup, seed: number, label: string): Promise<void> {
  const n = g.size;
  const r = g.rank;
  // all-gather: rank r contributes 3r+1 elements
  const pieces = await g.allGather(randF32(3 * r + 1, seed, `${label}-ag`, r));
  for (let p = 0; p < n; p++) expectSame(`${label} allGather piece ${p}`, pieces[p]!, randF32(3 * p + 1, seed, `${label}-ag`, p));
  const bytes = await g.allGather(randBytes(2 * r + 3, seed, `${label}-agb`, r));
  for (let p = 0; p < n; p++) expectSame(`${label} allGather bytes ${p}`, bytes[p]!, randBytes(2 * p + 3, seed, `${label}-agb`, p));
  // broadcast from the last rank
  const root = n - 1;
  const bc = await g.broadcast(r === root ? randF32(37, seed, `${label}-bc`) : new Float32Array(0), root);
  expectSame(`${label} broadcast`, bc, randF32(37, seed, `${label}-bc`));
  // all-to-all with an irregular split matrix
  const m = splitMatrix(n, seed);
  const recv = await g.allToAll(m[r]!.map((c, j) => randF32(c, seed, `${label}-a2a`, r, j)));
  for (let i = 0; i < n; i++) expectSame(`${label} allToAll from ${i}`, recv[i]!, randF32(m[i]![r]!, seed, `${label}-a2a`, i, r));
  const flat = concat(m[r]!.map((c, j) => randBytes(c, seed, `${label}-a2av`, r, j)));
  const v = await g.allToAllv(flat, m[r]!, m.map((row) => row[r]!));
  expectSame(`${label} allToAllv`, v, concat(m.map((row, i) => randBytes(row[r]!, seed, `${label}-a2av`, i, r))));
  // point to point around a ring (self-send when n = 1)
  const [, got] = await Promise.all([g.send((r + 1) % n, randF32(r + 2, seed, `${label}-p2p`, r)), g.recvF32((r - 1 + n) % n)]);
  const from = (r - 1 + n) % n;
  expectSame(`${label} send/recv`, got, randF32(from + 2, seed, `${label}-p2p`, from));
  await g.barrier();
}

export interface SuiteResult {
  rank: number;
  allReduceHash: string;
  subgroupHash: string;
  bigHash: string;
}

/**
 * Every collective on awkward sizes, checked against sequential references; sub-groups (split and
 * newGroup) running concurrently with world collectives; one large all-reduce (chunked transports).
 */
export async function runCollectiveSuite(world: ProcessGroup, seed: number, bigLength = 70_001): Promise<SuiteResult> {
  const n = world.size;
  await world.barrier();
  await checkGathers(world, seed, 'world');
  const allReduceHash = await checkReductions(world, seed, 'world', 1031);
  // sub-groups: odd/even split (reverse key order) concurrently with a world all-gather
  const half = await world.split(world.rank % 2, -world.rank, 'parity');
  if (!half) throw new Error('split returned null for a member');
  const expectRanks = world.ranks.filter((x) => x % 2 === world.rank % 2).reverse();
  expectSame('split membership', half.ranks, expectRanks);
  // (two async chains on ONE group would issue calls in a timing-dependent order: not allowed)
  const [subgroupHash] = await Promise.all([
    checkReductions(half, seed + 1, `parity${world.rank % 2}`, 77),
    checkGathers(world, seed + 2, 'world-concurrent'),
  ]);
  await checkGathers(half, seed + 3, `parity${world.rank % 2}`);
  const pair = world.newGroup(n > 1 ? [n - 1, 0] : [0], 'ends');
  if (pair) await checkGathers(pair, seed + 4, 'ends');
  const bigHash = await checkReductions(world, seed + 5, 'big', bigLength);
  await world.barrier();
  return { rank: world.rank, allReduceHash, subgroupHash: subgroupHash!, bigHash };
}
