// Max pooling of image planes (NCHW with R = N*C planes): out[r, oy, ox] = max of x[r, oy*S - pad_top + ky,
// ox*S - pad_left + kx] over the KH x KW window, pixels outside the plane skipped (PyTorch's -inf padding, floor
// mode, no dilation). One thread per output element.
// Contract (engine/ops/pool.ts, maxPool2d):
//   binding 0: Params { n (= R*Ho*Wo), H, W, Ho, Wo, stride, pad_top, pad_left }; binding 1: x T [R, H, W];
//   binding 2: out T [R, Ho, Wo]
//   grid: ceil(n / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: T (f32 | f16), KH, KW. Every window holds at least one pixel (the wrapper requires padding <= kernel / 2).

struct Params { n: u32, H: u32, W: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32 }

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
  let iy0 = i32(oy * p.stride) - i32(p.pad_top);
  let ix0 = i32(ox * p.stride) - i32(p.pad_left);
  let base = r * p.H * p.W;
  var m = -3.0e38;
  var seen = false;
  for (var ky = 0; ky < {{KH}}; ky++) {
    let iy = iy0 + ky;
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    for (var kx = 0; kx < {{KW}}; kx++) {
      let ix = ix0 + kx;
      if (ix < 0 || ix >= i32(p.W)) { continue; }
      let v = f32(x[base + u32(iy) * p.W + u32(ix)]);
      if (!seen || v > m) { m = v; }
      seen = true;
    }
  }
  out[o] = {{T}}(m);
}
