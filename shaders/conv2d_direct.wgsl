// conv2d, direct: one thread per output element, loops over (ci, ky, kx); the simple reference variant.
// Same math and bindings as conv2d.wgsl (see its header): out = bias (+ res) + sum w * x (zero padding,
// UPSAMPLE = nearest 2x applied to the input first). f32 accumulation.
//   binding 0: Params { Cin, H, W, Cout, Ho, Wo, stride, pad_top, pad_left, K }
//   binding 1: x T; 2: w T; 3: bias T; 4: res T (RES); {{OUT_BINDING}}: out T
//   grid: ceil(N*Cout*Ho*Wo / 256) workgroups of 256, folded into 2-D (linear id = wid.x + wid.y * nwg.x)
// Defines: T (f32 | f16), KH, KW, KD (kernel dilation: taps KD pixels apart; 1 = none), RES, UPSAMPLE; param n_out = N*Cout*Ho*Wo follows K.

struct Params { Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32, K: u32, n_out: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{T}}>;
//#if RES
@group(0) @binding(4) var<storage, read> res: array<{{T}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{T}}>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) li: u32) {
  let o = (wid.x + wid.y * nwg.x) * 256u + li;
  if (o >= p.n_out) { return; }
  let P = p.Ho * p.Wo;
  let q = o % P;
  let co = (o / P) % p.Cout;
  let img = o / (P * p.Cout);
  let iy0 = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
  let ix0 = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
//#if UPSAMPLE
  let He = i32(2u * p.H); let We = i32(2u * p.W); let sh = 1u;
//#else
  let He = i32(p.H); let We = i32(p.W); let sh = 0u;
//#endif
  var acc = f32(bias[co]);
  for (var ci = 0u; ci < p.Cin; ci++) {
    let xb = (img * p.Cin + ci) * p.H * p.W;
    let wb = (co * p.Cin + ci) * {{KH}}u * {{KW}}u;
    for (var ky = 0u; ky < {{KH}}u; ky++) {
      let iy = iy0 + i32(ky) * {{KD}};
      if (iy < 0 || iy >= He) { continue; }
      for (var kx = 0u; kx < {{KW}}u; kx++) {
        let ix = ix0 + i32(kx) * {{KD}};
        if (ix < 0 || ix >= We) { continue; }
        acc += f32(w[wb + ky * {{KW}}u + kx]) * f32(x[xb + (u32(iy) >> sh) * p.W + (u32(ix) >> sh)]);
      }
    }
  }
//#if RES
  acc += f32(res[o]);
//#endif
  out[o] = {{T}}(acc);
}
