// Tiny diffusers checkpoints: make-tiny -> open -> validate for every sub-model, dtypes and sharding,
// HTTP range access, and validation errors for missing/unexpected/wrong-shape keys and config mismatches.
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoint, sincosPosEmbed } from '../../../engine/io/make-tiny.js';
import {
  openCheckpoint, validateCheckpoint, validateClip, validateT5, validateTransformer, validateVae,
} from '../../../engine/io/checkpoint.js';
import { openSafetensors, writeSafetensors, type WriteTensor } from '../../../engine/io/safetensors.js';
import { HttpFileStore } from '../../../engine/io/file-store.js';
import { ShardedWeights } from '../../../engine/io/sharded.js';
import { NodeFileStore } from '../../../engine/io/node-files.js';
import { transformerKeys } from '../../../engine/io/keys.js';

let root = '';
let n = 0;
const fresh = async (opts?: Parameters<typeof makeTinyCheckpoint>[1]) => makeTinyCheckpoint(join(root, `c${n++}`), opts);
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'ckpt-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

/** Rewrite one safetensors file through `edit` (tensors as name -> WriteTensor with raw bytes). */
async function rewrite(path: string, edit: (m: Map<string, WriteTensor>) => void): Promise<void> {
  const r = await openSafetensors(path);
  const m = new Map<string, WriteTensor>();
  for (const k of r.keys()) {
    const t = await r.read(k);
    m.set(k, { dtype: t.dtype, shape: t.shape, data: t.bytes });
  }
  await r.close();
  edit(m);
  await writeSafetensors(path, m);
}

async function editJson(path: string, edit: (o: Record<string, unknown>) => void): Promise<void> {
  const o = JSON.parse(await readFile(path, 'utf8'));
  edit(o);
  await writeFile(path, JSON.stringify(o));
}

