// Collectives written once over the Transport interface: barrier, send/recv, broadcast, all-gather,
// all-to-all(v), reduce-scatter and all-reduce (f32 sum in rank order: bit-identical on every rank and
// every transport), plus sub-groups with per-group, per-call tag namespaces and per-rank traffic stats.
import { DistError, errorText } from './errors.js';
import type { Transport } from './transport.js';

/** Element buffers the collectives move. */
export type Elem = Uint8Array | Float32Array;

export interface OpStats {
  calls: number;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  /** Wall time inside the operation (ms), summed over calls. */
  timeMs: number;
}

/** Traffic of one rank, totals plus a breakdown by operation name (shared by all groups of a transport). */
export interface CommStats extends OpStats {
  byOp: Record<string, OpStats>;
}

const emptyOp = (): OpStats => ({ calls: 0, bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, timeMs: 0 });
const statsByTransport = new WeakMap<Transport, CommStats>();

/** Stats object of a transport's rank (created on first use). */
export function statsOf(transport: Transport): CommStats {
  let s = statsByTransport.get(transport);
  if (!s) {
    s = { ...emptyOp(), byOp: {} };
    statsByTransport.set(transport, s);
  }
  return s;
}

/** Zeroes a stats object in place. */
export function resetStats(stats: CommStats): void {
  Object.assign(stats, emptyOp());
  stats.byOp = {};
}

/** Element counts of `length` split over `parts` as evenly as possible, remainder to the first parts. */
export function evenSplit(length: number, parts: number): number[] {
  const base = Math.floor(length / parts);
  const rem = length % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < rem ? 1 : 0));
}

/** Concatenates buffers of one element type. */
export function concat<T extends Elem>(parts: readonly T[]): T {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const first = parts[0];
  const out = (first instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n)) as T;
  let off = 0;
  for (const p of parts) {
    out.set(p as never, off);
    off += p.length;
  }
  return out;
}

function toBytes(x: Elem): Uint8Array {
  return x instanceof Float32Array ? new Uint8Array(x.buffer, x.byteOffset, x.byteLength) : x;
}

function fromBytes<T extends Elem>(like: T, b: Uint8Array, what: string): T {
  if (!(like instanceof Float32Array)) return b as T;
  if (b.byteLength % 4 !== 0) throw new DistError(`${what}: received ${b.byteLength} bytes, not a whole number of f32 elements`);
  const aligned = b.byteOffset % 4 === 0 ? b : new Uint8Array(b); // copy to realign
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4) as T;
}

const TAG_GROUP_SPAN = 2 ** 32;
const MAX_GROUP_ID = 2 ** 21; // group id * 2^32 + seq stays a safe integer
const P2P_BASE = 2 ** 31;

function groupIdFor(parentId: number, index: number, ranks: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const c of `${parentId}/${index}/${ranks.join(',')}`) {
    h ^= c.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return (h % (MAX_GROUP_ID - 1)) + 1; // 0 is the world group
}

/** Per-call helper handed to collective bodies: tagged, counted messaging in group ranks. */
interface CallCtx {
  send(to: number, data: Elem): Promise<void>;
  recv(from: number): Promise<Uint8Array>;
}

/**
 * A set of ranks that run collectives together. Obtain the world group with `ProcessGroup.world(transport)`,
 * sub-groups with `split` or `newGroup`. All group members must issue the same collectives in the same
 * order (calls may overlap: each call gets its own tag from a per-group sequence number). Ranks passed to
 * methods are group ranks (0..size-1); `ranks[i]` is the world rank of group rank i.
 * Any failure aborts the transport (so every other rank fails fast) and rejects with a DistError such as
 * `allToAll on group sp[0,1,2] (rank 2): peer rank 1 closed the connection`.
 */
export class ProcessGroup {
  readonly stats: CommStats;
  /** Receive timeout for this group's calls (ms); undefined = the transport's timeoutMs. */
  recvTimeoutMs: number | undefined = undefined;
  /** This process's rank inside the group. */
  readonly rank: number;
  private seq = 0;
  private childIndex = 0;
  private readonly p2pSent: number[];
  private readonly p2pRecv: number[];

  private constructor(
    readonly transport: Transport,
    readonly name: string,
    /** World rank of each group rank. */
    readonly ranks: readonly number[],
    private readonly id: number,
  ) {
    this.rank = ranks.indexOf(transport.rank);
    this.stats = statsOf(transport);
    this.p2pSent = ranks.map(() => 0);
    this.p2pRecv = ranks.map(() => 0);
  }

  /** The group of all ranks of a transport. */
  static world(transport: Transport, name = 'world'): ProcessGroup {
    return new ProcessGroup(transport, name, Array.from({ length: transport.size }, (_, i) => i), 0);
  }

