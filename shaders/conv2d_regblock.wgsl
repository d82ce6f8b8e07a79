// conv2d, register-blocked without workgroup memory: each thread accumulates 4 output channels x 4 consecutive
// pixels (16 f32 accumulators) reading weights and input straight from storage (caches do the reuse); no
// barriers. A research variant: on CPU adapters (lavapipe) barriers and workgroup memory are costly; on GPUs
// the tiled conv2d.wgsl should win. Same math and bindings as conv2d.wgsl (see its header).
//   binding 0: Params { Cin, H, W, Cout, Ho, Wo, stride, pad_top, pad_left, K }
//   binding 1: x T; 2: w T; 3: bias T; 4: res T (RES); {{OUT_BINDING}}: out T
//   grid: (ceil(Ho*Wo / 256), ceil(Cout / 4), N), workgroups of 64 threads
// Defines: T (f32 | f16), KH, KW, RES, UPSAMPLE.

struct Params { Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32, K: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{T}}>;
//#if RES
@group(0) @binding(4) var<storage, read> res: array<{{T}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{T}}>;

fn load_x(base: u32, iy: i32, ix: i32) -> f32 {
//#if UPSAMPLE
  if (iy < 0 || ix < 0 || iy >= i32(2u * p.H) || ix >= i32(2u * p.W)) { return 0.0; }
  return f32(x[base + (u32(iy) / 2u) * p.W + u32(ix) / 2u]);
//#else
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return f32(x[base + u32(iy) * p.W + u32(ix)]);
//#endif
}

fn wrow(co: u32, k: u32) -> f32 {
  if (co < p.Cout) { return f32(w[co * p.K + k]); }
  return 0.0;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) li: u32) {
  let img = wid.z;
  let co0 = wid.y * 4u;
  let P = p.Ho * p.Wo;
  let q0 = (wid.x * 64u + li) * 4u;
  if (q0 >= P) { return; }
  var iy0: vec4i;
  var ix0: vec4i;
  var pv: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let q = q0 + j;
    pv[j] = q < P;
    iy0[j] = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
    ix0[j] = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
  }
  let HW = p.H * p.W;
  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var ci = 0u; ci < p.Cin; ci++) {
    let base = (img * p.Cin + ci) * HW;
    for (var ky = 0u; ky < {{KH}}u; ky++) {
      for (var kx = 0u; kx < {{KW}}u; kx++) {
        let k = (ci * {{KH}}u + ky) * {{KW}}u + kx;
        var b = vec4f(0.0);
        for (var j = 0u; j < 4u; j++) {
          if (pv[j]) { b[j] = load_x(base, iy0[j] + i32(ky), ix0[j] + i32(kx)); }
        }
        acc0 += wrow(co0, k) * b;
        acc1 += wrow(co0 + 1u, k) * b;
        acc2 += wrow(co0 + 2u, k) * b;
        acc3 += wrow(co0 + 3u, k) * b;
      }
    }
  }
  let accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let co = co0 + i;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var j = 0u; j < 4u; j++) {
      let q = q0 + j;
      if (q < P) {
        var v = accs[i][j] + bv;
//#if RES
        v += f32(res[obase + q]);
//#endif
        out[obase + q] = {{T}}(v);
      }
    }
  }
}
