// `parallax train` on two ranks of one adapter (--devices 0,0): the global batch of 2 is one item per rank, so the
// ranks reproduce the one-device run bit for bit: ZeRO 0 (the command), ZeRO 2 (in process), shm worker threads
// (ZeRO 1), and a run saved by 2 ranks resumed by 2 ranks at another ZeRO stage equals 3 one-device steps (log,
// weights, Adam moments, EMA), also while drawing a sample grid (rank 0 generates it from the cached prompt
// conditioning, every rank takes part in gathering the EMA); only rank 0 writes the outputs. (SP, sockets, errors: train-parallel-sp.test.ts.)
import { existsSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainDit } from '../../../engine/train/dit-trainer.js';
import { runTrain } from '../../../engine/train/dit-parallel.js';
import { parallax } from '../../helpers/cli.js';
import { BASE, engineOptions, logOf, seedCache, stateOf, STATE_FILES, trainFixture, type TrainFixture } from '../../helpers/train-fixture.js';

let f: TrainFixture;
const quiet = { log: () => {} };

beforeAll(async () => {
  f = await trainFixture('train-parallel');
  // the one-device references: 2 steps, and the same run resumed to 3 (train-resume.test.ts: exact)
  await trainDit(engineOptions(f, { out: join(f.dir, 'ref2'), steps: 2 }), quiet);
  await cp(join(f.dir, 'ref2'), join(f.dir, 'ref3'), { recursive: true });
  await trainDit(engineOptions(f, { out: join(f.dir, 'ref3'), steps: 3, resume: true }), quiet);
}, 120_000);

afterAll(async () => {
  await rm(f.dir, { recursive: true, force: true });
});

async function expectSameState(out: string, ref: string): Promise<void> {
  expect(logOf(out)).toEqual(logOf(ref));
  for (const file of STATE_FILES) {
    const a = await stateOf(out, file);
    const b = await stateOf(ref, file);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [k, v] of b) expect(a.get(k), `${file} ${k}`).toEqual(v);
  }
}

describe('parallax train --devices', () => {
  it('--devices 0,0 (ZeRO 0) equals one device bit for bit; --resume on 2 ranks at ZeRO 2 continues it exactly (with a sample grid)', async () => {
    const out = join(f.dir, 'dp');
    await seedCache(join(f.dir, 'ref2'), out);
    const r = await parallax(['train', '--model', f.model, '--data', f.meta, '--out', out, '--steps', '2', '--devices', '0,0', ...BASE]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/parallel: 2 ranks = 2 data-parallel x SP 1, ZeRO 0, transport inprocess; global batch 2/);
    expect(r.stderr).toMatch(/0 clips encoded, 6 reused/);
    expect(r.stdout.trim()).toBe(out);
    expect(existsSync(join(out, 'transformer/config.json')) && existsSync(join(out, 'loss.png'))).toBe(true);
    await expectSameState(out, join(f.dir, 'ref2'));
    const s = await runTrain(engineOptions(f, { out, steps: 3, resume: true, devices: [0, 0], zero: 2, sampleEvery: 3, sampleSteps: 1 }), quiet);
    expect([s.startStep, s.lastStep, s.rank]).toEqual([2, 3, 0]);
    expect(existsSync(join(out, 'samples/step-000003.png'))).toBe(true);
    await expectSameState(out, join(f.dir, 'ref3'));
  }, 180_000);

  it('ZeRO 2 in process and ZeRO 1 over shm worker threads equal one device bit for bit', async () => {
    for (const [name, o] of [['zero2', { zero: 2 as const }], ['shm', { zero: 1 as const, transport: 'shm' as const }]] as const) {
      const out = join(f.dir, name);
      await seedCache(join(f.dir, 'ref2'), out);
      const lines: string[] = [];
      const s = await runTrain(engineOptions(f, { out, steps: 2, devices: [0, 0], ...o }), { log: (m) => lines.push(m) });
      expect(lines.join('\n'), name).toMatch(new RegExp(`ZeRO ${o.zero}, transport ${'transport' in o ? 'shm' : 'inprocess'}`));
      expect(s.lastStep).toBe(2);
      await expectSameState(out, join(f.dir, 'ref2'));
    }
  }, 180_000);
});
