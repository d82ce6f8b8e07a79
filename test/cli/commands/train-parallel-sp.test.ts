// `parallax train` with --sp 2 (one SP group of 2 ranks on one adapter: the tokens of each item split over them)
// matches the one-device run within 1e-6 relative after 2 steps, and --sp 2 with --recompute / --offload (ZeRO 2) or
// at ZeRO 3 with --offload gives the --sp 2 run's bits; recompute + offload on 2 data-parallel ranks keep the
// one-device bits; --transport socket (the command relaunched as one --multi-host process per rank) with ZeRO 3 gives
// its bits exactly; unsupported combinations and a rank that cannot open its adapter are named with the fix.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainDit } from '../../../engine/train/dit-trainer.js';
import { runTrain } from '../../../engine/train/dit-parallel.js';
import { parallax } from '../../helpers/cli.js';
import { BASE, engineOptions, logOf, relL2, seedCache, stateOf, STATE_FILES, trainFixture, type TrainFixture } from '../../helpers/train-fixture.js';

let f: TrainFixture;
const quiet = { log: () => {} };

beforeAll(async () => {
  f = await trainFixture('train-parallel-sp');
  await trainDit(engineOptions(f, { out: join(f.dir, 'ref'), steps: 2 }), quiet);
}, 120_000);

afterAll(async () => {
  await rm(f.dir, { recursive: true, force: true });
});

/** The --sp 2 (ZeRO 2) run, once for the tests that compare with it. */
let spDone: Promise<{ out: string; lines: string[]; summary: Awaited<ReturnType<typeof runTrain>> }> | null = null;
function spRun() {
  spDone ??= (async () => {
    const out = join(f.dir, 'sp');
    await seedCache(join(f.dir, 'ref'), out);
    const lines: string[] = [];
    const summary = await runTrain(engineOptions(f, { out, steps: 2, devices: [0, 0], sp: 2, zero: 2 }), { log: (m) => lines.push(m) });
    return { out, lines, summary };
  })();
  return spDone;
}

