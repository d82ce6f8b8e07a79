// Initial latents given by the caller instead of the seeded noise (diffusers' `latents=` argument): a float32
// tensor, the bytes of a safetensors file or (Node only) its path. The file holds a tensor "latents" (or only one
// tensor) of any float dtype, shape [1, F, C, H/8, W/8] exactly as the Vchitect-2.0 reference pipeline's
// prepare_latents lays it out (batch, frames, channels, height, width: the same row-major order as our own noise,
// no permutation). Checked against the shape the settings imply; described for the sidecar (source and hashes).
import { MemoryByteSource } from '../io/byte-source.js';
import type { DType } from '../io/dtype.js';
import { SafetensorsReader, toFloat32 } from '../io/safetensors-reader.js';
import type { Tensor32 } from './backend.js';
import { GenerateOptionsError } from './generate-options.js';
import type { InitLatentsInfo } from './generate-settings.js';
import { sha256Hex } from './model-hash.js';

/** Given initial latents: a tensor, a safetensors file's bytes, or (Node) a safetensors file path. */
export type InitLatentsSource = { shape: readonly number[]; data: Float32Array | Float64Array } | Uint8Array | string;

export type { InitLatentsInfo } from './generate-settings.js';

/** Float dtypes accepted in an initial-latents file. */
export const INIT_LATENT_DTYPES: readonly DType[] = ['F32', 'F16', 'BF16', 'F64'];

/** The expected shape in words, for errors: "[1, 3, 16, 10, 6] (48x80 px, 3 frames: [1, F, 16, H/8, W/8])". */
export function describeLatentShape(shape: readonly number[], s: { width: number; height: number; frames: number }): string {
  const c = shape[2];
  return `[${shape.join(', ')}] (${s.width}x${s.height} px, ${s.frames} frame${s.frames === 1 ? '' : 's'}: [1, F, ${c}, H/${s.height / shape[3]!}, W/${s.width / shape[4]!}])`;
}

function checkShape(got: readonly number[], want: readonly number[], s: { width: number; height: number; frames: number }, what: string): void {
  if (got.length !== want.length || got.some((d, i) => d !== want[i])) {
    throw new GenerateOptionsError(`${what}: shape [${got.join(', ')}] does not fit this generation: expected ${describeLatentShape(want, s)}; pass latents of that shape, or the width, height and frame count they were made for`);
  }
}

function checkFinite(data: Float32Array, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new GenerateOptionsError(`${what}: element ${i} is ${data[i]}; initial latents must be finite`);
  }
}

async function readFileBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new GenerateOptionsError(`initial latents ${path}: cannot read the file (${code ?? (e as Error).message})`);
  }
}

/**
 * Loads and checks initial latents against `shape` (from latentShape(settings)): exact shape, a float dtype, finite
 * values. Returns float32 latents (a copy the caller owns) and their description.
 */
export async function loadInitLatents(src: InitLatentsSource, shape: readonly number[], s: { width: number; height: number; frames: number }): Promise<{ latents: Tensor32; info: InitLatentsInfo }> {
  let data: Float32Array;
  let info: Omit<Extract<InitLatentsInfo, { sha256: string }>, 'sha256'>;
  if (typeof src === 'string' || src instanceof Uint8Array) {
    const path = typeof src === 'string' ? src : undefined;
    const what = `initial latents ${path ?? '(safetensors bytes)'}`;
    const bytes = typeof src === 'string' ? await readFileBytes(src) : src;
    let r: SafetensorsReader;
    try {
      r = await SafetensorsReader.open(new MemoryByteSource(bytes, path ?? '<initial latents>'));
    } catch (e) {
      throw new GenerateOptionsError(`${what}: not a readable safetensors file (${(e as Error).message})`);
    }
    const keys = r.keys();
    const name = r.has('latents') ? 'latents' : keys.length === 1 ? keys[0]! : null;
    if (!name) throw new GenerateOptionsError(`${what}: expected a tensor named "latents" (or a single tensor), found ${keys.join(', ') || 'none'}`);
    const t = r.info(name);
    if (!INIT_LATENT_DTYPES.includes(t.dtype)) {
      throw new GenerateOptionsError(`${what}: tensor "${name}" has dtype ${t.dtype}; initial latents must be a float dtype (${INIT_LATENT_DTYPES.join(', ')}) of shape ${describeLatentShape(shape, s)}`);
    }
    checkShape(t.shape, shape, s, `${what}: tensor "${name}"`);
    data = Float32Array.from(toFloat32(await r.read(name)));
    checkFinite(data, what);
    info = { source: 'file', ...(path ? { path } : {}), fileSha256: await sha256Hex(bytes), dtype: t.dtype };
  } else {
    const what = 'initial latents tensor';
    if (!(src.data instanceof Float32Array) && !(src.data instanceof Float64Array)) throw new GenerateOptionsError(`${what}: data must be a Float32Array or Float64Array`);
    checkShape(src.shape, shape, s, what);
    const n = shape.reduce((a, b) => a * b, 1);
    if (src.data.length !== n) throw new GenerateOptionsError(`${what}: ${src.data.length} values for shape [${shape.join(', ')}] (${n})`);
    data = Float32Array.from(src.data);
    checkFinite(data, what);
    info = { source: 'tensor' };
  }
  const sha256 = await sha256Hex(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return { latents: { shape: [...shape], data }, info: { ...info, sha256 } as InitLatentsInfo };
}