describe('make-tiny', () => {
  it('writes a complete folder that validates, with derived sizes matching the configs', async () => {
    const tiny = await fresh();
    const ck = await openCheckpoint(tiny.dir);
    const dims = validateCheckpoint(ck);
    const D = tiny.transformer.num_attention_heads * tiny.transformer.attention_head_dim;
    expect(dims.transformer).toMatchObject({ D, numLayers: tiny.transformer.num_layers, M: tiny.transformer.pos_embed_max_size });
    expect(D / tiny.transformer.num_attention_heads === 16 || D / tiny.transformer.num_attention_heads === 32).toBe(true);
    // context and pooled widths follow the text encoders (spec section 3)
    expect(tiny.transformer.joint_attention_dim).toBe(Math.max(tiny.textEncoder.hidden_size + tiny.textEncoder2.hidden_size, tiny.textEncoder3.d_model));
    expect(tiny.transformer.pooled_projection_dim).toBe(tiny.textEncoder.projection_dim + tiny.textEncoder2.projection_dim);
    for (const c of tiny.vae.block_out_channels) expect(c % tiny.vae.norm_num_groups).toBe(0);
    expect(ck.scheduler.shift).toBe(3);
    expect(ck.tokenizerDirs).toEqual({ tokenizer: 'tokenizer', tokenizer_2: 'tokenizer_2', tokenizer_3: 'tokenizer_3' });
    // every key of the key list is stored with its shape
    for (const s of transformerKeys(tiny.transformer)) expect(ck.transformer.weights.info(s.key).shape).toEqual(s.shape);
    // stored sin-cos table matches float64 math (column in the first half, row in the second)
    const M = tiny.transformer.pos_embed_max_size;
    const table = await ck.transformer.weights.readFloat32('pos_embed.pos_embed');
    const base = tiny.transformer.sample_size / tiny.transformer.patch_size;
    for (const [r, c, j] of [[0, 0, 0], [3, 7, 1], [M - 1, 2, D / 4 - 1], [5, M - 1, 2]]) {
      const w = 10000 ** (-j / (D / 4));
      const o = (r * M + c) * D;
      expect(table[o + j]).toBeCloseTo(Math.sin((c * base) / M * w), 6);
      expect(table[o + D / 4 + j]).toBeCloseTo(Math.cos((c * base) / M * w), 6);
      expect(table[o + D / 2 + j]).toBeCloseTo(Math.sin((r * base) / M * w), 6);
      expect(table[o + (3 * D) / 4 + j]).toBeCloseTo(Math.cos((r * base) / M * w), 6);
    }
    expect(sincosPosEmbed(D, M, tiny.transformer.sample_size, 2).length).toBe(M * M * D);
    // weights are O(1)-scaled: a Linear's rows have variance ~ 1/fan_in
    const w = await ck.transformer.weights.readFloat32('transformer_blocks.1.ff.net.0.proj.weight');
    const varW = w.reduce((a, v) => a + v * v, 0) / w.length;
    expect(varW * D).toBeGreaterThan(0.8);
    expect(varW * D).toBeLessThan(1.2);
    await ck.close();
  });

  it('is deterministic for a seed and writes f16/bf16 weights close to the f32 ones, sharded or not', async () => {
    const a = await fresh({ seed: 7 });
    const b = await fresh({ seed: 7, dtype: 'BF16', transformerShards: 3 });
    const c = await fresh({ seed: 7, dtype: 'F16' });
    const d = await fresh({ seed: 8 });
    const [ca, cb, cc, cd] = await Promise.all([a, b, c, d].map((t) => openCheckpoint(t.dir)));
    for (const ck of [cb, cc]) validateCheckpoint(ck);
    expect(cb.transformer.weights).toBeInstanceOf(ShardedWeights);
    expect((cb.transformer.weights as ShardedWeights).shardFiles.length).toBe(3);
    const again = await fresh({ seed: 7 });
    const same = (await readFile(join(a.dir, 'vae/diffusion_pytorch_model.safetensors')))
      .equals(await readFile(join(again.dir, 'vae/diffusion_pytorch_model.safetensors')));
    expect(same).toBe(true);
    for (const key of ['transformer_blocks.2.attn.to_v.weight', 'context_embedder.weight', 'proj_out.bias']) {
      const x = await ca.transformer.weights.readFloat32(key);
      const xb = await cb.transformer.weights.readFloat32(key);
      const xh = await cc.transformer.weights.readFloat32(key);
      const xd = await cd.transformer.weights.readFloat32(key);
      expect(cb.transformer.weights.info(key).dtype).toBe('BF16');
      let bad = 0;
      for (let i = 0; i < x.length; i++) {
        if (!(Math.abs(xb[i] - x[i]) <= Math.abs(x[i]) * 2 ** -8)) bad++;
        if (!(Math.abs(xh[i] - x[i]) <= Math.max(Math.abs(x[i]) * 2 ** -11, 2 ** -25))) bad++;
      }
      expect(bad).toBe(0);
      expect(xd).not.toEqual(x);
    }
    await Promise.all([ca, cb, cc, cd].map((k) => k.close()));
  });

  it('is readable over HTTP range requests (browser path)', async () => {
    const tiny = await fresh({ transformerShards: 2 });
    let server: Server | null = null;
    let ranged = 0;
    try {
      server = createServer(async (req, res) => {
        try {
          const p = join(tiny.dir, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
          const size = (await stat(p)).size;
          if (req.method === 'HEAD') { res.writeHead(200, { 'Content-Length': size }); res.end(); return; }
          const body = await readFile(p);
          const m = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '');
          if (m) {
            ranged++;
            res.writeHead(206, { 'Content-Length': Number(m[2]) - Number(m[1]) + 1 });
            res.end(body.subarray(Number(m[1]), Number(m[2]) + 1));
          } else { res.writeHead(200, { 'Content-Length': size }); res.end(body); }
        } catch { res.writeHead(404); res.end(); }
      });
      await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
      const port = (server.address() as { port: number }).port;
      const ck = await openCheckpoint(new HttpFileStore(`http://127.0.0.1:${port}`));
      validateCheckpoint(ck);
      const local = await openCheckpoint(new NodeFileStore(tiny.dir));
      for (const key of ['transformer_blocks.0.norm1.linear.weight', 'proj_out.weight']) {
        expect(await ck.transformer.weights.readFloat32(key)).toEqual(await local.transformer.weights.readFloat32(key));
      }
      expect(ranged).toBeGreaterThan(0);
      await ck.close();
      await local.close();
    } finally {
      await new Promise((ok) => server?.close(ok));
    }
  });
});

