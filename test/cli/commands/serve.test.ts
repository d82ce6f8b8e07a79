// `parallax serve`: --devices parsing, createGenerators (engine per group with a model, FakeGenerator without), and the command
// itself started as a process (--fake, port 0, a static dir): prints the URL and a #token= link that work.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenerators, parseDevices } from '../../../cli/commands/serve.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { PipelineGenerator } from '../../../server/pipeline-generator.js';
import { FakeGenerator } from '../../../server/fake-generator.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe('parseDevices', () => {
  it('reads groups and rejects bad specs with the expected form', () => {
    expect(parseDevices('0')).toEqual([[0]]);
    expect(parseDevices('0,1')).toEqual([[0], [1]]);
    expect(parseDevices(' 3+1 , 0+2 ')).toEqual([[3, 1], [0, 2]]);
    expect(() => parseDevices('0,a')).toThrow(/"a" is not a GPU index/);
    expect(() => parseDevices('0,0')).toThrow(/GPU 0 is listed twice/);
    expect(() => parseDevices(' , ')).toThrow(/expected GPU indices/);
  });
});

describe('createGenerators', () => {
  it('gives one FakeGenerator per group without a model, and says why', async () => {
    const a = await createGenerators({ groups: [[0], [1], [2]], fake: false, fakeMsPerStep: 1 });
    expect(a.generators).toHaveLength(3);
    expect(a.generators.every((g) => g instanceof FakeGenerator)).toBe(true);
    expect(a.kind).toBe('fake');
    expect(a.note).toMatch(/no --model/);
  });

  it('gives one engine generator per group with a model, and fails fast on a bad checkpoint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-serve-model-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await makeTinyCheckpoint(dir, { seed: 2 });
    const b = await createGenerators({ model: dir, groups: [[0], [1]], fake: false, fakeMsPerStep: 1 });
    expect(b.kind).toBe('engine');
    expect(b.generators).toHaveLength(2);
    expect(b.generators.every((g) => g instanceof PipelineGenerator)).toBe(true);
    await Promise.all(b.generators.map((g) => (g as PipelineGenerator).dispose()));
    await expect(createGenerators({ model: join(dir, 'transformer'), groups: [[0]], fake: false, fakeMsPerStep: 1 })).rejects.toThrow(/model_index\.json/);
  }, 300_000);
});

describe('parallax serve', () => {
  it('starts with --fake on port 0, serves the app and the API, prints a ready link', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'parallax-serve-cli-'));
    const staticDir = await mkdtemp(join(tmpdir(), 'parallax-serve-static-'));
    await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>app</title>');
    const child: ChildProcess = spawn(process.execPath, [join(repo, 'bin/parallax'), 'serve', '--fake', '--port', '0', '--data-dir', dataDir, '--static', staticDir, '--token', 'cli-test-token-0123456789', '--devices', '0,1', '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanup.push(async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
      await rm(staticDir, { recursive: true, force: true });
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const link = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no link printed in 60 s; stdout:\n${out}\nstderr:\n${err}`)), 60_000);
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /Open the app: (\S+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}; stdout:\n${out}\nstderr:\n${err}`)));
    });
    const url = new URL(link);
    expect(url.hash).toBe('#token=cli-test-token-0123456789');
    expect(url.hostname).toBe('127.0.0.1');
    expect(out).toMatch(/FakeGenerator \(placeholder videos\) on 2 group\(s\): 0, 1/);
    expect(await (await fetch(new URL('/some/app/route', url))).text()).toContain('<title>app</title>');
    const health = await (await fetch(new URL('/api/health', url))).json();
    expect(health.groups).toBe(2);
    const post = await fetch(new URL('/api/jobs', url), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer cli-test-token-0123456789' }, body: JSON.stringify({ prompt: 'x', width: 64, height: 64, frames: 1, steps: 1 }) });
    expect(post.status).toBe(201);
  }, 90_000);
});
