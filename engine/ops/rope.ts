// Rotary position embedding (shaders/rope.wgsl): interleaved pairs, theta^(-2j/hd) frequencies, positions from a
// tensor or a host list, applied along any axis of a [..., H*hd] tensor (Vchitect: the frame axis of [F, S, D]).

import type { Device } from '../gpu/device.js';
import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';
import { isCpuAdapter } from './row-variants.js';

registerVariant({ op: 'rope', name: 'rope_interleaved', spec: { kernel: 'rope' } });
registerVariant({ op: 'rope', name: 'rope_rows', spec: { kernel: 'rope' } });

/** One thread per row (rope_rows: CPU adapters) or per pair (rope_interleaved); PARALLAX_KERNEL_ROPE forces either. */
function rowsVariant(device: Device): boolean {
  const forced = typeof process !== 'undefined' ? process.env?.PARALLAX_KERNEL_ROPE : undefined;
  if (forced === 'rope_rows') return true;
  if (forced === 'rope_interleaved') return false;
  if (forced) throw new ShapeError(`PARALLAX_KERNEL_ROPE=${forced}: unknown rope variant (rope_interleaved or rope_rows)`);
  return isCpuAdapter(device);
}

export interface RopeOptions {
  /** Head dim hd (even); the last axis must be a multiple of it. */
  headDim: number;
  /** Positions along `axis`: a [shape[axis]] u32/i32/f32 tensor, or host numbers. */
  positions: Tensor | readonly number[];
  /** The axis whose index selects the position (not the last). Default: the one before the last. */
  axis?: number;
  /** Default 1e6 (Vchitect). */
  theta?: number;
  /** Rotate x itself. */
  inPlace?: boolean;
  /** Rotate by the negative angle: the backward (dx = R^T dy), see ropeBackward. */
  inverse?: boolean;
  out?: Tensor;
}

const freqCache = new WeakMap<Device, Map<string, Tensor>>();

/** freq_j = theta^(-2j/hd) for j < hd/2, computed in float64 and rounded to f32. */
export function ropeFrequencies(headDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: headDim / 2 }, (_, j) => theta ** ((-2 * j) / headDim));
}

function frequencies(device: Device, headDim: number, theta: number): Tensor {
  let m = freqCache.get(device);
  if (!m) freqCache.set(device, (m = new Map()));
  const key = `${headDim}|${theta}`;
  let t = m.get(key);
  if (!t || t.disposed) m.set(key, (t = Tensor.from(device, ropeFrequencies(headDim, theta), [headDim / 2], 'f32', 'rope freq')));
  return t;
}

export function rope(x: Tensor, opts: RopeOptions): Tensor {
  const r = x.shape.length;
  const fmt = `[${x.shape.join(', ')}]`;
  const hd = opts.headDim;
  if (r < 2) throw new ShapeError(`rope: input must have a position axis and a channel axis, got ${fmt}`);
  const D = x.shape[r - 1]!;
  if (!Number.isInteger(hd) || hd < 2 || hd % 2 || D % hd) throw new ShapeError(`rope: head dim ${hd} must be even and divide the last axis ${D} of ${fmt}`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`rope: dtype must be f32 or f16, got ${x.dtype}`);
  const axis = opts.axis === undefined ? r - 2 : opts.axis < 0 ? opts.axis + r : opts.axis;
  if (!Number.isInteger(axis) || axis < 0 || axis >= r - 1) throw new ShapeError(`rope: axis ${opts.axis} must be an axis of ${fmt} other than the last`);
  const npos = x.shape[axis]!;
  const device = x.device;
  const owned = !(opts.positions instanceof Tensor);
  const pos = opts.positions instanceof Tensor ? opts.positions : Tensor.from(device, Float32Array.from(opts.positions), [opts.positions.length], 'f32', 'rope positions');
  if (pos.numel !== npos || pos.dtype === 'f16') throw new ShapeError(`rope: positions must be ${npos} u32/i32/f32 values (axis ${axis} of ${fmt}), got ${pos.dtype}[${pos.shape.join(', ')}]`);
  let out = x;
  if (!opts.inPlace) {
    out = opts.out ?? Tensor.empty(device, x.shape, x.dtype, 'rope');
    if (out.dtype !== x.dtype || out.shape.length !== r || out.shape.some((d, i) => d !== x.shape[i])) {
      throw new ShapeError(`rope: out is ${out.dtype}[${out.shape.join(', ')}], expected ${x.dtype}${fmt}`);
    }
  }
  let inner = 1;
  for (let i = axis + 1; i < r - 1; i++) inner *= x.shape[i]!;
  const npairs = x.numel / 2;
  const rows = rowsVariant(device);
  device.dispatch({
    op: 'rope',
    kernel: 'rope',
    defines: { T: x.dtype, TP: pos.dtype, INPLACE: !!opts.inPlace, INVERSE: !!opts.inverse, ROWS: rows },
    params: [u32(npairs), u32(D / 2), u32(hd / 2), u32(inner), u32(npos)],
    bindings: opts.inPlace ? [x, pos, frequencies(device, hd, opts.theta ?? 1e6)] : [x, pos, frequencies(device, hd, opts.theta ?? 1e6), out],
    workgroups: grid2D(rows ? ceilDiv(npairs / (D / 2), 64) : ceilDiv(npairs, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  if (owned) pos.dispose();
  return out;
}

/** Backward of rope(x, opts) for dy: the rotation by the negative angle (the rotation's transpose). */
export function ropeBackward(dy: Tensor, opts: Omit<RopeOptions, 'inverse'>): Tensor {
  return rope(dy, { ...opts, inverse: true });
}
