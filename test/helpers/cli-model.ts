// Fixtures of the CLI end-to-end tests: a temporary folder with a tiny checkpoint made through `parallax make-tiny`
// (before the file's tests; the folder is removed after them), and the latents a `generate --latents FILE` wrote.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { openSafetensors } from '../../engine/io/safetensors.js';
import { parallax } from './cli.js';

export interface TinyCliModel {
  /** The temporary folder (set before the tests). */
  dir: string;
  /** The checkpoint, dir/tiny. */
  ckpt: string;
}

/** Registers the hooks that make (`make-tiny --seed seed` in a folder named prefix...) and remove the fixture. */
export function tinyCliModel(prefix: string, seed: number): TinyCliModel {
  const m: TinyCliModel = { dir: '', ckpt: '' };
  beforeAll(async () => {
    m.dir = await mkdtemp(join(tmpdir(), prefix));
    m.ckpt = join(m.dir, 'tiny');
    expect((await parallax(['make-tiny', m.ckpt, '--seed', String(seed)])).code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    if (m.dir) await rm(m.dir, { recursive: true, force: true });
  });
  return m;
}

/** The f32 'latents' tensor of a safetensors file written by `generate --latents`. */
export async function readLatents(file: string): Promise<Float32Array> {
  const st = await openSafetensors(file);
  try {
    return await st.readFloat32('latents');
  } finally {
    await st.close();
  }
}
