// The bench scripts' command lines (bench/cli.ts, and commander in bench/attention.ts): --help prints the usage and
// exits 0 without a GPU (the Vulkan driver is hidden from the child, so touching the GPU would fail) and without
// touching docs/benchmarks.md; unknown flags and unknown --only names exit non-zero naming them; `bench:gpu --dry-run`
// prints its plan without a GPU. Also the in-memory random weights bench:gpu loads (complete, seeded, scaled).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { validateTransformer } from '../../engine/io/checkpoint.js';
import { transformerKeys } from '../../engine/io/keys.js';
import { RandomWeights, randomTransformer, transformerConfig } from '../../bench/random-weights.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const docs = `${repo}docs/benchmarks.md`;
/** No Vulkan driver for the child: a script that opened a device would exit with an error. */
const noGpuEnv = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json' };

function bench(script: string, args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `bench/${script}.ts`, ...args], { cwd: repo, encoding: 'utf8', env: noGpuEnv, timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const docsState = () => ({ hash: createHash('sha256').update(readFileSync(docs)).digest('hex'), mtime: statSync(docs).mtimeMs });

/** Each script and options its usage must list. */
const SCRIPTS: [string, string[]][] = [
  ['kernels', ['--only', '--no-write', '--no-torch', '--torch-threads']],
  ['model', ['--config', '--only', '--no-write', 'issue9', '--whole-runs']],
  ['parallel', ['--configs', '--only', '--no-write']],
  ['gpu', ['--reduced', '--dry-run', '--budget', '--only', '--no-write']],
  ['attention', ['--only', '--layouts']],
  ['matmul', ['--only', '--shapes']],
  ['conv2d', ['--only', '--quick']],
  ['norms', ['--only', '--frames']],
  ['data', ['--videos', '--seed', '--size', '--no-write']],
  ['train', ['--config', '--only', '--batch', '--options', '--cap', '--probes', '--no-search', '--no-torch', '--no-write', '--parallel', '--parallel-steps', '--no-parallel', 'dp2, zero1, zero2, zero3, sp2']],
  ['train-memory', ['--cases', '--rounds', '--layers', '--frames']],
  ['long', ['--frames', '--ranks', '--only', '--layers', '--block-frames', '--context-frames', '--no-border', '--no-write']],
];

describe('bench scripts --help', () => {
  for (const [script, options] of SCRIPTS) {
    it(`${script}: prints the usage, exits 0, no GPU, docs/benchmarks.md untouched`, () => {
      const before = docsState();
      const r = bench(script, ['--help']);
      expect(r.err).not.toMatch(/adapter|Error/);
      expect(r.status).toBe(0);
      expect(r.out).toMatch(/^usage: /i);
      for (const o of options) expect(r.out).toContain(o);
      expect(r.out).toContain('--help');
      expect(docsState()).toEqual(before);
    });
  }
});

describe('npm run bench:* -- --help', () => {
  it('reaches the script before the setup check (which probes the adapter and may install packages)', () => {
    const before = docsState();
    const r = spawnSync('npm', ['run', '--silent', 'bench:kernels', '--', '--help'], { cwd: repo, encoding: 'utf8', env: noGpuEnv, timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: npm run bench:kernels -- \[options\]/);
    expect(r.stdout + r.stderr).not.toMatch(/\[setup\]/);
    expect(docsState()).toEqual(before);
  });
});

describe('bench scripts reject bad arguments before any GPU work', () => {
  for (const script of ['kernels', 'gpu', 'attention']) {
    it(`${script}: an unknown flag is an error naming it`, () => {
      const r = bench(script, ['--frobnicate']);
      expect(r.status).not.toBe(0);
      expect(r.err).toMatch(/unknown option '--frobnicate'/i);
    });
  }
  it('kernels: an unknown --only op names the choices', () => {
    const r = bench('kernels', ['--only', 'linear,warp', '--no-write']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/--only warp: unknown op; choose from linear, attention/);
  });
  it('model: an unknown config names the choices', () => {
    const r = bench('model', ['--config', 'huge']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/--config huge: unknown config \(choose from tiny, small, 2b, issue9\)/);
  });
  it('train: an unknown config, memory option or parallel row names the choices', () => {
    const r = bench('train', ['--config', 'huge']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/--config huge: unknown config \(choose from small, base, large\)/);
    const o = bench('train', ['--options', 'none,zero9']);
    expect(o.status).toBe(2);
    expect(o.err).toMatch(/--options zero9: unknown memory option \(choose from none/);
    const p = bench('train', ['--parallel', 'dp2,zero4']);
    expect(p.status).toBe(2);
    expect(p.err).toMatch(/--parallel zero4: unknown parallel row \(choose from one1, one2, dp2, zero1, zero2, zero3, sp2\)/);
    const s = bench('train', ['--parallel-steps', '1.5']);
    expect(s.status).toBe(2);
    expect(s.err).toMatch(/--parallel-steps must be an integer >= 0/);
  });
  it('train-memory: a bad case or ratio is named', () => {
    const r = bench('train-memory', ['--cases', 'none,half']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/case 'half' is not none, rR or rR\+oO/);
    const o = bench('train-memory', ['--cases', 'r1+o0.2']);
    expect(o.status).toBe(2);
    expect(o.err).toMatch(/offload 0\.2 needs checkpointed blocks/);
  });
  it('long: an unknown strategy and a length that does not fit the clips are named', () => {
    const r = bench('long', ['--only', 'sp,ring']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/--only ring: unknown strategy; choose from sp, clip/);
    const c = bench('long', ['--frames', '4', '--ranks', '4', '--no-border']);
    expect(c.status).toBe(2);
    expect(c.err).toMatch(/clip parallelism, 4 latent frames on 4 ranks: clip parallelism: clip 0 has 1 latent frames, but each clip needs at least 2/);
    expect(r.err).toMatch(/choose from sp, clip, dualparal/);
    const d = bench('long', ['--only', 'dualparal', '--frames', '10', '--no-border']);
    expect(d.status).toBe(2);
    expect(d.err).toMatch(/DualParal, 10 latent frames on 4 ranks: .*do not fit blocks of B = 4 with C = 4/);
    const l = bench('long', ['--only', 'dualparal', '--layers', '2', '--no-border']);
    expect(l.err).toMatch(/DualParal, 8 latent frames on 4 ranks: 4 ranks need at least 4 transformer blocks \(one per rank\): pass --layers 4/);
  });
  it('a non-numeric value is an error', () => {
    const r = bench('norms', ['--iters', 'many']);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/--iters many: expected a number/);
  });
});

describe('bench:gpu --dry-run', () => {
  it('prints the 2B plan without a GPU and leaves docs alone', () => {
    const before = docsState();
    const r = bench('gpu', ['--dry-run']);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/refuses a CPU adapter/);
    expect(r.out).toMatch(/linear: MLP up D->4D/);
    expect(r.out).toMatch(/D=1536 \(24 heads x 64\), 24 layers, M=192, J=4096, 40 frames of 54x96 latents/);
    expect(docsState()).toEqual(before);
  });
  it('--reduced --only forward plans the small forward and no kernels', () => {
    const r = bench('gpu', ['--dry-run', '--reduced', '--only', 'forward', '--frames', '3']);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/D=128 \(4 heads x 32\), 2 layers.*3 frames of 16x16/);
    expect(r.out).not.toMatch(/kernels/);
  });
});

