// GET/HEAD /api/model/<path>: the checkpoint folder exposed read-only with Range support, read back through
// the engine's HttpFileStore as the browser will; hidden files, traversal and symlink escapes are 404. The model's
// card in /api/config, whose recommended settings become the request defaults.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFileStore } from '../../engine/io/file-store.js';
import { parseModelCard } from '../../engine/io/model-card.js';
import { startTestServer, type TestServer } from './helpers.js';

let modelDir: string;
let outside: string;
let ts: TestServer;
let noModel: TestServer;
const bytes = new Uint8Array(100_003);

beforeAll(async () => {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (Math.imul(i, 2654435761) >>> 13) & 255;
  modelDir = await mkdtemp(join(tmpdir(), 'parallax-model-'));
  outside = await mkdtemp(join(tmpdir(), 'parallax-outside-'));
  await mkdir(join(modelDir, 'transformer'));
  await writeFile(join(modelDir, 'transformer', 'diffusion_pytorch_model.safetensors'), bytes);
  await writeFile(join(modelDir, 'model_index.json'), '{"_class_name":"VchitectXLPipeline"}');
  await writeFile(join(modelDir, '.secret'), 'hidden');
  await writeFile(join(outside, 'passwd'), 'nope');
  await symlink(join(outside, 'passwd'), join(modelDir, 'escape.json'));
  ts = await startTestServer({ modelDir });
  noModel = await startTestServer();
});

afterAll(async () => {
  await ts?.close();
  await noModel?.close();
  await rm(modelDir, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('/api/model/', () => {
  it('is announced in /api/config', async () => {
    const cfg = await (await ts.api('/api/config')).json();
    expect(cfg.model).toEqual({ url: '/api/model/', name: modelDir.split('/').at(-1), card: null });
    expect((await (await noModel.api('/api/config')).json()).model).toBeNull();
  });

  it('serves whole files and byte ranges that HttpFileStore reads', async () => {
    const store = new HttpFileStore(`${ts.server.url}/api/model/`);
    expect(JSON.parse(await store.readText('model_index.json'))._class_name).toBe('VchitectXLPipeline');
    expect(await store.exists('transformer/diffusion_pytorch_model.safetensors')).toBe(true);
    expect(await store.exists('transformer/missing.safetensors')).toBe(false);
    const src = await store.open('transformer/diffusion_pytorch_model.safetensors');
    expect(await src.size()).toBe(bytes.length);
    for (const [off, len] of [[0, 8], [77_777, 1234], [bytes.length - 5, 5]] as const) {
      expect([...(await src.read(off, len))]).toEqual([...bytes.subarray(off, off + len)]);
    }
    const r = await ts.api('/api/model/transformer/diffusion_pytorch_model.safetensors', { headers: { Range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 10-19/${bytes.length}`);
  });

  it('refuses hidden files, traversal, symlink escapes, folders and writes', async () => {
    for (const p of ['.secret', '%2e%2e/%2e%2e/etc/passwd', 'transformer%2f..%2f.secret', 'escape.json', 'transformer', '']) {
      const r = await ts.api(`/api/model/${p}`);
      expect(r.status, p).toBe(404);
      expect((await r.json()).code).toBe('not_found');
    }
    expect((await ts.api('/api/model/model_index.json', { method: 'POST' })).status).toBe(405);
    expect((await noModel.api('/api/model/model_index.json')).status).toBe(404);
  });
});

describe('the model card in /api/config', () => {
  // A card written by hand (not by shapesModelCard), so the expected values do not come from the code under test.
  const card = {
    format: 'parallax-model-card/1', name: 'Test shapes', description: 'a test card', promptTemplate: 'a {colour} {shape}',
    vocabulary: { colour: ['red', 'blue'], shape: ['circle'] },
    recommended: { width: 96, height: 64, frames: 6, steps: 12, guidance: 3.5, guidanceMode: 'constant', fps: 10 },
    examples: ['a red circle', 'a blue circle'],
  } as const;
  let withCard: TestServer;
  beforeAll(async () => {
    withCard = await startTestServer({ modelDir, modelCard: parseModelCard(card, 'test') });
  });
  afterAll(async () => {
    await withCard?.close();
  });

  it('carries the card, and its recommended settings are the defaults of the form and of omitted fields', async () => {
    const cfg = await (await withCard.api('/api/config')).json();
    expect(cfg.model).toEqual({ url: '/api/model/', name: modelDir.split('/').at(-1), card });
    expect(cfg.defaults).toEqual({ negative_prompt: '', width: 96, height: 64, frames: 6, steps: 12, guidance: 3.5, guidance_mode: 'constant', fps: 10 });
    const job = await withCard.submit({ prompt: 'a red circle', seed: 1 });
    expect(job.status).toBe(201);
    expect(job.body.request).toEqual({ prompt: 'a red circle', negative_prompt: '', width: 96, height: 64, frames: 6, steps: 12, guidance: 3.5, guidance_mode: 'constant', fps: 10, seed: 1 });
    // without a card: the spec's defaults, as before
    expect((await (await ts.api('/api/config')).json()).defaults).toMatchObject({ width: 768, height: 432, frames: 40, steps: 100, guidance: 7.5 });
  });
});

describe('/api/model/ on a Hugging Face cache snapshot', () => {
  // hub/models--Vchitect--Tiny/{blobs/<hash>, refs/main, snapshots/<rev>/...}: every snapshot file is a relative
  // link into ../../blobs, as huggingface_hub downloads it.
  let hub: string;
  let snap: TestServer;
  beforeAll(async () => {
    hub = await mkdtemp(join(tmpdir(), 'parallax-hub-'));
    const repo = join(hub, 'models--Vchitect--Tiny');
    const rev = join(repo, 'snapshots', '0123abcd');
    await mkdir(join(repo, 'blobs'), { recursive: true });
    await mkdir(join(repo, 'refs'));
    await mkdir(join(rev, 'transformer'), { recursive: true });
    await writeFile(join(repo, 'blobs', 'aaa'), '{"_class_name":"VchitectXLPipeline"}');
    await writeFile(join(repo, 'blobs', 'bbb'), bytes);
    await writeFile(join(repo, 'refs', 'main'), '0123abcd');
    await writeFile(join(hub, 'outside.txt'), 'outside the repository');
    await symlink('../../blobs/aaa', join(rev, 'model_index.json'));
    await symlink('../../../blobs/bbb', join(rev, 'transformer', 'diffusion_pytorch_model.safetensors'));
    await symlink('../../refs/main', join(rev, 'refs.json'));
    await symlink('../../../outside.txt', join(rev, 'outside.json'));
    await symlink(join(outside, 'passwd'), join(rev, 'passwd.json'));
    snap = await startTestServer({ modelDir: rev });
  });
  afterAll(async () => {
    await snap?.close();
    await rm(hub, { recursive: true, force: true });
  });

  it('serves files linked into the repository blobs, with ranges', async () => {
    const store = new HttpFileStore(`${snap.server.url}/api/model/`);
    expect(JSON.parse(await store.readText('model_index.json'))._class_name).toBe('VchitectXLPipeline');
    const src = await store.open('transformer/diffusion_pytorch_model.safetensors');
    expect(await src.size()).toBe(bytes.length);
    expect([...(await src.read(5000, 300))]).toEqual([...bytes.subarray(5000, 5300)]);
  });

  it('still refuses links to anything but the blobs', async () => {
    for (const p of ['refs.json', 'outside.json', 'passwd.json', '..%2f..%2fblobs%2faaa']) {
      expect((await snap.api(`/api/model/${p}`)).status, p).toBe(404);
    }
  });
});
