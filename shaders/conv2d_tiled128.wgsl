// conv2d, tiled implicit GEMM with 128 x 128 tiles: same math, bindings and defines as conv2d.wgsl (see its
// header); a 16x16 workgroup computes 128 output channels x 128 pixels, each thread 8 channels (4ty.., 64+4ty..)
// x 8 pixels (4tx.., 64+4tx..) in 16 vec4 accumulators; K steps of 8 stage [8][128] weight and im2col tiles as
// vec4 rows in workgroup memory: 4 vec4 shared loads per 64 FMAs (twice the 64x64 kernel's reuse).
//   grid: (ceil(Ho*Wo / 128), ceil(Cout / 128), N)
// Defines: T (f32 | f16), KH, KW, KD (kernel dilation, 1 = none), RES, UPSAMPLE, OUT_BINDING.

//#include conv2d_io

const BK = 8u;
const KHW = {{KH}}u * {{KW}}u;

var<workgroup> ws: array<vec4f, 256>;  // [k][channel group of 4] (8 x 32)
var<workgroup> xs: array<vec4f, 256>;  // [k][pixel group of 4] (8 x 32)

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let img = wid.z;
  let co0 = wid.y * 128u;
  let p0 = wid.x * 128u;
  let P = p.Ho * p.Wo;
  let xbase = img * p.Cin * p.H * p.W;
  let HW = p.H * p.W;

  // im2col load slot: k row tid / 32, pixels p0 + 4g .. +3 with g = tid % 32.
  let g = tid % 32u;
  let kr = tid / 32u;
  var iy0: vec4i;
  var ix0: vec4i;
  var pv: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let q = p0 + 4u * g + j;
    pv[j] = q < P;
    iy0[j] = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
    ix0[j] = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
  }
  // Weight load slot: k column tid % 8, channels co0 + 4c .. +3 with c = tid / 8.
  let kl = tid % 8u;
  let cg = tid / 8u;

  var acc0_0 = vec4f(0.0);
  var acc0_1 = vec4f(0.0);
  var acc1_0 = vec4f(0.0);
  var acc1_1 = vec4f(0.0);
  var acc2_0 = vec4f(0.0);
  var acc2_1 = vec4f(0.0);
  var acc3_0 = vec4f(0.0);
  var acc3_1 = vec4f(0.0);
  var acc4_0 = vec4f(0.0);
  var acc4_1 = vec4f(0.0);
  var acc5_0 = vec4f(0.0);
  var acc5_1 = vec4f(0.0);
  var acc6_0 = vec4f(0.0);
  var acc6_1 = vec4f(0.0);
  var acc7_0 = vec4f(0.0);
  var acc7_1 = vec4f(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    let k = k0 + kr;
    var xv = vec4f(0.0);
    if (k < p.K) {
      let ci = k / KHW;
      let rem = k % KHW;
      let base = xbase + ci * HW;
      let dy = i32(rem / {{KW}}u) * {{KD}};
      let dx = i32(rem % {{KW}}u) * {{KD}};
      for (var j = 0u; j < 4u; j++) {
        if (pv[j]) { xv[j] = load_x(base, iy0[j] + dy, ix0[j] + dx); }
      }
    }
    xs[kr * 32u + g] = xv;
    let kw = k0 + kl;
    var wv = vec4f(0.0);
    if (kw < p.K) {
      for (var i = 0u; i < 4u; i++) {
        let co = co0 + 4u * cg + i;
        if (co < p.Cout) { wv[i] = f32(w[co * p.K + kw]); }
      }
    }
    ws[kl * 32u + cg] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = ws[kk * 32u + lid.y];
      let a1 = ws[kk * 32u + lid.y + 16u];
      let b0 = xs[kk * 32u + lid.x];
      let b1 = xs[kk * 32u + lid.x + 16u];
      acc0_0 += a0.x * b0;
      acc0_1 += a0.x * b1;
      acc1_0 += a0.y * b0;
      acc1_1 += a0.y * b1;
      acc2_0 += a0.z * b0;
      acc2_1 += a0.z * b1;
      acc3_0 += a0.w * b0;
      acc3_1 += a0.w * b1;
      acc4_0 += a1.x * b0;
      acc4_1 += a1.x * b1;
      acc5_0 += a1.y * b0;
      acc5_1 += a1.y * b1;
      acc6_0 += a1.z * b0;
      acc6_1 += a1.z * b1;
      acc7_0 += a1.w * b0;
      acc7_1 += a1.w * b1;
    }
    workgroupBarrier();
  }

  let accs = array<vec4f, 16>(acc0_0, acc0_1, acc1_0, acc1_1, acc2_0, acc2_1, acc3_0, acc3_1, acc4_0, acc4_1, acc5_0, acc5_1, acc6_0, acc6_1, acc7_0, acc7_1);
  for (var i = 0u; i < 8u; i++) {
    let co = co0 + 4u * lid.y + (i / 4u) * 64u + i % 4u;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var jb = 0u; jb < 2u; jb++) {
      let acc = accs[i * 2u + jb];
      for (var j = 0u; j < 4u; j++) {
        let q = p0 + 4u * lid.x + 64u * jb + j;
        if (q < P) {
          var v = acc[j] + bv;
//#if RES
          v += f32(res[obase + q]);
//#endif
          out[obase + q] = {{T}}(v);
        }
      }
    }
  }
}
