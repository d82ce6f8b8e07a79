// A GPU wait that sleeps instead of spinning (Node, Dawn). Dawn's Node binding settles its promises
// (onSubmittedWorkDone, mapAsync, requestDevice, ...) from an "AsyncRunner" that, while any of them is pending,
// re-queues a native tick through the global `setImmediate` that calls the instance's ProcessEvents: a busy poll on
// every event-loop turn that burns a host core for as long as the GPU works. This module wraps the global
// `setImmediate` so that those native ticks (and only those) back off: the first polls of a wait stay immediate
// (short waits keep their latency), then the ticks sleep on 1-2 ms timers. Every other setImmediate caller is passed
// straight through. A new wait (onSubmittedWorkDone / mapAsync) resets the backoff and wakes a sleeping tick.
// PARALLAX_GPU_WAIT=spin turns the throttle off (Dawn's own behaviour), `sleep` is the default.

export type GpuWaitMode = 'sleep' | 'spin';

/** Polls of a wait that run as immediates before the ticks start sleeping (~7 us each on a CPU). */
export const SPIN_POLLS = 32;
/** Sleep per poll after the spin phase: SHORT_SLEEP_MS for the next LONG_AFTER polls, then LONG_SLEEP_MS. */
export const SHORT_SLEEP_MS = 1;
export const LONG_SLEEP_MS = 2;
export const LONG_AFTER = 16;

export interface GpuWaitStats {
  /** Native ticks run as immediates. */
  immediatePolls: number;
  /** Native ticks run after a timer sleep. */
  sleptPolls: number;
  /** Native ticks passed straight through in spin mode. */
  spinPolls: number;
  /** Waits seen (new tick chains plus onSubmittedWorkDone / mapAsync calls). */
  waits: number;
}

type AnyFn = (...args: unknown[]) => unknown;
type SetImmediateFn = (fn: AnyFn, ...args: unknown[]) => unknown;
type TimerHandle = ReturnType<typeof setTimeout>;

interface Throttle {
  mode: GpuWaitMode;
  stats: GpuWaitStats;
  /** Native polls since the current wait started. */
  polls: number;
  /** True while a native tick runs (a tick it schedules continues the same chain). */
  inTick: boolean;
  /** The sleeping native tick, if any (a new wait runs it at once). */
  sleeping: { fn: AnyFn; timer: TimerHandle } | null;
  original: SetImmediateFn;
}

const THROTTLE = Symbol.for('parallax.dawnWaitThrottle');

function envMode(): GpuWaitMode {
  const v = typeof process !== 'undefined' ? process.env.PARALLAX_GPU_WAIT : undefined;
  if (v === undefined || v === '' || v === 'sleep') return 'sleep';
  if (v === 'spin') return 'spin';
  throw new Error(`PARALLAX_GPU_WAIT=${v}: expected "sleep" (default: poll the GPU with short sleeps) or "spin" (Dawn's busy poll)`);
}

/** Dawn's tick: a native function without a name (Napi::Function::New with a lambda). */
export function isDawnTick(fn: unknown): boolean {
  return typeof fn === 'function' && fn.name === '' && Function.prototype.toString.call(fn).includes('[native code]');
}

function throttleOf(target: object): Throttle | undefined {
  return (target as Record<symbol, Throttle | undefined>)[THROTTLE];
}

/**
 * Installs the throttle on `target` (globalThis: Dawn looks `setImmediate` up on the global object at every tick)
 * and makes `onSubmittedWorkDone` / `mapAsync` of the given Dawn classes start a new wait. Idempotent per target.
 * `isTick` is replaceable for tests.
 */
export function installDawnWaitThrottle(
  target: { setImmediate: unknown } = globalThis as unknown as { setImmediate: unknown },
  dawnClasses: Record<string, unknown> = {},
  isTick: (fn: unknown) => boolean = isDawnTick,
): void {
  let t = throttleOf(target);
  if (!t) {
    const original = target.setImmediate as SetImmediateFn;
    const th: Throttle = {
      mode: envMode(),
      stats: { immediatePolls: 0, sleptPolls: 0, spinPolls: 0, waits: 0 },
      polls: 0,
      inTick: false,
      sleeping: null,
      original,
    };
    t = th;
    const run = (fn: AnyFn) => () => {
      th.inTick = true;
      try {
        fn();
      } finally {
        th.inTick = false;
      }
    };
    const wrapped = function setImmediate(fn: AnyFn, ...args: unknown[]): unknown {
      if (args.length || !isTick(fn)) return original(fn, ...args);
      if (th.mode === 'spin') {
        th.stats.spinPolls++;
        return original(fn);
      }
      if (!th.inTick) {
        // A new chain: the runner had nothing pending, so this is a new wait.
        th.polls = 0;
        th.stats.waits++;
      }
      const n = th.polls++;
      if (n < SPIN_POLLS) {
        th.stats.immediatePolls++;
        return original(run(fn));
      }
      const ms = n < SPIN_POLLS + LONG_AFTER ? SHORT_SLEEP_MS : LONG_SLEEP_MS;
      const timer = setTimeout(() => {
        th.sleeping = null;
        th.stats.sleptPolls++;
        run(fn)();
      }, ms);
      th.sleeping = { fn, timer };
      return undefined;
    };
    // Keep setImmediate's own properties (util.promisify.custom, __promisify__).
    for (const key of Reflect.ownKeys(original)) {
      if (key === 'length' || key === 'name' || key === 'prototype') continue;
      const d = Object.getOwnPropertyDescriptor(original, key);
      if (d) Object.defineProperty(wrapped, key, d);
    }
    target.setImmediate = wrapped;
    Object.defineProperty(target, THROTTLE, { value: th, enumerable: false });
  }
  const th = t;
  for (const [cls, method] of [['GPUQueue', 'onSubmittedWorkDone'], ['GPUBuffer', 'mapAsync']] as const) {
    const proto = (dawnClasses[cls] as { prototype?: Record<string | symbol, unknown> } | undefined)?.prototype;
    const f = proto?.[method] as AnyFn | undefined;
    if (!proto || !f || proto[THROTTLE]) continue;
    proto[method] = function (this: unknown, ...args: unknown[]) {
      newWait(th);
      return f.apply(this, args);
    };
    Object.defineProperty(proto, THROTTLE, { value: true, enumerable: false });
  }
}

/** A wait starts: poll immediately again, and wake a tick that sleeps on a timer. */
function newWait(th: Throttle): void {
  th.polls = 0;
  th.stats.waits++;
  const s = th.sleeping;
  if (s) {
    clearTimeout(s.timer);
    th.sleeping = null;
    th.polls = 1;
    th.stats.immediatePolls++;
    th.original(() => {
      th.inTick = true;
      try {
        s.fn();
      } finally {
        th.inTick = false;
      }
    });
  }
}

/** Switches the installed throttle between sleeping and Dawn's busy poll (for A/B measurements). */
export function setGpuWaitMode(mode: GpuWaitMode, target: object = globalThis): void {
  const th = throttleOf(target);
  if (!th) throw new Error('setGpuWaitMode: no GPU wait throttle is installed (it is installed when Dawn is created, in Node only)');
  th.mode = mode;
}

/** The installed throttle's mode and counters (null in browsers or before Dawn is created). */
export function gpuWaitState(target: object = globalThis): { mode: GpuWaitMode; stats: GpuWaitStats } | null {
  const th = throttleOf(target);
  return th ? { mode: th.mode, stats: th.stats } : null;
}
