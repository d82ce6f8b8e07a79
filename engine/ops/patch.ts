// Patchify / unpatchify (shaders/patch.wgsl): the rearrangements around Vchitect's patch-embed conv
// (frames [F, C, H, W] -> tokens [F, h*w, C*P*P], then a linear) and its proj_out (tokens -> frames).

import { u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

export interface PatchOptions {
  /** Patch size P (Vchitect: 2). */
  patch?: number;
  out?: Tensor;
}

registerVariant({ op: 'patchify', name: 'patchify_gather', spec: { kernel: 'patch' } });
registerVariant({ op: 'unpatchify', name: 'unpatchify_gather', spec: { kernel: 'patch' } });

function checkOut(op: string, x: Tensor, shape: number[], out?: Tensor): Tensor {
  if (!out) return Tensor.empty(x.device, shape, x.dtype, op);
  if (out.dtype !== x.dtype || out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${op}: out is ${out.dtype}[${out.shape.join(', ')}], expected ${x.dtype}[${shape.join(', ')}]`);
  }
  return out;
}

function run(entry: 'patchify' | 'unpatchify', x: Tensor, out: Tensor, C: number, H: number, W: number, P: number, swap = false): Tensor {
  const n = out.numel;
  const device = x.device;
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`${entry}: dtype must be f32 or f16, got ${x.dtype}`);
  device.dispatch({
    op: swap ? `${entry === 'patchify' ? 'unpatchify' : 'patchify'}_backward` : entry,
    kernel: 'patch',
    entry,
    defines: { T: x.dtype, SWAP: swap },
    params: [u32(n), u32(C), u32(H), u32(W), u32(P)],
    bindings: [x, out],
    workgroups: grid2D(ceilDiv(n, 256), device.caps.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/** [F, C, H, W] -> [F, (H/P)*(W/P), C*P*P], channel order (c, p, q), tokens row-major. */
export function patchify(x: Tensor, opts: PatchOptions = {}): Tensor {
  const P = opts.patch ?? 2;
  if (x.shape.length !== 4) throw new ShapeError(`patchify: input must be [F, C, H, W], got [${x.shape.join(', ')}]`);
  const [F, C, H, W] = x.shape as [number, number, number, number];
  if (!(P >= 1) || H % P || W % P) throw new ShapeError(`patchify: H=${H} and W=${W} must be multiples of the patch size ${P}`);
  const out = checkOut('patchify', x, [F, (H / P) * (W / P), C * P * P], opts.out);
  return run('patchify', x, out, C, H, W, P);
}

/**
 * [F, h*w, P*P*C] (channel index (p*P + q)*C + c) -> [F, C, h*P, w*P]: Vchitect's unpatchify (nhwpqc -> nchpwq).
 * h and w must be given since the token count alone does not fix them.
 */
export function unpatchify(x: Tensor, h: number, w: number, opts: PatchOptions = {}): Tensor {
  const P = opts.patch ?? 2;
  if (x.shape.length !== 3) throw new ShapeError(`unpatchify: input must be [F, h*w, P*P*C], got [${x.shape.join(', ')}]`);
  const [F, L, K] = x.shape as [number, number, number];
  if (L !== h * w) throw new ShapeError(`unpatchify: input has ${L} tokens per frame, expected h*w = ${h}*${w} = ${h * w}`);
  if (K % (P * P)) throw new ShapeError(`unpatchify: channel dim ${K} is not a multiple of P*P = ${P * P}`);
  const C = K / (P * P);
  const out = checkOut('unpatchify', x, [F, C, h * P, w * P], opts.out);
  return run('unpatchify', x, out, C, h * P, w * P, P);
}

/** Backward of patchify: dy [F, (H/P)*(W/P), C*P*P] (channel order (c, p, q)) -> dx [F, C, H, W]. */
export function patchifyBackward(dy: Tensor, H: number, W: number, opts: PatchOptions = {}): Tensor {
  const P = opts.patch ?? 2;
  if (dy.shape.length !== 3) throw new ShapeError(`patchify_backward: dy must be [F, h*w, C*P*P], got [${dy.shape.join(', ')}]`);
  const [F, L, K] = dy.shape as [number, number, number];
  if (!(P >= 1) || H % P || W % P) throw new ShapeError(`patchify_backward: H=${H} and W=${W} must be multiples of the patch size ${P}`);
  if (L !== (H / P) * (W / P) || K % (P * P)) throw new ShapeError(`patchify_backward: dy [${dy.shape.join(', ')}] does not come from frames of ${H}x${W} with patch ${P}`);
  const C = K / (P * P);
  const out = checkOut('patchify_backward', dy, [F, C, H, W], opts.out);
  return run('unpatchify', dy, out, C, H, W, P, true);
}

/** Backward of unpatchify: dy [F, C, h*P, w*P] -> dx [F, h*w, P*P*C] (channel order (p, q, c)). */
export function unpatchifyBackward(dy: Tensor, opts: PatchOptions = {}): Tensor {
  const P = opts.patch ?? 2;
  if (dy.shape.length !== 4) throw new ShapeError(`unpatchify_backward: dy must be [F, C, H, W], got [${dy.shape.join(', ')}]`);
  const [F, C, H, W] = dy.shape as [number, number, number, number];
  if (!(P >= 1) || H % P || W % P) throw new ShapeError(`unpatchify_backward: H=${H} and W=${W} must be multiples of the patch size ${P}`);
  const out = checkOut('unpatchify_backward', dy, [F, (H / P) * (W / P), C * P * P], opts.out);
  return run('patchify', dy, out, C, H, W, P, true);
}
