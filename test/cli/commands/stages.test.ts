// encode-text, forward and decode need only the part they use: a transformer folder on its own, a model_index.json
// that lists only the transformer, a VAE folder, text encoders without the rest, and a full folder whose other parts
// are broken all give the same outputs as the full checkpoint; a missing part fails with a message naming it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTinyCheckpoint } from '../../../engine/io/make-tiny.js';
import { writeSafetensors } from '../../../engine/io/safetensors.js';
import { parallax } from '../../helpers/cli.js';

let dir: string;
let full: string;
const at = (name: string) => join(dir, name);

/** A copy of `sub` of the full checkpoint ('' = all of it) with `drop` removed. */
async function variant(name: string, sub: string, drop: string[] = []): Promise<string> {
  await cp(join(full, sub), at(name), { recursive: true });
  for (const d of drop) await rm(join(at(name), d), { recursive: true, force: true });
  return at(name);
}

const wave = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.5);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parallax-stages-'));
  const t = await makeTinyCheckpoint(at('full'), { seed: 13 });
  full = t.dir;
  await variant('transformer-only', 'transformer');
  await variant('vae-only', 'vae');
  await variant('text-only', '', ['model_index.json', 'transformer', 'vae', 'scheduler']);
  await variant('index-lists-transformer', '', ['vae', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'tokenizer', 'tokenizer_2', 'tokenizer_3', 'scheduler']);
  await writeFile(at('index-lists-transformer/model_index.json'), JSON.stringify({ _class_name: 'VchitectXLPipeline', transformer: ['diffusers', 'VchitectXLTransformerModel'] }));
  // everything but the transformer unusable: forward must not read (let alone validate) it
  const broken = await variant('broken-others', '');
  await writeFile(join(broken, 'text_encoder/config.json'), '{ not json');
  await rm(join(broken, 'text_encoder_2/model.safetensors'));
  await writeFile(join(broken, 'vae/diffusion_pytorch_model.safetensors'), 'garbage');
  await rm(join(broken, 'scheduler'), { recursive: true });
  const J = t.transformer.joint_attention_dim;
  const P = t.transformer.pooled_projection_dim;
  await writeSafetensors(at('in.safetensors'), {
    hidden_states: { dtype: 'F32', shape: [1, 2, 16, 2, 4], data: wave(256, 1.3) },
    timestep: { dtype: 'F32', shape: [1], data: Float32Array.of(700) },
    encoder_hidden_states: { dtype: 'F32', shape: [1, 20, J], data: wave(20 * J, 0.7) },
    pooled_projections: { dtype: 'F32', shape: [1, P], data: wave(P, 2.1) },
  });
  await writeSafetensors(at('lat.safetensors'), { latents: { dtype: 'F32', shape: [1, 1, 16, 2, 2], data: wave(64, 0.9) } });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function ok(args: string[]): Promise<void> {
  const r = await parallax(args);
  expect(r.stderr, args.join(' ')).not.toMatch(/^parallax: /m);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
}

describe('stage commands on partial checkpoints', () => {
  it('forward on a transformer folder, a model_index.json listing only the transformer, and a folder with broken other parts = forward on the full folder', async () => {
    const inputs = at('in.safetensors');
    const models = ['full', 'transformer-only', 'index-lists-transformer', 'broken-others'];
    await Promise.all(models.slice(0, 2).map((m) => ok(['forward', '--model', at(m), '--inputs', inputs, '--out', at(`fwd-${m}.safetensors`)])));
    await Promise.all(models.slice(2).map((m) => ok(['forward', '--model', at(m), '--inputs', inputs, '--out', at(`fwd-${m}.safetensors`)])));
    const ref = await readFile(at('fwd-full.safetensors'));
    for (const m of models.slice(1)) expect(Buffer.compare(await readFile(at(`fwd-${m}.safetensors`)), ref), m).toBe(0);
  });

  it('decode on a VAE folder and encode-text without transformer, VAE or model_index.json = the same on the full folder (reference backend)', async () => {
    const lat = at('lat.safetensors');
    await Promise.all([
      ok(['decode', '--backend', 'reference', '--model', full, '--inputs', lat, '--out', at('dec-full')]),
      ok(['decode', '--backend', 'reference', '--model', at('vae-only'), '--inputs', lat, '--out', at('dec-vae')]),
    ]);
    expect(Buffer.compare(await readFile(at('dec-vae/frame_00000.png')), await readFile(at('dec-full/frame_00000.png')))).toBe(0);
    await Promise.all([
      ok(['encode-text', '--backend', 'reference', '--model', full, '--prompt', 'a red fox', '--out', at('emb-full.safetensors')]),
      ok(['encode-text', '--backend', 'reference', '--model', at('text-only'), '--prompt', 'a red fox', '--out', at('emb-text.safetensors')]),
    ]);
    expect(Buffer.compare(await readFile(at('emb-text.safetensors')), await readFile(at('emb-full.safetensors')))).toBe(0);
  });

  it('a missing part fails with a message that names it and the layout that works; generate still needs every part', async () => {
    const cases: [string[], RegExp][] = [
      [['forward', '--model', at('vae-only'), '--inputs', at('in.safetensors'), '--out', at('x.safetensors')],
        /`parallax forward` needs the transformer, but .*vae-only is a VAE folder .*A folder that works has transformer\/ .*or is the transformer folder itself/],
      [['decode', '--model', at('transformer-only'), '--inputs', at('lat.safetensors'), '--out', at('x')],
        /`parallax decode` needs the VAE, but .*transformer-only is a transformer folder .*or is the VAE folder itself/],
      [['encode-text', '--model', at('index-lists-transformer'), '--prompt', 'x', '--out', at('x.safetensors')],
        /`parallax encode-text` needs the text encoders, but .* lacks text_encoder\/ \(no text_encoder\/config.json\), text_encoder_2\/ .*tokenizer\//],
      [['generate', '--model', at('index-lists-transformer'), '--prompt', 'x'],
        /needs the text encoders, the transformer, the VAE and the scheduler, but .* lacks text_encoder\/ .*vae\/ \(no vae\/config.json\), scheduler\/ /],
    ];
    const results = await Promise.all(cases.map(([args]) => parallax(args)));
    results.forEach((r, k) => {
      const [args, re] = cases[k];
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(re);
    });
  });
});
