// conv2d, tiled implicit GEMM: out[n, co, p] = bias[co] (+ res[n, co, p]) + sum_k w[co, k] * X[n, k, p] with
// k = (ci, ky, kx) (the checkpoint's [Cout, Cin, KH, KW] weights read as [Cout, K]) and p = oy*Wo + ox, where
// X[n, k, p] = x[n, ci, oy*S - pad_top + ky*KD, ox*S - pad_left + kx*KD] (zero outside; UPSAMPLE: the input is seen
// through a nearest 2x upsampling, i.e. x[.., iy/2, ix/2] for iy < 2H, ix < 2W). NCHW, f32 accumulation.
// A workgroup of 16x16 threads computes a 64 output-channel x 64 pixel tile; thread (tx, ty) owns channels
// 4ty..4ty+3 and pixels 4tx..4tx+3 (4 vec4 accumulators). Each K step of 16 stages the [16][64] weight tile and
// the [16][64] im2col tile of the input as vec4 rows in workgroup memory (no im2col buffer), so the inner loop
// does 2 vec4 loads per 16 FMAs.
// Contract (engine/ops/conv2d.ts), shared with conv2d_direct.wgsl:
//   binding 0: Params { Cin, H, W, Cout, Ho, Wo, stride, pad_top, pad_left, K }
//   binding 1: x [N, Cin, H, W] T; 2: w [Cout, Cin, KH, KW] T; 3: bias [Cout] T; 4: res [N, Cout, Ho, Wo] T (RES);
//   {{OUT_BINDING}}: out [N, Cout, Ho, Wo] T
//   grid: (ceil(Ho*Wo / 64), ceil(Cout / 64), N)
// Defines: T (f32 | f16), KH, KW, KD (kernel dilation, 1 = none), RES, UPSAMPLE.

//#include conv2d_io

const BK = 16u;
const KHW = {{KH}}u * {{KW}}u;

var<workgroup> ws: array<vec4f, 256>;  // [k][channel group]
var<workgroup> xs: array<vec4f, 256>;  // [k][pixel group]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let img = wid.z;
  let co0 = wid.y * 64u;
  let p0 = wid.x * 64u;
  let P = p.Ho * p.Wo;
  let xbase = img * p.Cin * p.H * p.W;
  let HW = p.H * p.W;

  // im2col load slot: k row tid / 16, pixels p0 + 4g .. +3 with g = tid % 16.
  let g = tid % 16u;
  let kr = tid / 16u;
  var iy0: vec4i;
  var ix0: vec4i;
  var pv: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let q = p0 + 4u * g + j;
    pv[j] = q < P;
    iy0[j] = i32((q / p.Wo) * p.stride) - i32(p.pad_top);
    ix0[j] = i32((q % p.Wo) * p.stride) - i32(p.pad_left);
  }
  // Weight load slot: k column tid % 16, channels co0 + 4c .. +3 with c = tid / 16.
  let kl = tid % 16u;
  let cg = tid / 16u;

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
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
    xs[kr * 16u + g] = xv;
    let kw = k0 + kl;
    var wv = vec4f(0.0);
    if (kw < p.K) {
      for (var i = 0u; i < 4u; i++) {
        let co = co0 + 4u * cg + i;
        if (co < p.Cout) { wv[i] = f32(w[co * p.K + kw]); }
      }
    }
    ws[kl * 16u + cg] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      let a = ws[kk * 16u + lid.y];
      let b = xs[kk * 16u + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let co = co0 + 4u * lid.y + i;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var j = 0u; j < 4u; j++) {
      let q = p0 + 4u * lid.x + j;
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
