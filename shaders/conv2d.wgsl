// conv2d, tiled implicit GEMM: out[n, co, p] = bias[co] (+ res[n, co, p]) + sum_k w[co, k] * X[n, k, p] with
// k = (ci, ky, kx) (the checkpoint's [Cout, Cin, KH, KW] weights read as [Cout, K]) and p = oy*Wo + ox, where
// X[n, k, p] = x[n, ci, oy*S - pad_top + ky, ox*S - pad_left + kx] (zero outside; UPSAMPLE: the input is seen
// through a nearest 2x upsampling, i.e. x[.., iy/2, ix/2] for iy < 2H, ix < 2W). NCHW, f32 accumulation.
// A workgroup of 16x16 threads computes a (16*TM) output-channel x (16*TN) pixel tile; each thread TM x TN
// outputs (channels ty + 16i, pixels tx + 16j: coalesced stores). The K loop stages a [BK][BM] weight tile and
// a [BK][BN] im2col tile of the input in workgroup memory (no im2col buffer).
// Contract (engine/ops/conv2d.ts), shared with conv2d_direct.wgsl:
//   binding 0: Params { Cin, H, W, Cout, Ho, Wo, stride, pad_top, pad_left, K }
//   binding 1: x [N, Cin, H, W] T; 2: w [Cout, Cin, KH, KW] T; 3: bias [Cout] T; 4: res [N, Cout, Ho, Wo] T (RES);
//   {{OUT_BINDING}}: out [N, Cout, Ho, Wo] T
//   grid: (ceil(Ho*Wo / (16*TN)), ceil(Cout / (16*TM)), N)
// Preconditions: 16*TN divides 256 (TN in 1, 2, 4, 8, 16). Defines: T (f32 | f16), KH, KW, TM, TN, RES, UPSAMPLE.

struct Params { Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, pad_top: u32, pad_left: u32, K: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read> w: array<{{T}}>;
@group(0) @binding(3) var<storage, read> bias: array<{{T}}>;
//#if RES
@group(0) @binding(4) var<storage, read> res: array<{{T}}>;
//#endif
@group(0) @binding({{OUT_BINDING}}) var<storage, read_write> out: array<{{T}}>;

const TM = {{TM}}u;
const TN = {{TN}}u;
const BM = 16u * TM;
const BN = 16u * TN;
const BK = 16u;
const KHW = {{KH}}u * {{KW}}u;
const XSTEP = 256u / BN;          // k rows covered by one pass of the im2col loads
const XLOADS = BK / XSTEP;        // im2col loads per thread per K step

var<workgroup> ws: array<f32, BK * BM>;
var<workgroup> xs: array<f32, BK * BN>;

fn load_x(base: u32, iy: i32, ix: i32) -> f32 {
//#if UPSAMPLE
  if (iy < 0 || ix < 0 || iy >= i32(2u * p.H) || ix >= i32(2u * p.W)) { return 0.0; }
  return f32(x[base + (u32(iy) / 2u) * p.W + u32(ix) / 2u]);
//#else
  if (iy < 0 || ix < 0 || iy >= i32(p.H) || ix >= i32(p.W)) { return 0.0; }
  return f32(x[base + u32(iy) * p.W + u32(ix)]);
//#endif
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * 16u + lid.x;
  let img = wid.z;
  let co0 = wid.y * BM;
  let p0 = wid.x * BN;
  let P = p.Ho * p.Wo;
  let xbase = img * p.Cin * p.H * p.W;

  // This thread's im2col load slot: one pixel column, XLOADS k rows.
  let px = tid % BN;
  let kr = tid / BN;
  let pix = p0 + px;
  let pvalid = pix < P;
  let iy0 = i32((pix / p.Wo) * p.stride) - i32(p.pad_top);
  let ix0 = i32((pix % p.Wo) * p.stride) - i32(p.pad_left);
  // Weight load slot: one k column, TM channel rows.
  let kl = tid % BK;
  let mr = tid / BK;

  var acc: array<array<f32, TN>, TM>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < XLOADS; i++) {
      let r = kr + i * XSTEP;
      let k = k0 + r;
      var v = 0.0;
      if (pvalid && k < p.K) {
        let ci = k / KHW;
        let rem = k % KHW;
        v = load_x(xbase + ci * p.H * p.W, iy0 + i32(rem / {{KW}}u), ix0 + i32(rem % {{KW}}u));
      }
      xs[r * BN + px] = v;
    }
    for (var i = 0u; i < TM; i++) {
      let m = mr + 16u * i;
      let co = co0 + m;
      let k = k0 + kl;
      var v = 0.0;
      if (co < p.Cout && k < p.K) { v = f32(w[co * p.K + k]); }
      ws[kl * BM + m] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = ws[kk * BM + lid.y + 16u * i]; }
      for (var j = 0u; j < TN; j++) { b[j] = xs[kk * BN + lid.x + 16u * j]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let co = co0 + lid.y + 16u * i;
    if (co >= p.Cout) { continue; }
    let bv = f32(bias[co]);
    let obase = (img * p.Cout + co) * P;
    for (var j = 0u; j < TN; j++) {
      let q = p0 + lid.x + 16u * j;
      if (q < P) {
        var v = acc[i][j] + bv;
//#if RES
        v += f32(res[obase + q]);
//#endif
        out[obase + q] = {{T}}(v);
      }
    }
  }
}
