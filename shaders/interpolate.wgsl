// Bilinear resizing of image planes with align_corners=False (PyTorch's F.interpolate(mode='bilinear')):
// out[r, oy, ox] from x [R, H, W] at the source position s = max(scale (o + 0.5) - 0.5, 0) per axis (scale = in / out),
// i0 = floor(s), i1 = min(i0 + 1, in - 1), weights 1 - (s - i0) and s - i0; rows mixed last, as PyTorch does.
// One thread per output element, f32 arithmetic.
// Contract (engine/ops/interpolate.ts, resizeBilinear):
//   binding 0: Params { n (= R*Ho*Wo), H, W, Ho, Wo, scale_y f32, scale_x f32 }; binding 1: x T [R, H, W];
//   binding 2: out T [R, Ho, Wo]
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: T (f32 | f16).

struct Params { n: u32, H: u32, W: u32, Ho: u32, Wo: u32, scale_y: f32, scale_x: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n) { return; }
  let ox = o % p.Wo;
  let oy = (o / p.Wo) % p.Ho;
  let r = o / (p.Wo * p.Ho);
  let sy = max(p.scale_y * (f32(oy) + 0.5) - 0.5, 0.0);
  let sx = max(p.scale_x * (f32(ox) + 0.5) - 0.5, 0.0);
  let y0 = min(u32(sy), p.H - 1u);
  let x0 = min(u32(sx), p.W - 1u);
  let y1 = min(y0 + 1u, p.H - 1u);
  let x1 = min(x0 + 1u, p.W - 1u);
  let ly = sy - f32(y0);
  let lx = sx - f32(x0);
  let base = r * p.H * p.W;
  let a = f32(x[base + y0 * p.W + x0]);
  let b = f32(x[base + y0 * p.W + x1]);
  let c = f32(x[base + y1 * p.W + x0]);
  let d = f32(x[base + y1 * p.W + x1]);
  out[o] = {{T}}((1.0 - ly) * ((1.0 - lx) * a + lx * b) + ly * ((1.0 - lx) * c + lx * d));
}
