// runTrainingRanks (engine/train/train-ranks.ts): the same training rank module (ZeRO 1 on 2 ranks, a 3-item batch,
// 2 steps of the tiny 2-layer model) started in one process (inprocess), as worker threads (shm) and as one process
// per rank under the local launcher (env: sockets) gives the same losses, norms and parameter/EMA bits everywhere;
// a rank failing in one process ends the other with an error naming it; bad arguments are named.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchLocal } from '../../../engine/distributed/launch.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { runTrainingRanks } from '../../../engine/train/train-ranks.js';
import { TRAIN_OPTS, type RankArgs } from './dist-train-rank.js';
import type { Summary } from './train-rank-module.js';

const module = new URL('./train-rank-module.ts', import.meta.url);
let dir: string;
let a: RankArgs;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parallax-train-ranks-'));
  await makeTinyCheckpoint(dir, { seed: 43, transformer: { num_layers: 2, num_attention_heads: 2, attention_head_dim: 4 } });
  const ck = await openCheckpoint(dir);
  const cfg = ck.transformer.config as unknown as Record<string, number>;
  await ck.close();
  a = { geo: { numLayers: 2, heads: 2, patchSize: cfg.patch_size ?? 2, C: cfg.in_channels!, J: cfg.joint_attention_dim!, P: cfg.pooled_projection_dim!, F: 2, Hl: 4, Wl: 4, Tn: 3 }, K: 3, steps: 2, zero: 1, opts: TRAIN_OPTS, dir };
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('runTrainingRanks', () => {
  it('inprocess, shm and one process per rank (env world over sockets) train to the same bits', async () => {
    const inproc = await runTrainingRanks<RankArgs, Summary>({ transport: 'inprocess', ranks: 2, module, args: a });
    const shm = await runTrainingRanks<RankArgs, Summary>({ transport: 'shm', ranks: 2, module, args: a });
    const out = mkdtempSync(join(tmpdir(), 'parallax-train-ranks-out-'));
    try {
      const w = await launchLocal({ nproc: 2, script: fileURLToPath(new URL('./train-env-rank.ts', import.meta.url)), args: [JSON.stringify(a), out], stdio: 'pipe', transport: 'unix' });
      let stderr = '';
      for (const c of w.children) c.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
      const res = await w.done;
      expect(res.codes, stderr).toEqual([0, 0]);
      const env = [0, 1].map((r) => JSON.parse(readFileSync(join(out, `rank-${r}.json`), 'utf8')) as Summary);
      const ref = inproc[0]!;
      expect(ref.losses).toHaveLength(2);
      for (const [what, rs] of [['inprocess', inproc], ['shm', shm], ['env', env]] as const) {
        expect(rs.map((r) => [r.rank, r.size]), what).toEqual([[0, 2], [1, 2]]);
        for (const r of rs) expect({ losses: r.losses, norms: r.norms, hash: r.hash }, `${what} rank ${r.rank}`).toEqual({ losses: ref.losses, norms: ref.norms, hash: ref.hash });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);

  it('a rank failing (in-process world) rejects with an error naming it', async () => {
    const err = await runTrainingRanks<RankArgs, Summary>({ transport: 'inprocess', ranks: 2, module, args: { ...a, failRank: 1, failStep: 1 } }).then(() => null, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/rank 1 of group world\[0,1\] failed/);
  }, 120_000);

  it('names bad arguments', async () => {
    await expect(runTrainingRanks({ transport: 'inprocess', module, args: a })).rejects.toThrow(/give the number of ranks/);
    await expect(runTrainingRanks({ transport: 'shm', ranks: 2, devices: [0], module, args: a })).rejects.toThrow(/--devices lists 1 adapters for 2 ranks/);
    await expect(runTrainingRanks({ transport: 'inprocess', ranks: 1, module: new URL('../../helpers/random.ts', import.meta.url), args: a })).rejects.toThrow(/has no default export function/);
  });
});
