// Depthwise 2-D convolution, channels last (EfficientNet's conv_dw, engine/ops/depthwise-conv2d.ts): every channel
// is convolved with its own KH x KW kernel; zero padding, any stride; bias (a folded BatchNorm) and an optional SiLU
// fused. One thread per output element, channel fastest (neighbouring threads read neighbouring channels).
//   out[n, oy, ox, c] = act(bias[c] + sum_{ky,kx} w[ky, kx, c] * x[n, oy*stride - pad_top + ky, ox*stride - pad_left + kx, c])
// Contract:
//   binding 0: Params { N, H, W, C, Ho, Wo, stride, pad_top, pad_left, n_out (= N*Ho*Wo*C) }
//   binding 1: x [N, H, W, C] T; binding 2: w [KH, KW, C] T; binding 3: bias [C] T; binding 4: out [N, Ho, Wo, C] T
//   grid: ceil(n_out / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: T (f32 | f16), KH, KW, SILU (apply x * sigmoid(x) after the bias). f32 accumulation.

struct Params { N: u32, H: u32, W: u32, C: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32, n_out: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{T}}>;
@group(0) @binding(4) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n_out) { return; }
  let c = o % p.C;
  let q = o / p.C;
  let ox = q % p.Wo;
  let r = q / p.Wo;
  let oy = r % p.Ho;
  let n = r / p.Ho;
  let iy0 = i32(oy * p.stride) - i32(p.pad_top);
  let ix0 = i32(ox * p.stride) - i32(p.pad_left);
  let xb = n * p.H * p.W * p.C + c;
  var acc = f32(bias[c]);
  for (var ky = 0u; ky < {{KH}}u; ky++) {
    let iy = iy0 + i32(ky);
    if (iy < 0 || iy >= i32(p.H)) { continue; }
    for (var kx = 0u; kx < {{KW}}u; kx++) {
      let ix = ix0 + i32(kx);
      if (ix < 0 || ix >= i32(p.W)) { continue; }
      acc += f32(w[(ky * {{KW}}u + kx) * p.C + c]) * f32(x[xb + (u32(iy) * p.W + u32(ix)) * p.C]);
    }
  }
//#if SILU
  acc = acc / (1.0 + exp(-acc));
//#endif
  out[o] = {{T}}(acc);
}
