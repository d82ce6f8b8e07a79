// torchrun-style rendezvous for the socket transport: rank 0 listens on MASTER_ADDR:MASTER_PORT, collects
// every rank's host and data address, broadcasts the table; then ranks dial all lower ranks to form a
// full mesh (Unix-domain sockets on one host, TCP otherwise). All listeners are closed once the mesh is up.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type DistEnv, readDistEnv, type SocketMode } from './env.js';
import { DistError, errorText } from './errors.js';
import { encodeFrame, FrameKind, HEADER_BYTES, readHeader } from './framing.js';
import { SocketTransport } from './socket-transport.js';
import { DEFAULT_TIMEOUT_MS, type TransportOptions } from './transport.js';

export interface SocketWorldOptions extends TransportOptions {
  rank: number;
  size: number;
  masterAddr: string;
  masterPort: number;
  /** Default 'auto': unix when all ranks report the same host id, else tcp. Rank 0's choice wins. */
  mode?: SocketMode | 'auto';
  /** Deadline for the whole rendezvous + mesh (ms, default: timeoutMs). */
  rendezvousTimeoutMs?: number;
  /** Host identity for 'auto' (default os.hostname()). */
  hostId?: string;
  /** TCP data-listener address (default: MASTER_ADDR on rank 0, the local address that reaches it elsewhere). */
  bindAddr?: string;
}

type Address = { path: string } | { host: string; port: number };
type Msg =
  | { op: 'register'; rank: number; size: number; host: string }
  | { op: 'mode'; mode: SocketMode; worldId: string }
  | { op: 'address'; rank: number; address: Address }
  | { op: 'table'; addresses: Address[] }
  | { op: 'error'; message: string };

const MAX_LINE = 1 << 20;

/** Newline-delimited JSON over a socket, for the rendezvous only. */
class LineChannel {
  private buf = '';
  private lines: string[] = [];
  private waiter: { resolve: (m: Msg) => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly who: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      if (this.buf.length > MAX_LINE) return this.fail(new DistError(`${who} sent a rendezvous line over ${MAX_LINE} bytes (not a Parallax rank?)`));
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.pump();
    });
    socket.on('error', (e) => this.fail(new DistError(`${who}: ${e.message}`)));
    socket.on('close', () => this.fail(new DistError(`${who} closed the rendezvous connection`)));
  }

  send(m: Msg): void {
    if (!this.socket.destroyed) this.socket.write(`${JSON.stringify(m)}\n`);
  }

  next(): Promise<Msg> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      this.waiter = null;
      try {
        const m = JSON.parse(line) as Msg;
        if (!m || typeof m !== 'object' || typeof m.op !== 'string') throw new Error('no op field');
        if (m.op === 'error') w.reject(new DistError(m.message));
        else w.resolve(m);
      } catch (e) {
        w.reject(new DistError(`${this.who} sent a malformed rendezvous message (${errorText(e)}): ${line.slice(0, 80)}`));
      }
    } else if (this.error) {
      this.waiter = null;
      w.reject(this.error);
    }
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.pump();
  }
}

/** Resources to release if the rendezvous fails. */
class Cleanup {
  servers: net.Server[] = [];
  sockets = new Set<net.Socket>();
  paths: string[] = [];

  closeServers(): void {
    for (const s of this.servers.splice(0)) s.close();
    for (const p of this.paths.splice(0)) rmSync(p, { force: true });
  }

  all(): void {
    this.closeServers();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

function listen(server: net.Server, opts: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new DistError(`cannot listen on ${what}: ${e.code === 'EADDRINUSE' ? 'address in use (pick another MASTER_PORT or wait for the old job to exit)' : e.message}`)),
    );
    server.listen(opts, () => resolve());
  });
}

