// Dense optical flow on the GPU (shaders/flow.wgsl): pyramidal Lucas-Kanade between two gray f32 images, the
// classical stand-in for RAFT behind the flow score and VBench's dynamic degree. Float64 reference: flow.ref.ts.

import { f32, u32 } from '../gpu/device.js';
import { ShapeError } from '../gpu/errors.js';
import { ceilDiv } from '../gpu/grid.js';
import { Tensor } from '../tensor.js';
import { DEFAULT_FLOW, half, type FlowParams } from './flow.ref.js';
import { registerVariant } from './registry.js';

registerVariant({ op: 'optical_flow', name: 'optical_flow_lk_pyramid', spec: { kernel: 'flow' } });

const grid = (w: number, h: number): [number, number] => [ceilDiv(w, 16), ceilDiv(h, 16)];

/** i0, i1: f32 [H, W] gray (0..255) -> f32 [H, W, 2] flow (u, v) from i0 to i1. */
export function opticalFlow(i0: Tensor, i1: Tensor, o: Partial<FlowParams> & { out?: Tensor } = {}): Tensor {
  const q = { ...DEFAULT_FLOW, ...o };
  if (i0.shape.length !== 2 || i0.dtype !== 'f32' || i1.dtype !== 'f32' || i1.shape.join() !== i0.shape.join()) {
    throw new ShapeError(`opticalFlow: i0 and i1 must be f32 [H, W] of one shape, got ${i0.dtype}[${i0.shape.join(', ')}] and ${i1.dtype}[${i1.shape.join(', ')}]`);
  }
  if (!Number.isInteger(q.levels) || q.levels < 1 || !Number.isInteger(q.iters) || q.iters < 1 || !Number.isInteger(q.radius) || q.radius < 1) {
    throw new ShapeError(`opticalFlow: levels, iters and radius must be positive integers, got ${q.levels}, ${q.iters}, ${q.radius}`);
  }
  const device = i0.device;
  const [H, W] = i0.shape as [number, number];
  if (o.out && (o.out.dtype !== 'f32' || o.out.numel !== H * W * 2)) throw new ShapeError(`opticalFlow: out must be f32 [${H}, ${W}, 2]`);
  const pyr: { a: Tensor; b: Tensor; w: number; h: number }[] = [{ a: i0, b: i1, w: W, h: H }];
  for (let l = 1; l < q.levels; l++) {
    const p = pyr[l - 1]!;
    const w = half(p.w), h = half(p.h);
    const down = (src: Tensor) => {
      const t = Tensor.empty(device, [h, w], 'f32', 'flow pyramid');
      device.dispatch({ op: 'optical_flow', kernel: 'flow', defines: { DOWN: true }, params: [u32(w), u32(h), u32(p.w), u32(p.h), f32(0)], bindings: [src, t], workgroups: grid(w, h) });
      return t;
    };
    pyr.push({ a: down(p.a), b: down(p.b), w, h });
  }
  let flow: Tensor | null = null;
  for (let l = q.levels - 1; l >= 0; l--) {
    const p = pyr[l]!;
    let cur: Tensor;
    if (!flow) cur = Tensor.zeros(device, [p.h, p.w, 2], 'f32', 'flow');
    else {
      cur = Tensor.empty(device, [p.h, p.w, 2], 'f32', 'flow');
      const c = pyr[l + 1]!;
      device.dispatch({ op: 'optical_flow', kernel: 'flow', defines: { UP: true }, params: [u32(p.w), u32(p.h), u32(c.w), u32(c.h), f32(0)], bindings: [flow, cur], workgroups: grid(p.w, p.h) });
      flow.dispose();
    }
    for (let k = 0; k < q.iters; k++) {
      const last = l === 0 && k === q.iters - 1;
      const next = last && o.out ? o.out : Tensor.empty(device, [p.h, p.w, 2], 'f32', 'flow');
      device.dispatch({ op: 'optical_flow', kernel: 'flow', defines: { LK: true, R: q.radius }, params: [u32(p.w), u32(p.h), u32(p.w), u32(p.h), f32(q.lambda)], bindings: [p.a, p.b, cur, next], workgroups: grid(p.w, p.h) });
      cur.dispose();
      cur = next;
    }
    flow = cur;
  }
  for (const p of pyr.slice(1)) {
    p.a.dispose();
    p.b.dispose();
  }
  return flow!;
}
