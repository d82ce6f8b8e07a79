// The kernel autotuner: the tuning cache's file round-trip, invalidation when the kernel source or the adapter
// changes, precedence (PARALLAX_KERNEL_MATMUL over the cache), tuned settings reaching the kernel (results still
// match the float64 reference), row-count-free class keys keeping row-split runs bit-identical, problem recording,
// and a deterministic tuning run that must pick the faster of two artificial variants.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { linear } from '../../../engine/ops/linear.js';
import { linearRef } from '../../../engine/ops/linear.ref.js';
import { chooseMatmulVariant, matmulClassKey, MATMUL_OP } from '../../../engine/ops/matmul.js';
import { linearTuneProblem } from '../../../engine/ops/matmul-tune.js';
import { registerVariant } from '../../../engine/ops/registry.js';
import { clearTuneTable, fileTuneStore, loadTuneCache, saveTuneCache } from '../../../engine/ops/tune-store.js';
import {
  adapterKey, candidatesFor, kernelSourceHash, recordProblems, recordTuned, registerOpTuner, setTuneTable, tunedChoice,
  tuneProblems, TUNE_FORMAT, type TuneEntry,
} from '../../../engine/ops/tuning.js';
import { Tensor } from '../../../engine/tensor.js';
import { expectClose, tol } from '../../helpers/compare.js';
import { testDevice, upload } from '../../helpers/gpu.js';
import { normal } from '../../helpers/random.js';

const device = await testDevice();
const kernelOf = (v: string) => ({ matmul_naive: 'matmul_naive', matmul_tiled: 'matmul_tiled', matmul_regs: 'matmul_regs', matmul_tiled_km: 'matmul_tiled_km', matmul_gemv: 'matmul_gemv' })[v];
/** The class of an f32 linear [M, 64] x [36, 64]^T + b, no activation, for M > 4. */
const CLASS = matmulClassKey({ M: 100, N: 36, K: 64, batch: 1, bNK: true }, 'f32.f32.f32', 'none+b');
const entry = (variant: string, settings: TuneEntry['settings'] = {}): TuneEntry => ({ variant, settings, sourceHash: kernelSourceHash(kernelOf(variant)!), ms: 1 });

afterEach(() => {
  clearTuneTable();
  delete process.env.PARALLAX_KERNEL_MATMUL;
});

async function linearCase(M: number, opts: { variant?: string } = {}) {
  const x = upload(device, normal(M * 64, 7), [M, 64], 'f32');
  const w = upload(device, normal(36 * 64, 8, 1 / 8), [36, 64], 'f32');
  const b = upload(device, normal(36, 9), [36], 'f32');
  const out = Tensor.empty(device, [M, 36]).poison();
  linear(x.t, w.t, b.t, { out, ...opts });
  const got = await out.read();
  const want = linearRef({ x: x.stored, w: w.stored, bias: b.stored, M, K: 64, N: 36, epilogue: 'none' });
  for (const t of [x.t, w.t, b.t, out]) t.dispose();
  return { got, want };
}

