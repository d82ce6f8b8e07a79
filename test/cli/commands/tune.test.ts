// `parallax tune`: its help names the cache and the options, and a bad --ops fails with the list of tunable ops
// (the tuning itself is covered by test/engine/ops/tuning.test.ts; a real run takes minutes on lavapipe).

import { describe, expect, it } from 'vitest';
import { parallax } from '../../helpers/cli.js';

describe('parallax tune', () => {
  it('documents the cache and its options', async () => {
    const r = await parallax(['tune', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--model', '--width', '--height', '--frames', '--ops', '--force', '--reps', 'tune.json', 'PARALLAX_TUNE_CACHE', 'PARALLAX_KERNEL_']) expect(r.stdout).toContain(s);
  });

  it('refuses an op that cannot be tuned, naming the ones that can', async () => {
    const r = await parallax(['tune', '--ops', 'matmul,conv9d'], { PARALLAX_CACHE_DIR: '/nonexistent/parallax-test' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--ops: 'conv9d' is not a tunable op \(tunable: .*matmul/);
  });
});
