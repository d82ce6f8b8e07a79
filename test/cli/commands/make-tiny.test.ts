// `parallax make-tiny`: --preset shapes writes the 32-text-token model and says so; --layers/--heads/--head-dim size
// the transformer (over a preset too); the help documents the preset; an unknown preset is refused with the known ones.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parallax } from '../../helpers/cli.js';

let root = '';
beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'parallax-cli-make-tiny-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('parallax make-tiny', () => {
  it('--preset shapes writes 16 CLIP + 16 T5 text tokens and 6 layers; inspect reports 32 text tokens', async () => {
    const dir = join(root, 'shapes');
    const r = await parallax(['make-tiny', dir, '--preset', 'shapes']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/preset shapes.*6 layers, D=64, 16 CLIP \+ 16 T5 text tokens/);
    const cfg = JSON.parse(await readFile(join(dir, 'text_encoder', 'config.json'), 'utf8')) as { max_position_embeddings: number };
    expect(cfg.max_position_embeddings).toBe(16);
    const i = await parallax(['inspect', dir, '--width', '64', '--height', '64', '--frames', '8']);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/text tokens +32 per prompt \(16 CLIP \+ 16 T5\)/);
    expect(i.stdout).toMatch(/8 frames x 48 tokens \(L=16, T=32\)/);
  });

  it('--layers / --heads / --head-dim size the transformer, alone or over the preset (which keeps its text lengths)', async () => {
    const cfgOf = async (d: string) => JSON.parse(await readFile(join(d, 'transformer', 'config.json'), 'utf8')) as { num_layers: number; num_attention_heads: number; attention_head_dim: number; caption_projection_dim: number };
    const a = join(root, 'sized');
    const r = await parallax(['make-tiny', a, '--layers', '2', '--heads', '3', '--head-dim', '8']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 layers, D=24/);
    expect(await cfgOf(a)).toMatchObject({ num_layers: 2, num_attention_heads: 3, attention_head_dim: 8, caption_projection_dim: 24 });
    const b = join(root, 'shapes-3');
    const s = await parallax(['make-tiny', b, '--preset', 'shapes', '--layers', '3']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toMatch(/3 layers, D=64, 16 CLIP \+ 16 T5 text tokens/);
    expect(await cfgOf(b)).toMatchObject({ num_layers: 3, num_attention_heads: 4, attention_head_dim: 16 });
  });

  it('documents the preset and refuses an unknown one', async () => {
    const h = await parallax(['make-tiny', '--help']);
    expect(h.stdout).toMatch(/--preset <name>/);
    expect(h.stdout).toMatch(/32 text tokens/);
    const r = await parallax(['make-tiny', join(root, 'x'), '--preset', 'cats']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/'cats' is invalid.*shapes/s);
  });
});