describe('validation errors', () => {
  it('wrong shape names file, key, got, expected and where D came from', async () => {
    const t = await fresh();
    await rewrite(join(t.dir, 'transformer/diffusion_pytorch_model.safetensors'), (m) => {
      m.set('transformer_blocks.1.attn.to_q.weight', { dtype: 'F32', shape: [64, 32], data: new Float32Array(64 * 32) });
    });
    const ck = await openCheckpoint(t.dir);
    expect(() => validateTransformer(ck)).toThrow(
      'transformer/diffusion_pytorch_model.safetensors: key transformer_blocks.1.attn.to_q.weight has shape [64,32], expected [64,64] (D=64 from pos_embed.proj.weight)');
    await ck.close();
  });

  it('missing and unexpected keys', async () => {
    const t = await fresh();
    await rewrite(join(t.dir, 'text_encoder/model.safetensors'), (m) => {
      m.delete('text_model.encoder.layers.1.mlp.fc2.bias');
      m.set('text_model.extra.weight', { dtype: 'F32', shape: [2], data: new Float32Array(2) });
    });
    await rewrite(join(t.dir, 'text_encoder_3/model.safetensors'), (m) => {
      m.delete('encoder.block.1.layer.1.DenseReluDense.wi_1.weight');
      m.set('encoder.embed_tokens.weight', m.get('shared.weight')!); // tied copy under the other name is fine
    });
    const ck = await openCheckpoint(t.dir);
    expect(() => validateClip(ck)).toThrow(/text_encoder\/model.safetensors: missing key text_model.encoder.layers.1.mlp.fc2.bias \(expected shape \[32\]\)/);
    expect(() => validateClip(ck)).toThrow(/text_encoder\/model.safetensors: unexpected key text_model.extra.weight/);
    expect(() => validateClip(ck, 'text_encoder_2')).not.toThrow();
    expect(() => validateT5(ck)).toThrow(/missing key encoder.block.1.layer.1.DenseReluDense.wi_1.weight/);
    expect(() => validateCheckpoint(ck)).toThrow(/3 checkpoint problems/);
    expect(() => validateCheckpoint(ck, { allowUnexpected: true })).toThrow(/2 checkpoint problems/);
    await ck.close();
  });

  it('T5 embedding under either tied name, but not neither', async () => {
    const t = await fresh();
    const p = join(t.dir, 'text_encoder_3/model.safetensors');
    await rewrite(p, (m) => { m.set('encoder.embed_tokens.weight', m.get('shared.weight')!); m.delete('shared.weight'); });
    let ck = await openCheckpoint(t.dir);
    expect(validateT5(ck).d_model).toBe(t.textEncoder3.d_model);
    await ck.close();
    await rewrite(p, (m) => { m.delete('encoder.embed_tokens.weight'); });
    ck = await openCheckpoint(t.dir);
    expect(() => validateT5(ck)).toThrow(/missing token embedding: neither shared.weight nor encoder.embed_tokens.weight/);
    await ck.close();
  });

  it('config.json disagreeing with the weights', async () => {
    const t = await fresh();
    await editJson(join(t.dir, 'transformer/config.json'), (o) => { o.num_layers = 5; o.num_attention_heads = 8; });
    await editJson(join(t.dir, 'vae/config.json'), (o) => { o.block_out_channels = [16, 32, 32, 32]; });
    await editJson(join(t.dir, 'text_encoder_3/config.json'), (o) => { o.num_heads = 2; });
    const ck = await openCheckpoint(t.dir);
    expect(() => validateTransformer(ck)).toThrow(/transformer\/config.json: num_layers is 5 but the weights say 3 \(from count of transformer_blocks/);
    expect(() => validateTransformer(ck)).toThrow(/num_attention_heads\*attention_head_dim is 128 but the weights say 64 \(from pos_embed.proj.weight\)/);
    expect(() => validateVae(ck)).toThrow(/vae\/config.json: block_out_channels is \[16,32,32,32\] but the weights say \[16,16,32,32\]/);
    expect(() => validateT5(ck)).toThrow(/text_encoder_3\/config.json: num_heads is 2 but the weights say 4/);
    await ck.close();
  });

  it('cross-model size mismatch and sharded index inconsistencies', async () => {
    const t = await fresh({ transformerShards: 2 });
    await editJson(join(t.dir, 'text_encoder_2/config.json'), (o) => { o.projection_dim = 40; });
    await rewrite(join(t.dir, 'text_encoder_2/model.safetensors'), (m) => {
      m.set('text_projection.weight', { dtype: 'F32', shape: [40, 48], data: new Float32Array(40 * 48) });
    });
    const ck = await openCheckpoint(t.dir);
    expect(() => validateCheckpoint(ck)).toThrow(/pooled_projection_dim 80 != text_encoder projection_dim 32 \+ text_encoder_2 projection_dim 40/);
    await ck.close();
    const idx = join(t.dir, 'transformer/diffusion_pytorch_model.safetensors.index.json');
    await editJson(idx, (o) => { (o.weight_map as Record<string, string>)['proj_out.weight'] = 'diffusion_pytorch_model-00001-of-00002.safetensors'; });
    await expect(openCheckpoint(t.dir)).rejects.toThrow(/weight_map says proj_out.weight is in transformer\/diffusion_pytorch_model-00001-of-00002.safetensors, but that shard has no such tensor/);
    await editJson(idx, (o) => { delete (o.weight_map as Record<string, string>)['proj_out.weight']; });
    await expect(openCheckpoint(t.dir)).rejects.toThrow(/holds tensor proj_out.weight which weight_map does not list/);
  });

  it('missing files and folders', async () => {
    await expect(openCheckpoint(join(root, 'nope'))).rejects.toThrow(/model_index.json not found/);
    const t = await fresh();
    await rm(join(t.dir, 'vae/diffusion_pytorch_model.safetensors'));
    await expect(openCheckpoint(t.dir)).rejects.toThrow(/vae\/: no weights found/);
  });
});

describe('sharded lookup', () => {
  it('finds every key across shards with the right data', async () => {
    const single = await fresh({ seed: 3 });
    const sharded = await fresh({ seed: 3, transformerShards: 4 });
    const store = new NodeFileStore(sharded.dir);
    const w = await ShardedWeights.open(store, 'transformer/diffusion_pytorch_model.safetensors.index.json');
    const ref = await openSafetensors(join(single.dir, 'transformer/diffusion_pytorch_model.safetensors'));
    expect(w.keys().sort()).toEqual(ref.keys().sort());
    const files = new Set(w.keys().map((k) => w.fileOf(k)));
    expect(files.size).toBe(4);
    for (const k of ['pos_embed.proj.bias', 'transformer_blocks.0.attn.to_out.0.weight', 'transformer_blocks.2.ff.net.2.bias', 'norm_out.linear.weight']) {
      expect((await w.read(k)).bytes).toEqual((await ref.read(k)).bytes);
    }
    expect(() => w.info('nope')).toThrow(/no tensor named nope in weight_map/);
    await w.close();
    await ref.close();
  });
});