describe('parallax train --sp, --transport socket, errors', () => {
  it('--devices 0,0 --sp 2 (ZeRO 2) matches one device within 1e-6', async () => {
    const { out, lines } = await spRun();
    expect(lines.join('\n')).toMatch(/2 ranks = 1 data-parallel x SP 2, ZeRO 2/);
    const a = logOf(out);
    const b = logOf(join(f.dir, 'ref'));
    for (let i = 0; i < 2; i++) {
      expect(a[i]!.clips).toEqual(b[i]!.clips);
      expect(a[i]!.sigmas).toEqual(b[i]!.sigmas);
      expect(Math.abs((a[i]!.loss as number) / (b[i]!.loss as number) - 1)).toBeLessThan(1e-6);
      expect(Math.abs((a[i]!.grad_norm as number) / (b[i]!.grad_norm as number) - 1)).toBeLessThan(1e-6);
    }
    for (const file of STATE_FILES) {
      const x = await stateOf(out, file);
      const y = await stateOf(join(f.dir, 'ref'), file);
      const e = relL2(x, y);
      expect(e, file).toBeLessThan(1e-6); // measured 1.2e-8 (weights) .. 1.8e-7 (adam_v)
      if (file === 'weights') expect(e).toBeGreaterThan(0); // the SP sums are regrouped: not the same bits (the comparison can fail)
    }
  }, 120_000);

  it('--sp 2 with --recompute 0 --offload 1 (ZeRO 2) and --sp 2 --zero 3 --offload 1 give the --sp 2 run\'s bits', async () => {
    const sp = await spRun();
    const runs: [string, Parameters<typeof engineOptions>[1]][] = [
      ['sp-recompute', { out: join(f.dir, 'sp-recompute'), steps: 2, devices: [0, 0], sp: 2, zero: 2, recompute: 0, offload: 1 }],
      ['sp-zero3', { out: join(f.dir, 'sp-zero3'), steps: 2, devices: [0, 0], sp: 2, zero: 3, offload: 1 }],
    ];
    for (const [name, opts] of runs) {
      await seedCache(join(f.dir, 'ref'), opts.out);
      const r = await runTrain(engineOptions(f, opts), quiet);
      expect(logOf(opts.out), `${name} log`).toEqual(logOf(sp.out));
      for (const file of STATE_FILES) {
        const x = await stateOf(opts.out, file);
        for (const [k, v] of await stateOf(sp.out, file)) expect(x.get(k), `${name} ${file} ${k}`).toEqual(v);
      }
      if (name === 'sp-recompute') expect(r.peakBytes, 'SP 2 peak with recompute').toBeLessThan(sp.summary.peakBytes); // the options reach the SP passes
    }
  }, 240_000);

  it('--recompute 0 --offload 1 on 2 ranks (ZeRO 1) equals one device without them, bit for bit', async () => {
    const out = join(f.dir, 'recompute');
    await seedCache(join(f.dir, 'ref'), out);
    const withRc = await runTrain(engineOptions(f, { out, steps: 2, devices: [0, 0], zero: 1, recompute: 0, offload: 1 }), quiet);
    expect(logOf(out)).toEqual(logOf(join(f.dir, 'ref')));
    const plain = join(f.dir, 'plain');
    await seedCache(join(f.dir, 'ref'), plain);
    const without = await runTrain(engineOptions(f, { out: plain, steps: 2, devices: [0, 0], zero: 1 }), quiet);
    expect(withRc.peakBytes).toBeLessThan(without.peakBytes); // the options reach the ranks' passes
    for (const file of STATE_FILES) {
      const x = await stateOf(out, file);
      for (const [k, v] of await stateOf(join(f.dir, 'ref'), file)) expect(x.get(k), `${file} ${k}`).toEqual(v);
    }
  }, 120_000);

  it('--transport socket (one --multi-host process per rank, ZeRO 3) equals one device bit for bit', async () => {
    const out = join(f.dir, 'socket');
    await seedCache(join(f.dir, 'ref'), out);
    const r = await parallax(['train', '--model', f.model, '--data', f.meta, '--out', out, '--steps', '2', '--devices', '0,0', '--transport', 'socket', '--zero', '3', ...BASE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 ranks = 2 data-parallel x SP 1, ZeRO 3, launcher world \(sockets\)/);
    expect(logOf(out)).toEqual(logOf(join(f.dir, 'ref')));
    for (const file of STATE_FILES) {
      const x = await stateOf(out, file);
      for (const [k, v] of await stateOf(join(f.dir, 'ref'), file)) expect(x.get(k), `${file} ${k}`).toEqual(v);
    }
  }, 120_000);

  it('names unsupported combinations with the fix, and a rank that fails', async () => {
    const o = (x: Parameters<typeof engineOptions>[1]) => runTrain(engineOptions(f, x), quiet);
    const out = join(f.dir, 'bad');
    await expect(o({ out, steps: 1, devices: [0, 0, 0], sp: 2 })).rejects.toThrow(/--sp 2 does not divide the 3 rank\(s\).*pick --sp in \{1, 3\}/);
    await expect(o({ out, steps: 1, devices: [0, 0], zero: 3, recompute: 0 })).rejects.toThrow(/--zero 3 on several ranks already reruns every block's forward.*drop --recompute \(--offload alone applies\)/);
    await expect(o({ out, steps: 1, transport: 'shm' })).rejects.toThrow(/--transport shm needs several ranks: pass --devices/);
    await expect(o({ out, steps: 1, sp: 2 })).rejects.toThrow(/--sp 2 does not divide the 1 rank/);
    const cli = await parallax(['train', '--model', f.model, '--data', f.meta, '--out', out, '--steps', '1', '--devices', '0,0', '--sp', '2', '--zero', '3', '--recompute', '0.5', ...BASE]);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toMatch(/--zero 3 on several ranks already reruns every block's forward/);
    // rank 1 cannot open its adapter: every rank ends, the error names rank 1 and the cause
    await expect(o({ out: join(f.dir, 'fail'), steps: 1, devices: [0, 99], transport: 'shm' })).rejects.toThrow(/rank 1: adapter index 99 does not exist/);
  }, 120_000);
});
