// WebSocket event feed with reconnect: exponential backoff with jitter, resubscription after every
// (re)connect, a connection state for the UI, and an onReconnect hook so the app refetches the job list
// (events sent while disconnected are lost; the list is the truth).
import type { ServerEvent } from './types.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The part of the browser WebSocket the feed uses (tests pass a fake). */
export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BackoffOptions {
  /** First retry delay (default 500 ms). */
  initialMs?: number;
  /** Cap on the delay (default 10 s). */
  maxMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** Fraction of the delay drawn at random, +-jitter/2 (default 0.2). */
  jitter?: number;
}

export interface EventFeedOptions {
  url: string;
  createSocket?: (url: string) => SocketLike;
  backoff?: BackoffOptions;
  timers?: Timers;
  /** Uniform [0, 1) source for jitter (default Math.random). */
  random?: () => number;
  /** A connection that stayed open this long resets the backoff (default 5 s). */
  stableMs?: number;
  now?: () => number;
}

/** Delay before reconnect attempt `attempt` (0-based): initial * factor^attempt, capped, with jitter. */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 500;
  const max = o.maxMs ?? 10_000;
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 0.2;
  const base = Math.min(max, initial * Math.pow(factor, attempt));
  return Math.max(0, Math.round(base * (1 + jitter * (random() - 0.5))));
}

const OPEN = 1;

export class EventFeed {
  private socket: SocketLike | null = null;
  private retryTimer: unknown = null;
  private attempt = 0;
  private openedAt = 0;
  private stopped = true;
  private everOpened = false;
  private readonly subs = new Set<string>();
  private readonly messageHandlers = new Set<(e: ServerEvent) => void>();
  private readonly stateHandlers = new Set<(s: ConnectionState, info: { attempt: number; retryInMs?: number }) => void>();
  private readonly reconnectHandlers = new Set<() => void>();
  private readonly timers: Timers;
  private readonly createSocket: (url: string) => SocketLike;
  private readonly now: () => number;
  state: ConnectionState = 'closed';

  constructor(private readonly opts: EventFeedOptions) {
    this.timers = opts.timers ?? { setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms), clearTimeout: (h) => globalThis.clearTimeout(h as number) };
    this.createSocket = opts.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
    this.now = opts.now ?? (() => Date.now());
  }

  onMessage(fn: (e: ServerEvent) => void): () => void {
    this.messageHandlers.add(fn);
    return () => this.messageHandlers.delete(fn);
  }
  onState(fn: (s: ConnectionState, info: { attempt: number; retryInMs?: number }) => void): () => void {
    this.stateHandlers.add(fn);
    return () => this.stateHandlers.delete(fn);
  }
  /** Called after every reconnect (not the first connect): refetch state that events may have missed. */
  onReconnect(fn: () => void): () => void {
    this.reconnectHandlers.add(fn);
    return () => this.reconnectHandlers.delete(fn);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onerror = s.onmessage = s.onopen = null;
      s.close(1000, 'client stopped');
    }
    this.setState('closed');
  }

  /** Subscribes to a job id or '*' (all jobs); kept across reconnects. */
  subscribe(job: string): void {
    this.subs.add(job);
    this.send({ type: 'subscribe', job });
  }

  unsubscribe(job: string): void {
    this.subs.delete(job);
    this.send({ type: 'unsubscribe', job });
  }

  get subscriptions(): string[] {
    return [...this.subs];
  }

  private send(msg: unknown): void {
    if (this.socket && this.socket.readyState === OPEN) this.socket.send(JSON.stringify(msg));
  }

  private setState(s: ConnectionState, retryInMs?: number): void {
    this.state = s;
    for (const fn of this.stateHandlers) fn(s, { attempt: this.attempt, retryInMs });
  }

  private connect(): void {
    this.retryTimer = null;
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting');
    let s: SocketLike;
    try {
      s = this.createSocket(this.opts.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.openedAt = this.now();
      this.setState('open');
      for (const job of this.subs) s.send(JSON.stringify({ type: 'subscribe', job }));
      if (reconnected) for (const fn of this.reconnectHandlers) fn();
    };
    s.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: ServerEvent;
      try {
        msg = JSON.parse(ev.data) as ServerEvent;
      } catch {
        return;
      }
      for (const fn of this.messageHandlers) fn(msg);
    };
    s.onerror = () => {
      /* onclose follows and schedules the retry */
    };
    s.onclose = () => {
      if (this.socket !== s) return;
      this.socket = null;
      if (this.stopped) return;
      if (this.openedAt > 0 && this.now() - this.openedAt >= (this.opts.stableMs ?? 5000)) this.attempt = 0;
      this.openedAt = 0;
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = backoffDelay(this.attempt, this.opts.backoff, this.opts.random);
    this.attempt++;
    this.setState('reconnecting', delay);
    this.retryTimer = this.timers.setTimeout(() => this.connect(), delay);
  }
}

/** ws:// or wss:// URL of the event feed for a page served from `origin`. */
export function eventsUrl(origin: string): string {
  const u = new URL('/api/events', origin);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