function withDeadline<T>(p: Promise<T>, deadline: number, what: () => string): Promise<T> {
  const ms = Math.max(0, deadline - Date.now());
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DistError(`timed out after waiting ${ms} ms ${what()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function connectWithRetry(addr: Address, deadline: number, who: string, c: Cleanup): Promise<net.Socket> {
  for (;;) {
    try {
      return await new Promise<net.Socket>((resolve, reject) => {
        const s = 'path' in addr ? net.createConnection({ path: addr.path }) : net.createConnection({ host: addr.host, port: addr.port });
        c.sockets.add(s);
        s.once('connect', () => {
          s.removeAllListeners('error');
          s.on('error', () => {}); // reported through 'close' by the owner
          resolve(s);
        });
        s.once('error', (e: NodeJS.ErrnoException) => {
          s.destroy();
          c.sockets.delete(s);
          reject(e);
        });
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const retriable = code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'ETIMEDOUT';
      if (!retriable || Date.now() > deadline) throw new DistError(`cannot connect to ${who}: ${errorText(e)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Creates the data listener of a rank in the chosen mode. */
async function dataListener(mode: SocketMode, rank: number, bindHost: string, c: Cleanup): Promise<{ server: net.Server; address: Address }> {
  const server = net.createServer({ pauseOnConnect: true });
  c.servers.push(server);
  if (mode === 'unix') {
    const p = path.join(os.tmpdir(), `parallax-${process.pid}-r${rank}-${randomBytes(4).toString('hex')}.sock`);
    c.paths.push(p);
    await listen(server, { path: p }, `Unix socket ${p}`);
    return { server, address: { path: p } };
  }
  await listen(server, { host: bindHost, port: 0 }, `${bindHost}:0`);
  const a = server.address() as net.AddressInfo;
  return { server, address: { host: bindHost, port: a.port } };
}

/** Rank 0 side of the rendezvous: returns (mode, worldId, table) after broadcasting it. */
async function serveRendezvous(o: SocketWorldOptions, hostId: string, deadline: number, c: Cleanup, ownListener: (mode: SocketMode) => Promise<Address>) {
  const server = net.createServer();
  c.servers.push(server);
  const chans = new Map<number, LineChannel>();
  const hosts = new Map<number, string>([[0, hostId]]);
  const registered = new Promise<void>((resolve, reject) => {
    if (o.size === 1) resolve();
    server.on('connection', (s) => {
      c.sockets.add(s);
      const ch = new LineChannel(s, `a rendezvous client at ${s.remoteAddress ?? 'unix'}`);
      ch.next().then(
        (m) => {
          if (m.op !== 'register') throw new DistError(`expected a register message, got ${m.op}`);
          if (m.size !== o.size) {
            const err = new DistError(`rank ${m.rank} was started with WORLD_SIZE=${m.size} but rank 0 has WORLD_SIZE=${o.size}`);
            ch.send({ op: 'error', message: err.message });
            return reject(err);
          }
          if (!Number.isInteger(m.rank) || m.rank < 1 || m.rank >= o.size || chans.has(m.rank)) {
            ch.send({ op: 'error', message: `rank ${m.rank} is out of range or already registered` });
            const err = new DistError(`two processes registered as rank ${m.rank} (or rank out of range [1, ${o.size})); check RANK of each process`);
            return reject(err);
          }
          chans.set(m.rank, ch);
          hosts.set(m.rank, String(m.host));
          if (chans.size === o.size - 1) resolve();
        },
        () => s.destroy(), // stray or garbage connection: drop it
      );
    });
  });
  await listen(server, { host: o.masterAddr, port: o.masterPort }, `MASTER_ADDR:MASTER_PORT = ${o.masterAddr}:${o.masterPort}`);
  await withDeadline(registered, deadline, () => {
    const missing = [...Array(o.size).keys()].filter((r) => r > 0 && !chans.has(r));
    return `for ranks ${missing.join(', ')} to register`;
  });
  server.close(); // no more registrations; established channels stay open
  const requested = o.mode ?? 'auto';
  const mode: SocketMode = requested !== 'auto' ? requested : new Set(hosts.values()).size === 1 ? 'unix' : 'tcp';
  const worldId = randomBytes(8).toString('hex');
  for (const ch of chans.values()) ch.send({ op: 'mode', mode, worldId });
  const addresses: Address[] = new Array(o.size);
  addresses[0] = await ownListener(mode);
  // a dead rank closes its channel, which rejects here
  await withDeadline(
    Promise.all(
      [...chans].map(async ([r, ch]) => {
        const m = await ch.next().catch((e: Error) => {
          throw new DistError(`rank ${r} during rendezvous: ${e.message}`);
        });
        if (m.op !== 'address' || m.rank !== r) throw new DistError(`rank ${r} sent ${m.op} instead of its address`);
        addresses[r] = m.address;
      }),
    ),
    deadline,
    () => 'for data addresses',
  );
  for (const ch of chans.values()) ch.send({ op: 'table', addresses });
  for (const ch of chans.values()) ch.socket.end();
  return { mode, worldId, addresses };
}

/** Rank r > 0 side of the rendezvous. */
async function joinRendezvous(o: SocketWorldOptions, hostId: string, deadline: number, c: Cleanup, ownListener: (mode: SocketMode, local: string) => Promise<Address>) {
  const s = await connectWithRetry({ host: o.masterAddr, port: o.masterPort }, deadline, `rank 0 at MASTER_ADDR:MASTER_PORT = ${o.masterAddr}:${o.masterPort}`, c);
  const ch = new LineChannel(s, `rank 0 (${o.masterAddr}:${o.masterPort})`);
  ch.send({ op: 'register', rank: o.rank, size: o.size, host: hostId });
  const m = await withDeadline(ch.next(), deadline, () => 'for rank 0 to see all ranks register');
  if (m.op !== 'mode') throw new DistError(`rank 0 sent ${m.op} instead of the transport mode`);
  const address = await ownListener(m.mode, s.localAddress ?? o.masterAddr);
  ch.send({ op: 'address', rank: o.rank, address });
  const t = await withDeadline(ch.next(), deadline, () => 'for the address table from rank 0');
  if (t.op !== 'table') throw new DistError(`rank 0 sent ${t.op} instead of the address table`);
  s.end();
  return { mode: m.mode, worldId: m.worldId, addresses: t.addresses };
}

/** Reads one Hello frame from a paused socket; resolves with its JSON and any bytes after it. */
function readHello(s: net.Socket, maxMessageBytes: number): Promise<{ hello: { rank: number; worldId: string }; rest: Uint8Array[] }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < HEADER_BYTES) return;
      try {
        const h = readHeader(buf, 0, maxMessageBytes);
        if (h.kind !== FrameKind.Hello) throw new DistError(`expected a Hello frame, got ${FrameKind[h.kind]}`);
        if (buf.length < HEADER_BYTES + h.length) return;
        s.pause();
        s.off('data', onData);
        const hello = JSON.parse(buf.subarray(HEADER_BYTES, HEADER_BYTES + h.length).toString('utf8')) as { rank: number; worldId: string };
        const rest = buf.length > HEADER_BYTES + h.length ? [buf.subarray(HEADER_BYTES + h.length)] : [];
        resolve({ hello, rest });
      } catch (e) {
        s.off('data', onData);
        reject(e);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new DistError('connection closed during the handshake')));
    s.resume();
  });
}

