// Bilinear resizing of NCHW tensors with align_corners=False (shaders/interpolate.wgsl): PyTorch's
// F.interpolate(x, size=(Ho, Wo), mode='bilinear', align_corners=False), CRAFT's U-net upsampling.

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv, grid2D } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { registerVariant } from './registry.js';

registerVariant({ op: 'resize_bilinear', name: 'resize_bilinear', spec: { kernel: 'interpolate' } });

const fmt = (t: Tensor) => `${t.dtype}[${t.shape.join(', ')}]`;

/** x [..., H, W] -> [..., Ho, Wo] (up or down; no antialiasing, as PyTorch's default). */
export function resizeBilinear(x: Tensor, Ho: number, Wo: number, out?: Tensor): Tensor {
  const r = x.shape.length;
  if (r < 2) throw new ShapeError(`resizeBilinear: input must be [..., H, W], got ${fmt(x)}`);
  if (x.dtype !== 'f32' && x.dtype !== 'f16') throw new ShapeError(`resizeBilinear: dtype must be f32 or f16, got ${x.dtype}`);
  if (![Ho, Wo].every((v) => Number.isInteger(v) && v >= 1)) throw new ShapeError(`resizeBilinear: the output size must be positive integers, got ${Ho}x${Wo}`);
  const [H, W] = [x.shape[r - 2]!, x.shape[r - 1]!];
  const shape = [...x.shape.slice(0, r - 2), Ho, Wo];
  const o = out ?? Tensor.empty(x.device, shape, x.dtype, 'resize_bilinear');
  if (o.dtype !== x.dtype || o.shape.length !== r || o.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`resizeBilinear: out is ${fmt(o)}, expected ${x.dtype}[${shape.join(', ')}]`);
  }
  const n = o.numel;
  x.device.dispatch({
    op: 'resize_bilinear', kernel: 'interpolate', defines: { T: x.dtype },
    params: [u32(n), u32(H), u32(W), u32(Ho), u32(Wo), f32(H / Ho), f32(W / Wo)], bindings: [x, o],
    workgroups: grid2D(ceilDiv(n, 256), x.device.caps.maxComputeWorkgroupsPerDimension),
  });
  return o;
}
