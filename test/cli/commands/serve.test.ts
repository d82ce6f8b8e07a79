// `parallax serve`: --devices parsing (--allow-shared-gpu), createGenerators (engine per group with a model, the parallel
// layout of multi-GPU groups from --sp / --cfg-parallel checked at start, FakeGenerator without a model), the model it
// serves without --model (resolveServeModel: the default model, else the FakeGenerator), and the command itself started
// as a process (--fake, port 0, a static dir): prints the URL and a #token= link that work; without --model it serves
// $PARALLAX_MODEL and /api/config carries its card.
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createGenerators, describeGroups, parseDevices, resolveServeModel } from '../../../cli/commands/serve.js';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { writeModelCard } from '../../../engine/io/default-model.js';
import { parseModelCard } from '../../../engine/io/model-card.js';
import { PipelineGenerator } from '../../../server/pipeline-generator.js';
import { FakeGenerator } from '../../../server/fake-generator.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

/**
 * Starts `parallax serve` with args plus a fresh --data-dir and a --static dir holding an index.html (both removed,
 * and the server stopped, after the tests); resolves with the printed "Open the app" link and the stdout so far,
 * rejects naming stdout and stderr when no link comes within linkMs or the process exits.
 */
async function startServe(args: string[], linkMs: number, env?: NodeJS.ProcessEnv): Promise<{ link: string; out: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'parallax-serve-cli-'));
  const staticDir = await mkdtemp(join(tmpdir(), 'parallax-serve-static-'));
  await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>app</title>');
  const child: ChildProcess = spawn(process.execPath, [join(repo, 'bin/parallax'), 'serve', ...args, '--data-dir', dataDir, '--static', staticDir], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}) });
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
    const t = setTimeout(() => reject(new Error(`no link printed in ${linkMs / 1000} s; stdout:\n${out}\nstderr:\n${err}`)), linkMs);
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
  return { link, out };
}

describe('parseDevices', () => {
  it('reads groups and rejects bad specs with the expected form', () => {
    expect(parseDevices('0')).toEqual([[0]]);
    expect(parseDevices('0,1')).toEqual([[0], [1]]);
    expect(parseDevices(' 3+1 , 0+2 ')).toEqual([[3, 1], [0, 2]]);
    expect(() => parseDevices('0,a')).toThrow(/"a" is not a GPU index/);
    expect(() => parseDevices('0,0')).toThrow(/GPU 0 is listed twice/);
    expect(() => parseDevices(' , ')).toThrow(/expected GPU indices/);
  });

  it('repeats a GPU inside one group only with --allow-shared-gpu, never across groups', () => {
    expect(() => parseDevices('0+1+0')).toThrow(/GPU 0 is listed twice in group 0\+1\+0; pass --allow-shared-gpu/);
    expect(parseDevices('0+1+0', { allowSharedGpu: true })).toEqual([[0, 1, 0]]);
    expect(parseDevices('0+0,1+1', { allowSharedGpu: true })).toEqual([[0, 0], [1, 1]]);
    expect(() => parseDevices('0+1,1', { allowSharedGpu: true })).toThrow(/GPU 1 is listed twice, in two groups.*only allows repeating a GPU inside one group/);
  });
});

