// Nearest-neighbour 2x upsampling of image planes: x [R, H, W] -> out [R, 2H, 2W], out[r, y, x] = x[r, y/2, x/2]
// (R = N*C for NCHW). One thread per output element.
// Contract (engine/ops/conv2d.ts, upsampleNearest2x):
//   binding 0: Params { n (= R*4*H*W), H, W }; binding 1: x T; binding 2: out T
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// BACKWARD: the backward of that upsampling, dx [R, H, W] from dy [R, 2H, 2W]: one thread per dx element adds its
//   2x2 block of dy (in row order); n then counts dx elements (R*H*W), binding 1 is dy and binding 2 dx.
// Defines: T (f32 | f16), BACKWARD.

struct Params { n: u32, H: u32, W: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
//#if BACKWARD
  let ix = o % p.W;
  let iy = (o / p.W) % p.H;
  let r = o / (p.W * p.H);
  let top = (r * 2u * p.H + 2u * iy) * 2u * p.W + 2u * ix;
  let bottom = top + 2u * p.W;
  out[o] = {{T}}(f32(x[top]) + f32(x[top + 1u]) + f32(x[bottom]) + f32(x[bottom + 1u]));
//#else
  let W2 = 2u * p.W;
  let ox = o % W2;
  let t = o / W2;
  let oy = t % (2u * p.H);
  let r = t / (2u * p.H);
  out[o] = x[(r * p.H + oy / 2u) * p.W + ox / 2u];
//#endif
}