  get size(): number {
    return this.ranks.length;
  }

  /** e.g. `sp[0,1,2]` (world ranks). */
  describe(): string {
    return `${this.name}[${this.ranks.join(',')}]`;
  }

  /**
   * Sub-group from explicit group ranks (in the order given: element i becomes rank i of the new group).
   * Every member of THIS group must call it with the same arguments and in the same order relative to other
   * newGroup/split calls; non-members get null. No communication.
   */
  newGroup(groupRanks: readonly number[], name = `${this.name}.sub`): ProcessGroup | null {
    const index = this.childIndex++;
    const seen = new Set<number>();
    for (const r of groupRanks) {
      if (!Number.isInteger(r) || r < 0 || r >= this.size || seen.has(r)) {
        throw new DistError(`newGroup(${JSON.stringify(groupRanks)}) on group ${this.describe()}: ranks must be distinct group ranks in [0, ${this.size})`);
      }
      seen.add(r);
    }
    if (groupRanks.length === 0) throw new DistError(`newGroup on group ${this.describe()}: empty rank list`);
    const world = groupRanks.map((r) => this.ranks[r]!);
    if (!seen.has(this.rank)) return null;
    return new ProcessGroup(this.transport, name, world, groupIdFor(this.id, index, world));
  }

  /**
   * MPI_Comm_split: ranks with the same non-negative integer `color` form a group, ordered by (key, rank).
   * Ranks passing color null or < 0 get null. Collective over this group.
   */
  async split(color: number | null, key = this.rank, name = `${this.name}.split`): Promise<ProcessGroup | null> {
    const index = this.childIndex++;
    const mine = new Float64Array([color === null || color < 0 ? -1 : color, key]);
    const mineBytes = new Uint8Array(16);
    new DataView(mineBytes.buffer).setFloat64(0, mine[0]!, true);
    new DataView(mineBytes.buffer).setFloat64(8, mine[1]!, true);
    const all = await this.run('split', async (c) => {
      const got = await gatherAll(this, c, mineBytes);
      return got.map((b) => {
        if (b.length !== 16) throw new DistError(`split: expected 16 bytes (color, key) from each rank, got ${b.length}`);
        const dv = new DataView(b.buffer, b.byteOffset, 16);
        return [dv.getFloat64(0, true), dv.getFloat64(8, true)];
      });
    });
    if (mine[0]! < 0) return null;
    const members = all
      .map((v, r) => ({ color: v[0]!, key: v[1]!, r }))
      .filter((m) => m.color === mine[0])
      .sort((a, b) => a.key - b.key || a.r - b.r)
      .map((m) => this.ranks[m.r]!);
    return new ProcessGroup(this.transport, name, members, groupIdFor(this.id, index, members));
  }

  /** Returns once every member has entered the barrier (dissemination algorithm, ceil(log2 n) rounds). */
  barrier(): Promise<void> {
    return this.run('barrier', async (c) => {
      const empty = new Uint8Array(0);
      for (let k = 1; k < this.size; k *= 2) {
        await Promise.all([c.send((this.rank + k) % this.size, empty), c.recv((this.rank - k + this.size) % this.size)]);
      }
    });
  }

  /** Point-to-point send to group rank `to` (matched by order with `to`'s recv from us). */
  send(to: number, data: Elem): Promise<void> {
    this.checkRank(to, 'send');
    const tag = this.tag(P2P_BASE + (this.p2pSent[to]!++ % P2P_BASE));
    return this.run('send', (c) => c.send(to, data), tag);
  }

  /** Point-to-point receive of the next message from group rank `from` (bytes). */
  recv(from: number): Promise<Uint8Array> {
    this.checkRank(from, 'recv');
    const tag = this.tag(P2P_BASE + (this.p2pRecv[from]!++ % P2P_BASE));
    return this.run('recv', (c) => c.recv(from), tag);
  }

  /** Point-to-point receive as f32. */
  async recvF32(from: number): Promise<Float32Array> {
    return fromBytes(new Float32Array(0), await this.recv(from), `recv from group rank ${from}`);
  }

  /**
   * Root's `data` to every member. On non-roots `data` only selects the element type (its contents and
   * length are ignored); everyone gets the root's buffer (the root gets `data` itself).
   */
  broadcast<T extends Elem>(data: T, root: number): Promise<T> {
    this.checkRank(root, 'broadcast root');
    return this.run('broadcast', async (c) => {
      if (this.rank === root) {
        await Promise.all(this.others().map((p) => c.send(p, data)));
        return data;
      }
      return fromBytes(data, await c.recv(root), 'broadcast');
    });
  }