describe('parallel layouts of multi-GPU groups', () => {
  const fake = { fake: true, fakeMsPerStep: 1 };
  it('default to CFG 2 x SP k/2 on an even group, SP k on an odd one; --sp / --cfg-parallel apply to every multi-GPU group', async () => {
    const groups = [[0], [1, 2], [3, 4, 5], [6, 7, 8, 9]];
    const a = await createGenerators({ ...fake, groups });
    expect(a.layouts).toEqual([undefined, { sp: 1, cfg: 2 }, { sp: 3, cfg: 1 }, { sp: 2, cfg: 2 }]);
    expect(describeGroups(groups, a.layouts)).toBe('0, 1+2 (sp1-cfg2), 3+4+5 (sp3-cfg1), 6+7+8+9 (sp2-cfg2)');
    expect((await createGenerators({ ...fake, groups: [[0, 1], [2, 3, 4, 5]], cfgParallel: false })).layouts).toEqual([{ sp: 2, cfg: 1 }, { sp: 4, cfg: 1 }]);
    expect((await createGenerators({ ...fake, groups: [[0, 1, 2, 3]], sp: 4 })).layouts).toEqual([{ sp: 4, cfg: 1 }]);
  });

  it('refuses layouts that cannot work at start, naming the group and what would', async () => {
    await expect(createGenerators({ ...fake, groups: [[0], [1, 2, 3, 4]], sp: 3 })).rejects.toThrow(/group1\[1\+2\+3\+4\]: --sp 3 does not fit 4 GPU\(s\): --sp must be 4 \(or 2 with --cfg-parallel\)/);
    await expect(createGenerators({ ...fake, groups: [[0, 1, 2]], cfgParallel: true })).rejects.toThrow(/group0\[0\+1\+2\]: .*even number of GPUs; got 3/);
    await expect(createGenerators({ ...fake, groups: [[0], [1]], sp: 2 })).rejects.toThrow(/--sp and --cfg-parallel apply to groups of several GPUs.*--devices 0\+1/);
  });

  it('every group loads at start: a bad GPU index in a later group fails the start, naming the group and the index', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-serve-idx-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await makeTinyCheckpoint(dir, { seed: 5, transformer: { num_attention_heads: 4, attention_head_dim: 16, num_layers: 2 } });
    await expect(createGenerators({ model: dir, groups: [[0], [7]], fake: false, fakeMsPerStep: 1 })).rejects.toThrow(/group1\[7\]: .*adapter index 7 does not exist/);
  }, 120_000);

  it('an SP size that does not split the model\'s heads still starts (all-gather of K/V instead of Ulysses)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parallax-serve-heads-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await makeTinyCheckpoint(dir, { seed: 3, transformer: { num_attention_heads: 4, attention_head_dim: 16, num_layers: 2 } });
    const g = await createGenerators({ model: dir, groups: [[0, 0, 0]], sp: 3, fake: false, fakeMsPerStep: 1 });
    try {
      expect(g.layouts).toEqual([{ sp: 3, cfg: 1 }]);
      const eng = g.generators[0] as unknown as { load(): Promise<{ ranks: { backend: { transformer: { model: { attentionExchange: string } } } }[] }> };
      expect((await eng.load()).ranks[0]!.backend.transformer.model.attentionExchange).toBe('kv-allgather');
    } finally {
      await Promise.all(g.generators.map((x) => (x as unknown as { dispose(): Promise<void> }).dispose()));
    }
  }, 120_000);
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
    // two groups on CI's single adapter (parseDevices would refuse a GPU in two groups; createGenerators does not check)
    const b = await createGenerators({ model: dir, groups: [[0], [0]], fake: false, fakeMsPerStep: 1 });
    expect(b.kind).toBe('engine');
    expect(b.generators).toHaveLength(2);
    expect(b.generators.every((g) => g instanceof PipelineGenerator)).toBe(true);
    await Promise.all(b.generators.map((g) => (g as PipelineGenerator).dispose()));
    await expect(createGenerators({ model: join(dir, 'transformer'), groups: [[0]], fake: false, fakeMsPerStep: 1 })).rejects.toThrow(/model_index\.json/);
  }, 300_000);
});

describe('parallax serve', () => {
  it('starts with --fake on port 0, serves the app and the API, prints a ready link', async () => {
    const { link, out } = await startServe(['--fake', '--port', '0', '--token', 'cli-test-token-0123456789', '--devices', '0,1+2+3+4', '--cfg-parallel', '--allowed-hosts', 'studio.lan', '--max-frames', '300', '--log-level', 'silent'], 60_000);
    const url = new URL(link);
    expect(url.hash).toBe('#token=cli-test-token-0123456789');
    expect(url.hostname).toBe('127.0.0.1');
    expect(out).toMatch(/FakeGenerator \(placeholder videos\) on 2 group\(s\): 0, 1\+2\+3\+4 \(sp2-cfg2\)/);
    expect(await (await fetch(new URL('/some/app/route', url))).text()).toContain('<title>app</title>');
    const health = await (await fetch(new URL('/api/health', url))).json();
    expect(health.groups).toBe(2);
    expect((await (await fetch(new URL('/api/config', url))).json()).limits.frames).toEqual({ min: 1, max: 300 }); // --max-frames
    const post = await fetch(new URL('/api/jobs', url), { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer cli-test-token-0123456789' }, body: JSON.stringify({ prompt: 'x', width: 64, height: 64, frames: 1, steps: 1 }) });
    expect(post.status).toBe(201);
    // --allowed-hosts: that name is served, a foreign one is refused (DNS rebinding).
    const withHost = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const r = httpRequest({ host: '127.0.0.1', port: url.port, path: '/api/health', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        r.on('error', reject);
        r.end();
      });
    expect(await withHost(`studio.lan:${url.port}`)).toBe(200);
    expect(await withHost(`attacker.example:${url.port}`)).toBe(403);
  }, 90_000);

  it('exits at start with the layout error for an impossible --sp, and wants --allow-shared-gpu for a repeated GPU', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        const c = spawn(process.execPath, [join(repo, 'bin/parallax'), 'serve', '--fake', '--port', '0', '--log-level', 'silent', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        c.stderr!.on('data', (d) => (err += d));
        c.once('exit', (code) => resolve({ code, err }));
      });
    const [a, b, c] = await Promise.all([run(['--devices', '0+0+0+0', '--allow-shared-gpu', '--sp', '3', '--no-cfg-parallel']), run(['--devices', '0+0']), run(['--max-frames', '0'])]);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/--max-frames 0: expected a positive integer/);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/--sp 3 does not fit 4 GPU\(s\)/);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/GPU 0 is listed twice in group 0\+0; pass --allow-shared-gpu/);
  }, 60_000);
});

