// Seeded Gaussian / uniform noise on the GPU (shaders/rng.wgsl): counter-based Philox4x32-10, so the values of a
// tensor depend only on (seed, global element index) and a sharded tensor equals the whole one generated at once.

import type { DType } from '../dtype.js';
import { numel } from '../dtype.js';
import type { Device } from '../gpu/device.js';
import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

export interface RandomOptions {
  /** 64-bit seed (a non-negative integer below 2^53, or a bigint below 2^64). */
  seed: number | bigint;
  /** Global element index of this tensor's first element (a shard's offset in the whole tensor). Default 0. */
  offset?: number | bigint;
  /** Storage dtype (f32 default, f16 when the device has it); math in f32. */
  dtype?: DType;
  /** randn: mean + std * z; rand: mean + std * u. Defaults 0 and 1. */
  mean?: number;
  std?: number;
  /** Write into this tensor instead of allocating one (its shape is used). */
  out?: Tensor;
}

export interface RandomSpec {
  kernel: string;
}

registerVariant<RandomSpec>({ op: 'random', name: 'philox4x32_10', spec: { kernel: 'rng' } });

/** Splits a u64 into [lo, hi] u32 words, naming the argument in errors. */
export function u64Words(v: number | bigint, what: string): [number, number] {
  const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : -1n;
  if (b < 0n || b >= 1n << 64n) throw new ShapeError(`random: ${what} must be an integer in [0, 2^64) (a number below 2^53 or a bigint), got ${String(v)}`);
  return [Number(b & 0xffffffffn), Number(b >> 32n)];
}

function launch(device: Device, mode: 'RANDN' | 'UNIFORM' | 'BITS', out: Tensor, n: number, opts: RandomOptions, op: string): Tensor {
  const [key0, key1] = u64Words(opts.seed, 'seed');
  const [offLo, offHi] = u64Words(opts.offset ?? 0, 'offset');
  device.dispatch({
    op,
    kernel: 'rng',
    defines: { T: mode === 'BITS' ? 'u32' : out.dtype, [mode]: true },
    params: [u32(n), u32(offLo), u32(offHi), u32(key0), u32(key1), f32(opts.mean ?? 0), f32(opts.std ?? 1)],
    bindings: [out],
    workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

function output(device: Device, shape: readonly number[], opts: RandomOptions, op: string): Tensor {
  const dtype = opts.dtype ?? opts.out?.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`${op}: dtype must be f32 or f16, got ${dtype}`);
  if (opts.out) {
    if (numel(opts.out.shape) !== numel(shape) || opts.out.dtype !== dtype) {
      throw new ShapeError(`${op}: out is ${opts.out.dtype}[${opts.out.shape.join(', ')}], expected ${dtype}[${shape.join(', ')}]`);
    }
    return opts.out;
  }
  return Tensor.empty(device, shape, dtype, op);
}

/** Standard normal noise (times std plus mean): element i is a function of (seed, offset + i) only. */
export function randn(device: Device, shape: readonly number[], opts: RandomOptions): Tensor {
  const out = output(device, shape, opts, 'randn');
  return launch(device, 'RANDN', out, numel(shape), opts, 'randn');
}

/** Uniform noise in (0, 1) (times std plus mean), the u1 that randn uses for the same element. */
export function rand(device: Device, shape: readonly number[], opts: RandomOptions): Tensor {
  const out = output(device, shape, opts, 'rand');
  return launch(device, 'UNIFORM', out, numel(shape), opts, 'rand');
}

/** The raw Philox words: a u32 tensor [n, 4] with row i = philox4x32_10((offset+i) as (lo, hi, 0, 0), seed). */
export function philoxBits(device: Device, n: number, opts: Omit<RandomOptions, 'dtype' | 'out' | 'mean' | 'std'>): Tensor {
  const out = Tensor.empty(device, [n, 4], 'u32', 'philox');
  return launch(device, 'BITS', out, n, opts, 'philox');
}