  /** Every member's buffer (sizes may differ), indexed by group rank. */
  allGather<T extends Elem>(data: T): Promise<T[]> {
    return this.run('allGather', async (c) => {
      const got = await gatherAll(this, c, data);
      return got.map((b, r) => (r === this.rank ? data : fromBytes(data, b, `allGather from group rank ${r}`)));
    });
  }

  /** chunks[p] goes to group rank p; returns what each rank p sent us (sizes may differ). */
  allToAll<T extends Elem>(chunks: readonly T[]): Promise<T[]> {
    if (chunks.length !== this.size) {
      return Promise.reject(new DistError(`allToAll on group ${this.describe()} (rank ${this.transport.rank}): got ${chunks.length} chunks, expected one per rank (${this.size})`));
    }
    return this.run('allToAll', (c) => exchange(this, c, chunks));
  }

  /**
   * all-to-all on flat buffers: the first sendCounts[0] elements of `data` go to rank 0, the next
   * sendCounts[1] to rank 1, ...; the result holds recvCounts[p] elements from each rank p in rank order.
   * Counts are elements; a peer sending a different count than recvCounts says fails the call.
   */
  allToAllv<T extends Elem>(data: T, sendCounts: readonly number[], recvCounts: readonly number[]): Promise<T> {
    const where = `allToAllv on group ${this.describe()} (rank ${this.transport.rank})`;
    const bad = checkCounts(sendCounts, this.size, 'sendCounts') ?? checkCounts(recvCounts, this.size, 'recvCounts');
    if (bad) return Promise.reject(new DistError(`${where}: ${bad}`));
    const total = sendCounts.reduce((a, b) => a + b, 0);
    if (total !== data.length) {
      return Promise.reject(new DistError(`${where}: sendCounts sum to ${total} but data has ${data.length} elements`));
    }
    const chunks: T[] = [];
    let off = 0;
    for (const n of sendCounts) {
      chunks.push(data.subarray(off, off + n) as T);
      off += n;
    }
    return this.run('allToAllv', async (c) => {
      const got = await exchange(this, c, chunks);
      got.forEach((g, p) => {
        if (g.length !== recvCounts[p]) {
          throw new DistError(`group rank ${p} sent ${g.length} elements but recvCounts[${p}] = ${recvCounts[p]}; the split matrices disagree`);
        }
      });
      return concat(got);
    });
  }

  /**
   * Element-wise f32 sum over members of `data` (same length everywhere), scattered: rank r gets the
   * counts[r] elements starting at sum(counts[0..r)). Default counts: evenSplit(length, size).
   * Summation is in group-rank order 0..n-1, so results equal a sequential f32 sum in that order.
   */
  reduceScatter(data: Float32Array, counts?: readonly number[]): Promise<Float32Array> {
    const cnt = counts ?? evenSplit(data.length, this.size);
    const bad = checkCounts(cnt, this.size, 'counts');
    const total = cnt.reduce((a, b) => a + b, 0);
    if (bad || total !== data.length) {
      return Promise.reject(new DistError(`reduceScatter on group ${this.describe()} (rank ${this.transport.rank}): ${bad ?? `counts sum to ${total} but data has ${data.length} elements`}`));
    }
    return this.run('reduceScatter', (c) => reduceScatterBody(this, c, data, cnt));
  }

  /** Element-wise f32 sum over members, same result (bit-identical) on every rank: reduce-scatter + all-gather. */
  allReduce(data: Float32Array): Promise<Float32Array> {
    return this.run('allReduce', async (c) => {
      const lenBytes = new Uint8Array(4);
      new DataView(lenBytes.buffer).setUint32(0, data.length, true);
      const lengths = await gatherAll(this, c, lenBytes);
      lengths.forEach((b, r) => {
        const n = b.length === 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : -1;
        if (n !== data.length) throw new DistError(`group rank ${r} passed ${n} elements but this rank passed ${data.length}; all ranks must pass the same length`);
      });
      const cnt = evenSplit(data.length, this.size);
      const mine = await reduceScatterBody(this, c, data, cnt);
      const parts = await gatherAll(this, c, mine);
      return concat(parts.map((b, r) => (r === this.rank ? mine : fromBytes(mine, b, `allReduce from group rank ${r}`))));
    });
  }

  /** Group ranks other than this one, starting after it (spreads traffic). */
  others(): number[] {
    return Array.from({ length: this.size - 1 }, (_, i) => (this.rank + 1 + i) % this.size);
  }

