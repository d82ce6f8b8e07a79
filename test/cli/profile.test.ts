// `parallax forward --profile`: writes the per-op table and a Chrome trace that parses, with the transformer's ops,
// host spans and shares that add up; --profile refuses the float64 reference backend.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../engine/io/safetensors.js';
import { makeTinyCheckpoint } from '../../engine/io/make-tiny.js';
import { mulberry32 } from '../../engine/mulberry32.js';
import { parallax } from '../helpers/cli.js';

let dir: string;
let ckpt: string;
let inputs: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-profile-'));
  ckpt = join(dir, 'model');
  await makeTinyCheckpoint(ckpt, { seed: 3 });
  const r = mulberry32(9);
  const rnd = (n: number) => Float32Array.from({ length: n }, () => r() - 0.5);
  inputs = join(dir, 'in.safetensors');
  await writeSafetensors(inputs, {
    hidden_states: { dtype: 'F32', shape: [1, 2, 16, 4, 6], data: rnd(2 * 16 * 4 * 6) },
    timestep: { dtype: 'F32', shape: [1], data: Float32Array.of(500) },
    encoder_hidden_states: { dtype: 'F32', shape: [1, 7, 96], data: rnd(7 * 96) },
    pooled_projections: { dtype: 'F32', shape: [1, 80], data: rnd(80) },
  });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parallax forward --profile', () => {
  it('writes a per-op table and a Chrome trace', async () => {
    const out = join(dir, 'fwd.safetensors');
    const f = await parallax(['forward', '--model', ckpt, '--inputs', inputs, '--out', out, '--profile']);
    expect(f.code, f.stderr).toBe(0);
    const table = await readFile(join(dir, 'fwd.profile.txt'), 'utf8');
    expect(f.stderr).toContain(table.trim().split('\n')[0]!);
    for (const op of ['linear', 'attention', 'layernorm']) expect(table).toMatch(new RegExp(`^\\| ${op} +\\|`, 'm'));
    expect(table).toMatch(/measured peak: [\d.]+ GFLOP\/s/);
    const shares = [...table.matchAll(/^\| (?!op |total)\S+ +\| +\d+ \| +[\d.]+ \| +([\d.]+)% \|/gm)].map((m) => Number(m[1]));
    expect(shares.length).toBeGreaterThan(3);
    expect(shares.reduce((a, b) => a + b, 0)).toBeGreaterThan(99);
    expect(shares.reduce((a, b) => a + b, 0)).toBeLessThan(101);
    const trace = JSON.parse(await readFile(join(dir, 'fwd.trace.json'), 'utf8'));
    const x = trace.traceEvents.filter((e: { ph: string }) => e.ph === 'X');
    expect(x.some((e: { pid: number; name: string }) => e.pid === 2 && e.name === 'attention')).toBe(true);
    expect(x.some((e: { pid: number; name: string }) => e.pid === 1 && e.name === 'forward')).toBe(true);
    for (const e of x) expect(e.dur).toBeGreaterThanOrEqual(0);
  });

  it('refuses the reference backend with a clear message', async () => {
    const f = await parallax(['forward', '--model', ckpt, '--inputs', inputs, '--out', join(dir, 'r.safetensors'), '--backend', 'reference', '--profile']);
    expect(f.code).not.toBe(0);
    expect(f.stderr).toMatch(/--profile .*--backend gpu/);
  });
});
