// checkpointHash: stable for the same files, changes with weights (seed), dtype, configs and tokenizer files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { openCheckpoint } from '../../../engine/io/checkpoint.js';
import { checkpointHash } from '../../../engine/pipeline/model-hash.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-hash-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function hashOf(d: string): Promise<string> {
  const ck = await openCheckpoint(d);
  try {
    return await checkpointHash(ck);
  } finally {
    await ck.close();
  }
}

describe('checkpointHash', () => {
  it('is deterministic and sensitive to weights, dtype, configs and tokenizers', async () => {
    const opts = { transformer: { num_layers: 1 } };
    const a = (await makeTinyCheckpoint(join(dir, 'a'), { ...opts, seed: 1 })).dir;
    const a2 = (await makeTinyCheckpoint(join(dir, 'a2'), { ...opts, seed: 1 })).dir;
    const b = (await makeTinyCheckpoint(join(dir, 'b'), { ...opts, seed: 2 })).dir;
    const c = (await makeTinyCheckpoint(join(dir, 'c'), { ...opts, seed: 1, dtype: 'F16' })).dir;
    const ha = await hashOf(a);
    expect(ha).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashOf(a)).toBe(ha);
    expect(await hashOf(a2)).toBe(ha); // same content in another folder
    expect(await hashOf(b)).not.toBe(ha);
    expect(await hashOf(c)).not.toBe(ha);
    const sched = join(a2, 'scheduler', 'scheduler_config.json');
    await writeFile(sched, (await readFile(sched, 'utf8')).replace('"shift": 3', '"shift": 2.5'));
    const hs = await hashOf(a2);
    expect(hs).not.toBe(ha);
    const merges = join(a2, 'tokenizer', 'merges.txt');
    await writeFile(merges, `${await readFile(merges, 'utf8')}\n`);
    expect(await hashOf(a2)).not.toBe(hs);
  });
});