describe('RandomWeights (bench:gpu in-memory transformer)', () => {
  const cfg = transformerConfig({ heads: 2, headDim: 8, layers: 2, M: 4, jointDim: 12, pooledDim: 6 });
  it('holds every transformer key at its shape, so the checkpoint validator accepts it', () => {
    const dims = validateTransformer(randomTransformer(cfg));
    expect(dims).toMatchObject({ D: 16, numLayers: 2, M: 4, jointAttentionDim: 12, pooledProjectionDim: 6 });
    const w = new RandomWeights(cfg);
    for (const s of transformerKeys(cfg).filter((k) => !k.optional)) expect(w.info(s.key).shape).toEqual(s.shape);
    expect(() => w.info('nope.weight')).toThrow(/no tensor named nope.weight/);
  });
  it('is seeded per key and scaled like make-tiny (uniform, std 1/sqrt(fan-in))', async () => {
    const w = new RandomWeights(cfg, 5);
    const a = await w.readFloat32('transformer_blocks.0.ff.net.0.proj.weight'); // [4D, D]: std 1/sqrt(16)
    expect(await new RandomWeights(cfg, 5).readFloat32('transformer_blocks.0.ff.net.0.proj.weight')).toEqual(a);
    expect(await new RandomWeights(cfg, 6).readFloat32('transformer_blocks.0.ff.net.0.proj.weight')).not.toEqual(a);
    const std = Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
    expect(std).toBeGreaterThan(0.25 * 0.8);
    expect(std).toBeLessThan(0.25 * 1.2);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(0.25 * Math.sqrt(3));
    const bytes = (await w.read('transformer_blocks.0.ff.net.0.proj.weight')).bytes;
    expect(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)).toEqual(a);
  });
});
