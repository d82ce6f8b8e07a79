// EventFeed: backoff growth/cap/jitter, resubscription after every reconnect, state changes, onReconnect,
// backoff reset after a stable connection, and stop() ending retries; with a fake socket and fake timers.
import { describe, expect, it } from 'vitest';
import { backoffDelay, EventFeed, eventsUrl, type SocketLike } from '../../client/events.js';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: string[] = [];
  closed = false;
  onopen: SocketLike['onopen'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  onmessage: SocketLike['onmessage'] = null;
  constructor(readonly url: string) {}
  send(d: string) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(d);
  }
  close() {
    this.closed = true;
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code });
  }
  message(obj: unknown) {
    this.onmessage?.({ data: JSON.stringify(obj) });
  }
}

function harness(opts: { stableMs?: number; random?: () => number } = {}) {
  const sockets: FakeSocket[] = [];
  const timers: { fn: () => void; ms: number; id: number; cleared: boolean }[] = [];
  let clock = 0;
  let nextId = 1;
  const feed = new EventFeed({
    url: 'ws://h/api/events',
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    backoff: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0 },
    random: opts.random,
    stableMs: opts.stableMs ?? 5000,
    now: () => clock,
    timers: {
      setTimeout: (fn, ms) => {
        const t = { fn, ms, id: nextId++, cleared: false };
        timers.push(t);
        return t.id;
      },
      clearTimeout: (id) => {
        const t = timers.find((x) => x.id === id);
        if (t) t.cleared = true;
      },
    },
  });
  const fire = () => {
    const t = timers.filter((x) => !x.cleared).at(-1)!;
    t.cleared = true;
    clock += t.ms;
    t.fn();
    return t.ms;
  };
  return { feed, sockets, timers, fire, advance: (ms: number) => (clock += ms) };
}

describe('backoffDelay', () => {
  it('grows geometrically, caps, and jitters within +-jitter/2', () => {
    const o = { initialMs: 300, maxMs: 7000, factor: 1.7, jitter: 0.4 };
    for (let a = 0; a < 12; a++) {
      const base = Math.min(7000, 300 * 1.7 ** a);
      expect(backoffDelay(a, o, () => 0.5)).toBe(Math.round(base));
      expect(backoffDelay(a, o, () => 0)).toBe(Math.round(base * 0.8));
      expect(backoffDelay(a, o, () => 0.999999)).toBeLessThanOrEqual(Math.round(base * 1.2));
    }
    expect(backoffDelay(40, o, () => 0.5)).toBe(7000);
  });
});

describe('EventFeed', () => {
  it('subscribes on open, resubscribes after each reconnect and reports states', () => {
    const h = harness();
    const states: string[] = [];
    let reconnects = 0;
    h.feed.onState((s) => states.push(s));
    h.feed.onReconnect(() => reconnects++);
    h.feed.subscribe('*'); // before start: remembered
    h.feed.start();
    expect(h.sockets).toHaveLength(1);
    h.sockets[0]!.open();
    h.feed.subscribe('3f1c2b7e-0000-4000-8000-000000000001');
    expect(h.sockets[0]!.sent.map((s) => JSON.parse(s))).toEqual([
      { type: 'subscribe', job: '*' },
      { type: 'subscribe', job: '3f1c2b7e-0000-4000-8000-000000000001' },
    ]);
    expect(reconnects).toBe(0);
    h.sockets[0]!.drop();
    expect(h.feed.state).toBe('reconnecting');
    expect(h.fire()).toBe(100);
    h.sockets[1]!.open();
    expect(h.sockets[1]!.sent.map((s) => JSON.parse(s).job).sort()).toEqual(['*', '3f1c2b7e-0000-4000-8000-000000000001'].sort());
    expect(reconnects).toBe(1);
    expect(states[0]).toBe('connecting');
    expect(states.at(-1)).toBe('open');
    expect(states).toContain('reconnecting');
  });

  it('backs off 100, 200, 400, 800, 1000, 1000 while the server is down, then resets after a stable connection', () => {
    const h = harness({ stableMs: 5000 });
    h.feed.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      h.sockets.at(-1)!.drop();
      delays.push(h.fire());
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    // short-lived connection: backoff keeps growing
    h.sockets.at(-1)!.open();
    h.advance(1000);
    h.sockets.at(-1)!.drop();
    expect(h.fire()).toBe(1000);
    // stable connection: next drop retries fast again
    h.sockets.at(-1)!.open();
    h.advance(6000);
    h.sockets.at(-1)!.drop();
    expect(h.fire()).toBe(100);
  });

  it('delivers parsed messages, ignores garbage, and stop() ends retries', () => {
    const h = harness();
    const got: unknown[] = [];
    h.feed.onMessage((m) => got.push(m));
    h.feed.start();
    const s = h.sockets[0]!;
    s.open();
    s.message({ type: 'step', jobId: 'j', step: 3, total: 10, its: 2, eta_s: 3.5 });
    s.onmessage?.({ data: '{not json' });
    s.onmessage?.({ data: new ArrayBuffer(4) });
    expect(got).toEqual([{ type: 'step', jobId: 'j', step: 3, total: 10, its: 2, eta_s: 3.5 }]);
    h.feed.stop();
    expect(s.closed).toBe(true);
    expect(h.feed.state).toBe('closed');
    s.drop(); // handlers were detached: no retry
    expect(h.timers.filter((t) => !t.cleared)).toHaveLength(0);
    expect(h.sockets).toHaveLength(1);
  });

  it('stop() during a pending retry cancels it', () => {
    const h = harness();
    h.feed.start();
    h.sockets[0]!.drop();
    expect(h.timers.filter((t) => !t.cleared)).toHaveLength(1);
    h.feed.stop();
    expect(h.timers.filter((t) => !t.cleared)).toHaveLength(0);
  });

  it('builds ws/wss URLs from the page origin', () => {
    expect(eventsUrl('http://127.0.0.1:8080')).toBe('ws://127.0.0.1:8080/api/events');
    expect(eventsUrl('https://example.org')).toBe('wss://example.org/api/events');
  });
});