describe('the model serve runs without --model', () => {
  // Written by hand, so the expected values do not come from the code under test.
  const card = {
    format: 'parallax-model-card/1', name: 'Test shapes', description: 'A test model.', promptTemplate: 'a {colour} {shape}',
    vocabulary: { colour: ['red'], shape: ['circle'] },
    recommended: { width: 64, height: 64, frames: 4, steps: 3, guidance: 2.5, guidanceMode: 'reference', fps: 6 },
    examples: ['a red circle moving left on a black background'],
  } as const;
  let model = '';
  let bare = '';
  const made = (async () => {
    const root = await mkdtemp(join(tmpdir(), 'parallax-serve-default-'));
    cleanup.push(() => rm(root, { recursive: true, force: true }));
    model = join(root, 'trained');
    bare = join(root, 'bare');
    await makeTinyCheckpoint(model, { preset: 'shapes', transformer: { num_layers: 1 } });
    await writeModelCard(model, parseModelCard(card, 'test'));
    await makeTinyCheckpoint(bare, { transformer: { num_layers: 1 } });
  })();

  it('is the default model ($PARALLAX_MODEL here) with its card; --model and --fake win; none: the FakeGenerator, saying why', async () => {
    await made;
    const d = await resolveServeModel({}, { PARALLAX_MODEL: model });
    expect(d.model).toBe(model);
    expect(d.card).toEqual(card);
    expect(d.describe).toMatch(/^Model: .*trained \(Test shapes: recommended 64x64, 4 frames, 3 steps\) \(the default model, from \$PARALLAX_MODEL; --model DIR serves another, --fake none\)$/);
    const m = await resolveServeModel({ model: bare }, { PARALLAX_MODEL: model });
    expect(m).toMatchObject({ model: bare, card: null });
    expect(m.describe).toMatch(/bare \(--model\)$/);
    expect((await resolveServeModel({ model }, {})).card).toEqual(card);
    const f = await resolveServeModel({ fake: true }, { PARALLAX_MODEL: model });
    expect(f).toEqual({ card: null, describe: 'Model: none (--fake: FakeGenerator, placeholder videos)' });
    const none = await resolveServeModel({}, { PARALLAX_MODEL: 'none' });
    expect(none.model).toBeUndefined();
    expect(none.describe).toMatch(/Model: none, so the FakeGenerator \(placeholder videos\): no --model given and PARALLAX_MODEL=none; `npm run train:tiny` trains it/);
  }, 120_000);

  it('`parallax serve` without --model serves $PARALLAX_MODEL, logs which, and /api/config carries the card and its defaults', async () => {
    await made;
    const { link, out } = await startServe(['--port', '0', '--no-warm', '--token', 'cli-test-token-0123456789', '--log-level', 'silent'], 100_000, { ...process.env, PARALLAX_MODEL: model });
    expect(out).toMatch(/Model: .*trained \(Test shapes: .*\) \(the default model, from \$PARALLAX_MODEL/);
    expect(out).toMatch(/Generator: engine on 1 group\(s\): 0/);
    const cfg = await (await fetch(new URL('/api/config', link))).json();
    expect(cfg.model).toEqual({ url: '/api/model/', name: 'trained', card });
    expect(cfg.defaults).toMatchObject({ width: 64, height: 64, frames: 4, steps: 3, guidance: 2.5, fps: 6 });
    // the engine's limits: the shapes preset makes sides up to 16 patches x 16 pixels
    expect(cfg.limits.width).toEqual({ min: 64, max: 256, multiple_of: 16 });
    // the in-browser preview reads the same checkpoint
    expect((await fetch(new URL('/api/model/model_index.json', link))).status).toBe(200);
  }, 150_000);
});