/**
 * Joins an n-rank socket world: rendezvous through rank 0, then a full mesh. Resolves with this rank's
 * transport once it is connected to every other rank. On any failure every socket, listener and Unix
 * socket file it created is released before the DistError (naming this rank) is thrown.
 */
export async function connectSocketWorld(o: SocketWorldOptions): Promise<SocketTransport> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + (o.rendezvousTimeoutMs ?? timeoutMs);
  const hostId = o.hostId ?? os.hostname();
  const c = new Cleanup();
  const where = `socket rendezvous (rank ${o.rank} of ${o.size}, MASTER_ADDR=${o.masterAddr}:${o.masterPort})`;
  if (o.size === 1) {
    const mode = o.mode === 'tcp' ? 'tcp' : 'unix';
    return new SocketTransport(0, 1, mode, [null], o);
  }
  try {
    // accept from higher ranks as soon as the listener exists (the world id arrives with the rendezvous)
    const sockets: (net.Socket | null)[] = new Array(o.size).fill(null);
    const early: Uint8Array[][] = [];
    let worldId = '';
    let setWorldId!: (id: string) => void;
    const worldIdKnown = new Promise<string>((res) => (setWorldId = res));
    const higher = o.size - 1 - o.rank;
    let accepted!: () => void;
    const allAccepted = new Promise<void>((res) => {
      accepted = res;
      if (higher === 0) res();
    });
    let count = 0;
    const onConnection = (s: net.Socket) => {
      c.sockets.add(s);
      s.on('error', () => {}); // a failed handshake is reported through 'close'
      Promise.all([readHello(s, o.maxMessageBytes ?? 2 ** 32 - 1), worldIdKnown]).then(
        ([{ hello, rest }]) => {
          if (hello.worldId !== worldId || !Number.isInteger(hello.rank) || hello.rank <= o.rank || hello.rank >= o.size || sockets[hello.rank]) {
            s.destroy(); // not one of ours (stray client or another job)
            return;
          }
          sockets[hello.rank] = s;
          early[hello.rank] = rest;
          if (++count === higher) accepted();
        },
        () => s.destroy(),
      );
    };
    const own = async (mode: SocketMode, local = o.masterAddr) => {
      const l = await dataListener(mode, o.rank, o.bindAddr ?? local, c);
      l.server.on('connection', onConnection);
      return l.address;
    };
    const rv = o.rank === 0 ? await serveRendezvous(o, hostId, deadline, c, own) : await joinRendezvous(o, hostId, deadline, c, own);
    worldId = rv.worldId;
    setWorldId(worldId);
    await withDeadline(
      Promise.all([
        allAccepted,
        ...rv.addresses.slice(0, o.rank).map(async (addr, peer) => {
          const s = await connectWithRetry(addr, deadline, `rank ${peer} at ${JSON.stringify(addr)}`, c);
          s.pause();
          s.write(encodeFrame(FrameKind.Hello, o.rank, 0, new TextEncoder().encode(JSON.stringify({ rank: o.rank, worldId }))));
          sockets[peer] = s;
        }),
      ]),
      deadline,
      () => `for the mesh: connected to ranks [${sockets.map((s, r) => (s ? r : -1)).filter((r) => r >= 0).join(',')}]`,
    );
    c.closeServers();
    return new SocketTransport(o.rank, o.size, rv.mode, sockets, o, early);
  } catch (e) {
    c.all();
    throw new DistError(`${where}: ${errorText(e)}`, { cause: e });
  }
}

/** connectSocketWorld from the launch environment (see env.ts); options override env values. */
export function connectFromEnv(opts: Partial<SocketWorldOptions> = {}, env: Record<string, string | undefined> = process.env): Promise<SocketTransport> {
  const e: DistEnv = readDistEnv(env);
  return connectSocketWorld({
    rank: e.rank,
    size: e.worldSize,
    masterAddr: e.masterAddr,
    masterPort: e.masterPort,
    mode: e.transport,
    timeoutMs: e.timeoutMs,
    bindAddr: env.PARALLAX_BIND_ADDR || undefined,
    ...opts,
  });
}
