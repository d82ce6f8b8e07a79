// The GPU wait throttle (engine/gpu/dawn-wait.ts): only Dawn's native ticks are delayed, the first polls of a wait
// stay immediate and later ones sleep, a new wait wakes a sleeping tick, and on the real device waits still resolve
// while the host thread mostly sleeps (poll counts compared with Dawn's busy poll; no timed assertions).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpuWaitState, installDawnWaitThrottle, isDawnTick, setGpuWaitMode, SPIN_POLLS } from '../../../engine/gpu/dawn-wait.js';
import { u32 } from '../../../engine/gpu/device.js';
import { grid2D } from '../../../engine/gpu/grid.js';
import { Tensor } from '../../../engine/tensor.js';
import { testDevice } from '../../helpers/gpu.js';

type Fn = (...a: unknown[]) => unknown;

/** A fake global whose setImmediate queues callbacks; ticks are functions marked `tick`. */
function fakeGlobal() {
  const queue: Fn[] = [];
  const target = { setImmediate: ((fn: Fn, ...args: unknown[]) => void queue.push(() => fn(...args))) as unknown };
  const isTick = (fn: unknown) => typeof fn === 'function' && (fn as { tick?: boolean }).tick === true;
  const drain = async (untilEmptyMs = 50) => {
    const end = Date.now() + untilEmptyMs;
    while (Date.now() < end) {
      if (queue.length) queue.shift()!();
      else await new Promise((r) => setTimeout(r, 1));
    }
  };
  return { target, queue, isTick, drain };
}

/** A Dawn-like runner: a tick that re-queues itself through target.setImmediate `n` more times. */
function chain(target: { setImmediate: unknown }, n: number, ran: { count: number }): void {
  const tick = Object.assign(() => {
    ran.count++;
    if (ran.count < n) (target.setImmediate as Fn)(tick);
  }, { tick: true });
  (target.setImmediate as Fn)(tick);
}

describe('GPU wait throttle', () => {
  it('recognises Dawn-style native ticks only', () => {
    expect(isDawnTick(() => 1)).toBe(false);
    expect(isDawnTick(function named() {})).toBe(false);
    expect(isDawnTick(Math.max)).toBe(false); // native but named
    expect(isDawnTick((() => 1).bind(null))).toBe(false); // native-looking, named 'bound '
  });

  it('passes other callbacks straight through, arguments included', async () => {
    const g = fakeGlobal();
    installDawnWaitThrottle(g.target, {}, g.isTick);
    const got: unknown[] = [];
    (g.target.setImmediate as Fn)((a: unknown, b: unknown) => got.push(a, b), 1, 2);
    expect(g.queue.length).toBe(1); // queued on the original, not on a timer
    g.queue.shift()!();
    expect(got).toEqual([1, 2]);
    expect(gpuWaitState(g.target)!.stats).toMatchObject({ immediatePolls: 0, sleptPolls: 0 });
  });

  it('keeps the first polls of a wait immediate, then sleeps, and resets for a new chain', async () => {
    const g = fakeGlobal();
    installDawnWaitThrottle(g.target, {}, g.isTick);
    const ran = { count: 0 };
    chain(g.target, SPIN_POLLS + 5, ran);
    await g.drain(200);
    expect(ran.count).toBe(SPIN_POLLS + 5);
    const s = gpuWaitState(g.target)!.stats;
    expect(s.immediatePolls).toBe(SPIN_POLLS);
    expect(s.sleptPolls).toBe(5);
    expect(s.waits).toBe(1);
    const ran2 = { count: 0 };
    chain(g.target, 3, ran2);
    await g.drain(30);
    expect(ran2.count).toBe(3);
    expect(s.immediatePolls).toBe(SPIN_POLLS + 3);
    expect(s.waits).toBe(2);
  });

  it('wakes a sleeping tick when a new wait starts, and spin mode passes ticks through', async () => {
    const g = fakeGlobal();
    class GPUQueue { onSubmittedWorkDone() { return 'done'; } }
    installDawnWaitThrottle(g.target, { GPUQueue }, g.isTick);
    const ran = { count: 0 };
    chain(g.target, 1000, ran);
    for (let i = 0; i < SPIN_POLLS; i++) g.queue.shift()!();
    expect(ran.count).toBe(SPIN_POLLS);
    expect(g.queue.length).toBe(0); // the next tick sleeps on a timer
    expect(new GPUQueue().onSubmittedWorkDone()).toBe('done');
    expect(g.queue.length).toBe(1); // ... and was moved to an immediate by the new wait
    setGpuWaitMode('spin', g.target);
    g.queue.shift()!();
    expect(g.queue.length).toBe(1); // spin: straight to the original setImmediate
    expect(gpuWaitState(g.target)!.stats.spinPolls).toBe(1);
  });
});

describe('GPU wait on Dawn', () => {
  const mainThreadCpuMs = (): number | null => {
    try {
      const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
      const p = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(p[11]) + Number(p[12])) * 10;
    } catch {
      return null;
    }
  };

  it('is installed with Dawn; long waits sleep and resolve with the right result', async () => {
    const d = await testDevice();
    const state = gpuWaitState();
    expect(state).not.toBeNull();
    const threads = 256 * 256;
    const out = Tensor.empty(d, [threads]);
    const run = async (iters: number) => {
      d.dispatch({ op: 'peak_fma', kernel: 'peak', entry: 'fma_main', defines: { FMA: true }, params: [u32(iters)], bindings: [out], workgroups: grid2D(threads / 256) });
      await d.sync();
    };
    await run(1); // compile
    const long = async (mode: 'spin' | 'sleep') => {
      setGpuWaitMode(mode);
      const s0 = { ...state!.stats };
      const c0 = mainThreadCpuMs();
      const t0 = performance.now();
      await run(4096);
      const wall = performance.now() - t0;
      const cpu = c0 === null ? null : mainThreadCpuMs()! - c0;
      const s = state!.stats;
      return { wall, cpu, polls: s.immediatePolls - s0.immediatePolls + s.sleptPolls - s0.sleptPolls + s.spinPolls - s0.spinPolls, slept: s.sleptPolls - s0.sleptPolls };
    };
    try {
      const spin = await long('spin');
      const sleep = await long('sleep');
      expect(sleep.slept).toBeGreaterThan(0);
      expect(sleep.polls).toBeLessThan(spin.polls / 4);
      // Very loose: a sleeping wait of over a second uses far less than half a core on the host thread.
      if (sleep.cpu !== null && sleep.wall > 1000) expect(sleep.cpu).toBeLessThan(0.5 * sleep.wall);
      const v = await out.read();
      expect(v.every((x) => Number.isFinite(x))).toBe(true);
      // Idle: device.lost and the popped error scopes hold no pending Dawn task, so nothing polls.
      const idle0 = { ...state!.stats };
      await new Promise((r) => setTimeout(r, 100));
      expect(state!.stats).toEqual(idle0);
    } finally {
      setGpuWaitMode('sleep');
      out.dispose();
    }
  });
});
