// `parallax generate --long clip-parallel` end to end on a tiny checkpoint: 7 latent frames in clips 3,2,2 over 3
// ranks give the same latents over the in-process, shm and socket transports (the N-rank vs one-device equivalence is
// in test/engine/parallel/clip-pipeline.test.ts); the sidecar records the clips and dual-scope options; a layout that
// does not fit is refused before any weight loads, saying what would fit.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parallax } from '../helpers/cli.js';
import { readLatents, tinyCliModel } from '../helpers/cli-model.js';

const tiny = tinyCliModel('parallax-cli-long-', 6);
const base = () => ['generate', '--model', tiny.ckpt, '--prompt', 'a red fox', '--width', '48', '--height', '32', '--frames', '7', '--steps', '2', '--guidance', '4', '--seed', '9', '--no-progress', '--long', 'clip-parallel'];

describe('parallax generate --long clip-parallel', () => {
  let first: Float32Array | null = null;
  for (const transport of ['inprocess', 'shm', 'socket']) {
    it(`3 ranks over ${transport}: the same latents; the sidecar names the clips`, async () => {
      const out = join(tiny.dir, `${transport}.mp4`);
      const lat = join(tiny.dir, `${transport}.safetensors`);
      const r = await parallax([...base(), '--devices', '0,0,0', '--dual-scope', 'window=2,top-k=4,bias=1', '--transport', transport, '--out', out, '--latents', lat]);
      expect(r.code, r.stderr).toBe(0);
      const got = await readLatents(lat);
      if (first) expect(Buffer.from(got.buffer).equals(Buffer.from(first.buffer))).toBe(true);
      else first = got;
      const side = JSON.parse(await readFile(out.replace(/\.mp4$/, '.json'), 'utf8'));
      expect(side.backend.name).toBe('webgpu-f32-clip3');
      expect(side.parallel.clip).toEqual({ clips: 3, window: 2, topK: 4, switchT: 800, bias: 1, rope: 'global', ends: 'zeros' });
    }, 180_000);
  }

  it('refuses clips shorter than the halo before loading, saying what would fit', async () => {
    const r = await parallax([...base(), '--devices', '0,0,0,0', '--dual-scope', 'window=2', '--out', join(tiny.dir, 'x.mp4')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/clip 3 has 1 latent frames, but each clip needs at least 2 .*use at most 3 ranks/);
    expect(r.stderr).not.toMatch(/Warning: maxDynamic/); // no GPU device was opened
  }, 60_000);

  it('--dual-scope needs --long clip-parallel', async () => {
    const r = await parallax(['generate', '--model', tiny.ckpt, '--prompt', 'x', '--dual-scope', 'window=1', '--out', join(tiny.dir, 'y.mp4')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/add --long clip-parallel/);
  }, 60_000);
});