describe('tuning cache', () => {
  it('round-trips through the cache file and merges with entries written meanwhile', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-tune-'));
    try {
      recordTuned(device, MATMUL_OP, CLASS, entry('matmul_regs', { TM: 2, VN: 1 }));
      const store = await fileTuneStore(dir);
      // Another process saved an entry for another class first: both must survive.
      await writeFile(store.where, JSON.stringify({ format: TUNE_FORMAT, adapters: { [adapterKey(device)]: { 'matmul|other': entry('matmul_tiled') } } }));
      await saveTuneCache(store);
      clearTuneTable();
      expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
      const { entries } = await loadTuneCache(dir);
      expect(entries).toBe(2);
      expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toMatchObject({ variant: 'matmul_regs', settings: { TM: 2, VN: 1 } });
      expect(tunedChoice(device, MATMUL_OP, 'other', kernelOf)?.variant).toBe('matmul_tiled');
      // A corrupt file loads as nothing rather than failing the command.
      await writeFile(store.where, '{ not json');
      clearTuneTable();
      expect((await loadTuneCache(dir)).entries).toBe(0);
      expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('ignores entries whose kernel source changed, of another adapter, or of an unknown variant', () => {
    recordTuned(device, MATMUL_OP, CLASS, { ...entry('matmul_regs'), sourceHash: 'deadbeef' });
    expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
    expect(chooseMatmulVariant(device, { M: 100, N: 36, K: 64, batch: 1, bNK: true }, undefined, CLASS).source).toBe('default');
    setTuneTable({ format: TUNE_FORMAT, adapters: { 'some other adapter / driver': { [`matmul|${CLASS}`]: entry('matmul_naive') } } });
    expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
    recordTuned(device, MATMUL_OP, CLASS, { ...entry('matmul_naive'), variant: 'matmul_gone' });
    expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
    setTuneTable({ format: TUNE_FORMAT + 1, adapters: { [adapterKey(device)]: { [`matmul|${CLASS}`]: entry('matmul_naive') } } } as never);
    expect(tunedChoice(device, MATMUL_OP, CLASS, kernelOf)).toBeUndefined();
  });

  it('uses the tuned variant and settings, and PARALLAX_KERNEL_MATMUL beats the cache', async () => {
    recordTuned(device, MATMUL_OP, CLASS, entry('matmul_regs', { TM: 2, VN: 2, FMA: false }));
    const c = chooseMatmulVariant(device, { M: 100, N: 36, K: 64, batch: 1, bNK: true }, undefined, CLASS);
    expect([c.source, c.variant.name, c.defines.TM, c.defines.VN, c.defines.FMA]).toEqual(['tuned', 'matmul_regs', 2, 2, false]);
    const before = device.counters.pipelinesCompiled;
    const r = await linearCase(100);
    expectClose(r.got, r.want, tol('f32', 2), 'tuned linear');
    process.env.PARALLAX_KERNEL_MATMUL = 'matmul_tiled';
    expect(chooseMatmulVariant(device, { M: 100, N: 36, K: 64, batch: 1, bNK: true }, undefined, CLASS)).toMatchObject({ source: 'forced', variant: { name: 'matmul_tiled' } });
    expect(device.counters.pipelinesCompiled).toBeGreaterThan(before);
  });

  it('keys classes without the row count, so rows run in pieces give the bits of one run (parallel layouts)', async () => {
    for (const M of [5, 64, 65, 6480]) expect(matmulClassKey({ M, N: 36, K: 64, batch: 1, bNK: true }, 'f32.f32.f32', 'none+b')).toBe(CLASS);
    expect(matmulClassKey({ M: 4, N: 36, K: 64, batch: 1, bNK: true }, 'f32.f32.f32', 'none+b')).not.toBe(CLASS);
    // A tuned non-default choice: the whole 96 rows at once and each half alone must agree bit for bit.
    recordTuned(device, MATMUL_OP, CLASS, entry('matmul_regs', { TM: 8, VN: 2, FMA: true }));
    const whole = await linearCase(96);
    expectClose(whole.got, whole.want, tol('f32', 2), 'tuned regs TM=8 VN=2');
    const x = upload(device, normal(96 * 64, 7), [96, 64], 'f32');
    const w = upload(device, normal(36 * 64, 8, 1 / 8), [36, 64], 'f32');
    const b = upload(device, normal(36, 9), [36], 'f32');
    for (const split of [[0, 48, 96], [0, 31, 96], [0, 5, 70, 96]]) {
      const parts: number[] = [];
      for (let i = 0; i + 1 < split.length; i++) {
        const [r0, r1] = [split[i]!, split[i + 1]!];
        const xs = Tensor.from(device, Float32Array.from(x.stored.subarray(r0 * 64, r1 * 64)), [r1 - r0, 64]);
        const o = linear(xs, w.t, b.t);
        parts.push(...(await o.read()));
        xs.dispose();
        o.dispose();
      }
      expect(Float32Array.from(parts), `rows split at ${split.join(', ')}`).toEqual(Float32Array.from(whole.got));
    }
    for (const t of [x.t, w.t, b.t]) t.dispose();
  });
});

describe('tuner', () => {
  it('records the classes a run hits, once each', async () => {
    const probs = await recordProblems(async () => {
      await linearCase(100);
      await linearCase(20);
      await linearCase(1);
    });
    expect(probs.map((p) => p.classKey)).toEqual([CLASS, matmulClassKey({ M: 1, N: 36, K: 64, batch: 1, bNK: true }, 'f32.f32.f32', 'none+b')]);
    expect(probs[0]!.problem).toMatchObject({ shape: { M: 100, N: 36, K: 64 }, bias: true, epilogue: 'none' });
  });

  it('picks the faster of two artificial variants (one does 40x the work) and the op then uses it', async () => {
    for (const name of ['tt_slow', 'tt_fast']) registerVariant({ op: 'tune_test', name, spec: { kernel: 'matmul_naive' }, tune: { params: { R: [1] } } });
    const x = Tensor.zeros(device, [256, 128]);
    const w = Tensor.zeros(device, [128, 128]);
    registerOpTuner({
      op: 'tune_test',
      kernelOf: () => 'matmul_naive',
      describe: () => '256x128x128',
      bench: (_d, _p, c) => ({
        run: () => {
          for (let i = 0; i < (c.variant === 'tt_slow' ? 40 : 1); i++) linear(x, w, undefined, { variant: 'matmul_naive' }).dispose();
        },
        dispose: () => {},
      }),
    });
    expect(candidatesFor('tune_test', device).map((c) => c.variant)).toEqual(['tt_slow', 'tt_fast']);
    const rows = await tuneProblems(device, [{ op: 'tune_test', classKey: 'c', problem: {} }], { reps: 3 });
    expect(rows[0]!.winner.variant).toBe('tt_fast');
    expect(tunedChoice(device, 'tune_test', 'c', () => 'matmul_naive')?.variant).toBe('tt_fast');
    // A second run finds the class cached and does not re-time it.
    const again = await tuneProblems(device, [{ op: 'tune_test', classKey: 'c', problem: {} }]);
    expect(again[0]!.cached).toBe(true);
    x.dispose();
    w.dispose();
  });

  it('tunes a real matmul class over some candidates; the op then runs the winner correctly', async () => {
    const p = linearTuneProblem(100, 64, 36, 'f32');
    expect(p.classKey).toBe(CLASS);
    const keep = new Set(['matmul_tiled', 'matmul_regs', 'matmul_naive']);
    const rows = await tuneProblems(device, [p], { reps: 1, filter: (c) => keep.has(c.variant) && (c.variant !== 'matmul_regs' || c.settings.WGX === 8 && c.settings.FMA === true && c.settings.VN === 1) });
    expect(keep.has(rows[0]!.winner.variant)).toBe(true);
    expect(chooseMatmulVariant(device, { M: 7, N: 36, K: 64, batch: 1, bNK: true }, undefined, CLASS)).toMatchObject({ source: 'tuned', variant: { name: rows[0]!.winner.variant } });
    const r = await linearCase(100);
    expectClose(r.got, r.want, tol('f32', 2), `tuned ${rows[0]!.winner.variant}`);
  });
});
