// `parallax serve --profile`: a one-GPU PipelineGenerator with profiling writes each job's per-op table and Chrome
// trace into the job's folder (this job's ops only), and refuses multi-GPU groups with a clear message.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../server/pipeline-generator.js';
import { REQUEST_DEFAULTS } from '../../server/schema.js';

let dir: string;
let gen: PipelineGenerator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-serve-profile-'));
  await makeTinyCheckpoint(join(dir, 'model'), { seed: 5 });
  gen = new PipelineGenerator({ model: join(dir, 'model'), profile: { measurePeaks: async () => ({ gflops: 10, gbps: 5 }) } });
}, 120_000);

afterAll(async () => {
  await gen?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('server job profiles', () => {
  it('writes profile.txt and trace.json into each job folder', async () => {
    const req = { ...REQUEST_DEFAULTS, prompt: 'a kite', frames: 2, width: 32, height: 32, steps: 2, guidance: 3, seed: 5 };
    const hooks = (outDir: string) => ({ jobId: 'profile-test', outDir, signal: new AbortController().signal, onStep: () => undefined, wantsPreview: () => false });
    for (const job of ['job1', 'job2']) {
      const outDir = join(dir, job);
      await gen.generate(req, hooks(outDir));
      const table = await readFile(join(outDir, 'profile.txt'), 'utf8');
      expect(table).toMatch(/^\| linear +\|/m);
      expect(table).toMatch(/measured peak: 10\.0 GFLOP\/s/);
      const trace = JSON.parse(await readFile(join(outDir, 'trace.json'), 'utf8'));
      const steps = trace.traceEvents.filter((e: { cat?: string }) => e.cat === 'step');
      expect(steps.map((e: { name: string }) => e.name)).toEqual(['step 1', 'step 2']); // this job's steps only
    }
  }, 300_000);

  it('refuses to profile a multi-GPU group', () => {
    expect(() => new PipelineGenerator({ model: join(dir, 'model'), devices: [0, 0], profile: {} })).toThrow(/--profile profiles one-GPU groups/);
  });
});
