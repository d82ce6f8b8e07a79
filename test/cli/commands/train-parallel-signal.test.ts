// Ctrl-C on a parallel `parallax train`: SIGINT to the command stops every rank after the same step (the ranks agree
// before each step), rank 0 saves the state at the last logged step and the command exits 130 saying how to resume;
// over shm worker threads (the launcher raises a shared flag) and over socket processes (the launcher passes the
// signal on); then --resume on two ranks continues from there.
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parallax } from '../../helpers/cli.js';
import { BASE, interruptTrain, trainFixture, type TrainFixture } from '../../helpers/train-fixture.js';

let f: TrainFixture;

beforeAll(async () => {
  f = await trainFixture('train-parallel-signal');
}, 60_000);

afterAll(async () => {
  await rm(f.dir, { recursive: true, force: true });
});

const interrupt = (out: string, transport: string) =>
  interruptTrain(['--model', f.model, '--data', f.meta, '--steps', '1000', '--save-every', '0', '--devices', '0,0', '--transport', transport, ...BASE], out);

describe('parallax train --devices: Ctrl-C', () => {
  for (const transport of ['shm', 'socket']) {
    it(`${transport}: every rank stops after the same step, rank 0 saves it, exit 130; --resume continues`, async () => {
      const out = join(f.dir, transport);
      const r = await interrupt(out, transport);
      expect(r.code, r.stderr).toBe(130);
      expect(r.stderr).toMatch(new RegExp(`SIGINT: saved step ${r.steps} to .*Continue with the same command plus --resume`));
      expect(JSON.parse(readFileSync(join(out, 'train-state/state.json'), 'utf8')).step).toBe(r.steps);
      if (transport === 'shm') {
        const again = await parallax(['train', '--model', f.model, '--data', f.meta, '--out', out, '--steps', String(r.steps + 1), '--devices', '0,0', '--resume', ...BASE]);
        expect(again.code, again.stderr).toBe(0);
        expect(readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step)).toEqual(Array.from({ length: r.steps + 1 }, (_, i) => i + 1));
      }
    }, 180_000);
  }
});