  private checkRank(r: number, what: string): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.size) {
      throw new DistError(`${what} on group ${this.describe()} (rank ${this.transport.rank}): group rank ${r} out of range [0, ${this.size})`);
    }
  }

  private tag(local: number): number {
    return this.id * TAG_GROUP_SPAN + local;
  }

  /** Runs one collective: allocates its tag, counts traffic and time, and turns failures into an abort. */
  private async run<R>(op: string, body: (c: CallCtx) => Promise<R>, fixedTag?: number): Promise<R> {
    const tag = fixedTag ?? this.tag(this.seq++ % P2P_BASE);
    const t = this.transport;
    const total = this.stats;
    const perOp = (total.byOp[op] ??= emptyOp());
    perOp.calls++;
    total.calls++;
    const where = () => `${op} on group ${this.describe()} (rank ${t.rank})`;
    const ctx: CallCtx = {
      send: async (to, data) => {
        const bytes = toBytes(data);
        await t.send(this.ranks[to]!, tag, bytes);
        perOp.bytesSent += bytes.length;
        total.bytesSent += bytes.length;
        perOp.messagesSent++;
        total.messagesSent++;
      },
      recv: async (from) => {
        const bytes = await t.recv(this.ranks[from]!, tag, { timeoutMs: this.recvTimeoutMs });
        perOp.bytesReceived += bytes.length;
        total.bytesReceived += bytes.length;
        perOp.messagesReceived++;
        total.messagesReceived++;
        return bytes;
      },
    };
    const start = performance.now();
    try {
      if (this.rank < 0) throw new DistError(`this rank is not a member of the group`);
      if (t.failure) throw t.failure;
      return await body(ctx);
    } catch (e) {
      // a failed transport: its failure is the cause, whichever pending operation happened to reject first
      const cause = t.failure ?? e;
      const err = new DistError(`${where()}: ${errorText(cause)}`, { cause });
      t.abort(err);
      throw err;
    } finally {
      const dt = performance.now() - start;
      perOp.timeMs += dt;
      total.timeMs += dt;
    }
  }
}

function checkCounts(counts: readonly number[], size: number, what: string): string | null {
  if (counts.length !== size) return `${what} has ${counts.length} entries, expected ${size} (one per rank)`;
  const bad = counts.findIndex((n) => !Number.isInteger(n) || n < 0);
  return bad >= 0 ? `${what}[${bad}] = ${counts[bad]} is not a non-negative integer` : null;
}

/** Direct all-gather of raw bytes (own entry is the input itself). */
async function gatherAll(g: ProcessGroup, c: CallCtx, data: Elem): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(g.size);
  out[g.rank] = toBytes(data);
  await Promise.all([
    ...g.others().map((p) => c.send(p, data)),
    ...g.others().map(async (p) => {
      out[p] = await c.recv(p);
    }),
  ]);
  return out;
}

/** Pairwise exchange: chunks[p] to p, result[p] from p. */
async function exchange<T extends Elem>(g: ProcessGroup, c: CallCtx, chunks: readonly T[]): Promise<T[]> {
  const mine = chunks[g.rank]!;
  const out: T[] = new Array(g.size);
  out[g.rank] = (mine instanceof Float32Array ? mine.slice() : new Uint8Array(mine)) as T;
  await Promise.all([
    ...g.others().map((p) => c.send(p, chunks[p]!)),
    ...g.others().map(async (p) => {
      out[p] = fromBytes(mine, await c.recv(p), `from group rank ${p}`);
    }),
  ]);
  return out;
}

/** Direct reduce-scatter: segment s of every rank goes to rank s, which sums contributions in rank order. */
async function reduceScatterBody(g: ProcessGroup, c: CallCtx, data: Float32Array, counts: readonly number[]): Promise<Float32Array> {
  const offsets: number[] = [];
  let off = 0;
  for (const n of counts) {
    offsets.push(off);
    off += n;
  }
  const seg = (r: number) => data.subarray(offsets[r]!, offsets[r]! + counts[r]!);
  const contrib: Float32Array[] = new Array(g.size);
  contrib[g.rank] = seg(g.rank);
  await Promise.all([
    ...g.others().map((p) => c.send(p, seg(p))),
    ...g.others().map(async (p) => {
      const f = fromBytes(new Float32Array(0), await c.recv(p), `reduceScatter from group rank ${p}`);
      if (f.length !== counts[g.rank]) {
        throw new DistError(`group rank ${p} sent ${f.length} elements for segment ${g.rank}, expected ${counts[g.rank]} (different input lengths or counts?)`);
      }
      contrib[p] = f;
    }),
  ]);
  const acc = new Float32Array(contrib[0]!);
  for (let r = 1; r < g.size; r++) {
    const x = contrib[r]!;
    for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + x[i]!;
  }
  return acc;
}
