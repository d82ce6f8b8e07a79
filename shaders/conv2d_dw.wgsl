// conv2d weight gradient as a split-K implicit GEMM (engine/ops/conv2d-backward.ts, variant conv2d_dw_gemm):
// dW[co, k] = sum over output pixels q = (n, oy, ox) of dy[n, co, oy, ox] * X[n, k, q], k = (ci, ky, kx) and X the
// zero-padded (optionally nearest-2x upsampled) input seen as im2col, as in conv2d.wgsl. Workgroup (kt, ct, b) owns
// a TCO channel x TK tap tile and the pixel block [b*chunk, (b+1)*chunk) of the flattened N*Ho*Wo pixels; thread
// (tx, ty) of the (TK/4) x (TCO/4) workgroup owns channels 4ty.. and taps 4tx.. (4 vec4 accumulators); each step of
// 16 pixels stages the [16][TCO] dy tile and the [16][TK] im2col tile in workgroup memory. The block's sums go to
// partials[b, co*K + k]; shaders/colsum.wgsl (FINISH) adds the blocks in order: a fixed summation order, no atomics.
// Contract:
//   binding 0: Params { N, Cin, H, W (the stored input), Cout, Ho, Wo, stride, top, left, K (Cin*KH*KW), chunk, nb }
//   binding 1: dy [N, Cout, Ho, Wo] T; binding 2: x [N, Cin, H, W] T; binding 3: partials [nb, Cout*K] f32.
//   grid: (ceil(K / TK), ceil(Cout / TCO), nb); chunk a multiple of 16.
// Defines: T (f32 | f16), KH, KW, UPSAMPLE, TCO, TK (multiples of 4, (TCO/4) * (TK/4) <= 256, dividing 16 * TCO/4 and
// 16 * TK/4 evenly as in conv2d_small.wgsl).

struct Params { N: u32, Cin: u32, H: u32, W: u32, Cout: u32, Ho: u32, Wo: u32, stride: u32, top: u32, left: u32, K: u32, chunk: u32, nb: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> dy: array<{{T}}>;
@group(0) @binding(2) var<storage, read> x: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

const BQ = 16u;
const KHW = {{KH}}u * {{KW}}u;
const TCO = {{TCO}}u;
const TK = {{TK}}u;
const WX = TK / 4u;
const WY = TCO / 4u;
const NT = WX * WY;

var<workgroup> ds: array<vec4f, BQ * WY>;  // [pixel][channel group]
var<workgroup> xs: array<vec4f, BQ * WX>;  // [pixel][tap group]

@compute @workgroup_size({{TK}} / 4, {{TCO}} / 4)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let tid = lid.y * WX + lid.x;
  let k0 = wid.x * TK;
  let co0 = wid.y * TCO;
  let P = p.Ho * p.Wo;
  let total = p.N * P;
  let q0 = wid.z * p.chunk;
  let q1 = min(q0 + p.chunk, total);
//#if UPSAMPLE
  let He = i32(2u * p.H);
  let We = i32(2u * p.W);
//#else
  let He = i32(p.H);
  let We = i32(p.W);
//#endif

  // im2col slots: tap group g = tid % WX (fixed per thread: its 4 taps' (ci, ky, kx) once), pixel rows vary.
  let g = tid % WX;
  var cib: vec4u;
  var kyv: vec4i;
  var kxv: vec4i;
  var kv: vec4<bool>;
  for (var j = 0u; j < 4u; j++) {
    let k = k0 + 4u * g + j;
    kv[j] = k < p.K;
    cib[j] = (k / KHW) * p.H * p.W;
    kyv[j] = i32((k % KHW) / {{KW}}u) - i32(p.top);
    kxv[j] = i32(k % {{KW}}u) - i32(p.left);
  }

  var acc0 = vec4f(0.0);
  var acc1 = vec4f(0.0);
  var acc2 = vec4f(0.0);
  var acc3 = vec4f(0.0);
  for (var qb = q0; qb < q1; qb += BQ) {
    for (var s = tid; s < BQ * WX; s += NT) {
      let q = qb + s / WX;
      var xv = vec4f(0.0);
      if (q < q1) {
        let n = q / P;
        let pp = q % P;
        let iyb = i32((pp / p.Wo) * p.stride);
        let ixb = i32((pp % p.Wo) * p.stride);
        let xb = n * p.Cin * p.H * p.W;
        for (var j = 0u; j < 4u; j++) {
          let iy = iyb + kyv[j];
          let ix = ixb + kxv[j];
          if (kv[j] && iy >= 0 && ix >= 0 && iy < He && ix < We) {
//#if UPSAMPLE
            xv[j] = f32(x[xb + cib[j] + (u32(iy) / 2u) * p.W + u32(ix) / 2u]);
//#else
            xv[j] = f32(x[xb + cib[j] + u32(iy) * p.W + u32(ix)]);
//#endif
          }
        }
      }
      xs[s] = xv;
    }
    for (var s = tid; s < BQ * WY; s += NT) {
      let ql = s % BQ;
      let cg = s / BQ;
      let q = qb + ql;
      var dv = vec4f(0.0);
      if (q < q1) {
        let base = (q / P) * p.Cout * P + q % P;
        for (var i = 0u; i < 4u; i++) {
          let co = co0 + 4u * cg + i;
          if (co < p.Cout) { dv[i] = f32(dy[base + co * P]); }
        }
      }
      ds[ql * WY + cg] = dv;
    }
    workgroupBarrier();
    for (var qq = 0u; qq < BQ; qq++) {
      let a = ds[qq * WY + lid.y];
      let b = xs[qq * WX + lid.x];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }

  let accs = array<vec4f, 4>(acc0, acc1, acc2, acc3);
  let nw = p.Cout * p.K;
  for (var i = 0u; i < 4u; i++) {
    let co = co0 + 4u * lid.y + i;
    if (co >= p.Cout) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let k = k0 + 4u * lid.x + j;
      if (k < p.K) { partials[wid.z * nw + co * p.K + k] = accs[i][j]; }
    }
  }
}
